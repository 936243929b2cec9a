/**
 * Tokens and the token auth method (auth/token/...): create, lookup, renew with TTL caps,
 * revoke (children go with their parent), expiry. Tokens belong to the namespace they were
 * created in, as in Vault Enterprise.
 */
import type { Backend, Handler, Namespace, RequestContext } from "./model.ts";
import {
  badRequest,
  boolParam,
  durationParam,
  isObject,
  listParam,
  noContent,
  randomBase62,
  rfc3339,
  stringParam,
  SYSTEM_MAX_TTL,
  unsupportedPath,
  type Json,
  type Operation,
  type Result,
} from "./wire.ts";

export interface Token {
  id: string;
  accessor: string;
  ns: Namespace;
  policies: string[];
  displayName: string;
  meta: Record<string, string> | null;
  /** Where it was created: "auth/token/create", "auth/approle/login", "auth/token/root". */
  path: string;
  issueTime: number;
  /** TTL at creation, seconds; 0 never expires. */
  creationTtl: number;
  /** Epoch ms; 0 never expires. */
  expireAt: number;
  /** Cap on the token's whole life, seconds from issue; 0 means the system maximum. */
  maxTtl: number;
  explicitMaxTtl: number;
  renewable: boolean;
  parent?: Token;
  children: Set<Token>;
}

export interface TokenInit {
  ns: Namespace;
  policies: string[];
  ttl: number;
  maxTtl?: number;
  explicitMaxTtl?: number;
  renewable?: boolean;
  displayName: string;
  meta?: Record<string, string> | null;
  path: string;
  parent?: Token;
  id?: string;
}

/** Token policies as Vault stores them: "default" added unless opted out or root, sorted, unique. */
export function tokenPolicies(policies: string[], noDefault = false): string[] {
  const set = new Set(policies);
  if (!noDefault && !set.has("root")) set.add("default");
  return [...set].sort();
}

export class TokenStore {
  private byId = new Map<string, Token>();
  private byAccessor = new Map<string, Token>();

  constructor(private readonly showNamespace: boolean) {}

  create(init: TokenInit): Token {
    const suffix = init.ns.path === "" ? "" : `.${init.ns.id}`;
    const now = Date.now();
    const maxTtl = init.explicitMaxTtl || init.maxTtl || 0;
    const cap = maxTtl || SYSTEM_MAX_TTL;
    const ttl = init.ttl === 0 ? 0 : Math.min(init.ttl, cap);
    const token: Token = {
      id: init.id ?? `hvs.${randomBase62(24)}${suffix}`,
      accessor: `${randomBase62(24)}${suffix}`,
      ns: init.ns,
      policies: init.policies,
      displayName: init.displayName,
      meta: init.meta ?? null,
      path: init.path,
      issueTime: now,
      creationTtl: ttl,
      expireAt: ttl === 0 ? 0 : now + ttl * 1000,
      maxTtl,
      explicitMaxTtl: init.explicitMaxTtl ?? 0,
      renewable: init.renewable ?? ttl !== 0,
      parent: init.parent,
      children: new Set(),
    };
    if (this.byId.has(token.id)) throw badRequest("cannot create a token with a duplicate ID");
    init.parent?.children.add(token);
    this.byId.set(token.id, token);
    this.byAccessor.set(token.accessor, token);
    return token;
  }

  /** The live token with this id; expired tokens are revoked on sight. */
  get(id: string): Token | undefined {
    const t = this.byId.get(id);
    if (t && t.expireAt !== 0 && t.expireAt <= Date.now()) {
      this.revoke(t);
      return undefined;
    }
    return t;
  }

  byAccessorId(accessor: string): Token | undefined {
    const t = this.byAccessor.get(accessor);
    return t && this.get(t.id);
  }

  revoke(t: Token): void {
    for (const child of t.children) this.revoke(child);
    t.parent?.children.delete(t);
    this.byId.delete(t.id);
    this.byAccessor.delete(t.accessor);
  }

  /** Extends the TTL by `increment` seconds from now (default: the creation TTL), within the max TTL. */
  renew(t: Token, increment: number): void {
    if (!t.renewable || t.expireAt === 0) throw badRequest("lease is not renewable");
    const now = Date.now();
    const limit = t.issueTime + (t.maxTtl || SYSTEM_MAX_TTL) * 1000;
    t.expireAt = Math.min(now + (increment > 0 ? increment : t.creationTtl) * 1000, limit);
  }

  remainingTtl(t: Token): number {
    return t.expireAt === 0 ? 0 : Math.max(0, Math.round((t.expireAt - Date.now()) / 1000));
  }

  /** The `data` of auth/token/lookup*, keys in Vault's (sorted) order. */
  describe(t: Token): Json {
    return {
      accessor: t.accessor,
      creation_time: Math.floor(t.issueTime / 1000),
      creation_ttl: t.creationTtl,
      display_name: t.displayName,
      entity_id: "",
      expire_time: t.expireAt === 0 ? null : rfc3339(t.expireAt),
      explicit_max_ttl: t.explicitMaxTtl,
      id: t.id,
      issue_time: rfc3339(t.issueTime),
      meta: t.meta,
      ...(this.showNamespace ? { namespace_path: t.ns.path } : {}),
      num_uses: 0,
      orphan: t.parent === undefined,
      path: t.path,
      policies: t.policies,
      renewable: t.renewable,
      ttl: this.remainingTtl(t),
      type: "service",
    };
  }

  /** The `auth` block of a login, create or renew response. */
  authBlock(t: Token): Json {
    return {
      client_token: t.id,
      accessor: t.accessor,
      policies: t.policies,
      token_policies: t.policies,
      metadata: t.meta,
      lease_duration: this.remainingTtl(t),
      renewable: t.renewable,
      entity_id: "",
      token_type: "service",
      orphan: t.parent === undefined,
      mfa_requirement: null,
      num_uses: 0,
    };
  }
}

/** auth/token/...: the token auth method every namespace has. */
export class TokenBackend implements Backend {
  constructor(private readonly store: TokenStore) {}

  route(op: Operation, subPath: string): Handler {
    const write = op === "create" || op === "update";
    const caller = (ctx: RequestContext): Token => ctx.token!;
    const target = (ctx: RequestContext): Token => {
      const id = stringParam(ctx.data, "token");
      if (id === "") throw badRequest("missing token");
      const t = this.store.get(id);
      if (!t) throw badRequest("bad token");
      return t;
    };
    const routes: Record<string, Handler | undefined> = {
      create: write ? { name: "token.create", run: (ctx) => this.create(ctx, false) } : undefined,
      "create-orphan": write ? { name: "token.create", run: (ctx) => this.create(ctx, true) } : undefined,
      "lookup-self":
        op === "read" || write
          ? { name: "token.lookup-self", run: (ctx) => this.lookup(caller(ctx)) }
          : undefined,
      lookup:
        op === "read" || write ? { name: "token.lookup", run: (ctx) => this.lookup(target(ctx)) } : undefined,
      "lookup-accessor": write ? { name: "token.lookup", run: (ctx) => this.lookupAccessor(ctx) } : undefined,
      "renew-self": write
        ? { name: "token.renew-self", run: (ctx) => this.renew(ctx, caller(ctx)) }
        : undefined,
      renew: write ? { name: "token.renew", run: (ctx) => this.renew(ctx, target(ctx)) } : undefined,
      "revoke-self": write
        ? { name: "token.revoke-self", run: (ctx) => this.revoke(caller(ctx)) }
        : undefined,
      revoke: write ? { name: "token.revoke", run: (ctx) => this.revoke(target(ctx)) } : undefined,
    };
    const handler = routes[subPath];
    if (!handler) throw unsupportedPath();
    return handler;
  }

  private create(ctx: RequestContext, orphan: boolean): Result {
    const d = ctx.data;
    const parent = ctx.token!;
    if (stringParam(d, "type", "service") !== "service")
      throw badRequest("only service tokens are supported");
    const given = listParam(d, "policies");
    const policies =
      given.length > 0
        ? tokenPolicies(given, boolParam(d, "no_default_policy"))
        : parent.policies.includes("root")
          ? ["root"]
          : parent.policies;
    const explicitMaxTtl = durationParam(d, "explicit_max_ttl");
    const name = stringParam(d, "display_name");
    const meta = isObject(d.meta)
      ? Object.fromEntries(Object.entries(d.meta).map(([k, v]) => [k, String(v)]))
      : null;
    // Without a TTL a root-policy token lives forever (or up to its explicit max); any other
    // gets the mount default.
    const fallback = policies.includes("root") ? explicitMaxTtl : SYSTEM_MAX_TTL;
    const ttl = durationParam(d, "ttl") || fallback;
    const token = this.store.create({
      ns: ctx.ns,
      policies,
      ttl,
      explicitMaxTtl,
      renewable: boolParam(d, "renewable", true) && ttl !== 0,
      displayName: name ? `token-${name}` : "token",
      meta,
      path: "auth/token/create",
      parent: orphan || boolParam(d, "no_parent") ? undefined : parent,
      id: stringParam(d, "id") || undefined,
    });
    return { auth: this.store.authBlock(token) };
  }

  private lookup(t: Token): Result {
    return { data: this.store.describe(t) };
  }

  private lookupAccessor(ctx: RequestContext): Result {
    const t = this.store.byAccessorId(stringParam(ctx.data, "accessor"));
    if (!t) throw badRequest("invalid accessor");
    const data = this.store.describe(t);
    data.id = "";
    return { data };
  }

  private renew(ctx: RequestContext, t: Token): Result {
    this.store.renew(t, durationParam(ctx.data, "increment"));
    return { auth: this.store.authBlock(t) };
  }

  private revoke(t: Token): Result {
    this.store.revoke(t);
    return noContent();
  }
}

/** A token that may not be used in `ns`: it belongs to neither `ns` nor one of its ancestors. */
export function outOfNamespace(t: Token, ns: Namespace): boolean {
  for (let n: Namespace | undefined = ns; n; n = n.parent) if (n === t.ns) return false;
  return true;
}
