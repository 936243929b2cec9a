/**
 * Auth methods that log machines in: AppRole, Kubernetes and JWT. Each mounts anywhere under
 * auth/ and issues orphan service tokens in the namespace it is mounted in.
 *
 * Kubernetes and JWT logins decode the JWT's claims and check them against the role (bound
 * service accounts and namespaces; audiences, subject, claims, issuer, expiry) but do NOT verify
 * signatures, and the Kubernetes method does not call a TokenReview API: any well-formed JWT
 * with the right claims logs in. This is a local test server, not a security boundary.
 */
import type { Backend, Handler, RequestContext } from "./model.ts";
import { tokenPolicies, type TokenStore } from "./tokens.ts";
import {
  badRequest,
  boolParam,
  durationParam,
  glob,
  intParam,
  isObject,
  jwtClaims,
  listParam,
  newUuid,
  noContent,
  notFound,
  stringParam,
  SYSTEM_MAX_TTL,
  unsupportedOperation,
  unsupportedPath,
  VaultApiError,
  type Json,
  type Operation,
  type Result,
} from "./wire.ts";

/** The token_* parameters every role has. */
export interface TokenParams {
  ttl: number;
  maxTtl: number;
  policies: string[];
  noDefaultPolicy: boolean;
}

export function tokenParams(d: Json, prev?: TokenParams): TokenParams {
  const has = (f: string) => d[f] !== undefined;
  return {
    ttl: has("token_ttl")
      ? durationParam(d, "token_ttl")
      : has("ttl")
        ? durationParam(d, "ttl")
        : (prev?.ttl ?? 0),
    maxTtl: has("token_max_ttl")
      ? durationParam(d, "token_max_ttl")
      : has("max_ttl")
        ? durationParam(d, "max_ttl")
        : (prev?.maxTtl ?? 0),
    policies: has("token_policies")
      ? listParam(d, "token_policies")
      : has("policies")
        ? listParam(d, "policies")
        : (prev?.policies ?? []),
    noDefaultPolicy: has("token_no_default_policy")
      ? boolParam(d, "token_no_default_policy")
      : (prev?.noDefaultPolicy ?? false),
  };
}

export function showTokenParams(p: TokenParams): Json {
  return {
    token_bound_cidrs: [],
    token_explicit_max_ttl: 0,
    token_max_ttl: p.maxTtl,
    token_no_default_policy: p.noDefaultPolicy,
    token_num_uses: 0,
    token_period: 0,
    token_policies: p.policies,
    token_ttl: p.ttl,
    token_type: "default",
  };
}

/** A claim or parameter that may be one string or a list of them. */
const stringList = (v: unknown): string[] =>
  Array.isArray(v) ? v.map(String) : typeof v === "string" ? [v] : [];

/** Role CRUD (role/<name>, LIST role) shared by the three methods, plus the login that issues tokens. */
export abstract class RoleBackend<R extends { token: TokenParams }> implements Backend {
  protected roles = new Map<string, R>();
  protected abstract readonly kind: string;

  constructor(
    protected readonly tokens: TokenStore,
    /** Mount path without "auth/", e.g. "approle/". */
    protected readonly mountPath: string,
  ) {}

  protected abstract parseRole(d: Json, prev: R | undefined): R;
  protected abstract showRole(r: R): Json;
  /** Routes other than role CRUD (login, config, role sub-paths). */
  protected abstract extraRoute(op: Operation, subPath: string): Handler | undefined;

  route(op: Operation, subPath: string): Handler {
    const extra = this.extraRoute(op, subPath);
    if (extra) return extra;
    const name = `${this.kind}.role`;
    if ((subPath === "role" || subPath === "role/") && op === "list") {
      return { name, run: () => this.listRoles() };
    }
    const m = /^role\/([^/]+)$/.exec(subPath);
    if (!m) throw unsupportedPath();
    const role = m[1]!;
    if (op === "read") return { name, run: () => ({ data: this.showRole(this.roleOr404(role)) }) };
    if (op === "create" || op === "update") {
      return {
        name,
        exists: () => this.roles.has(role),
        run: (ctx) => {
          this.roles.set(role, this.parseRole(ctx.data, this.roles.get(role)));
          return noContent();
        },
      };
    }
    if (op === "delete") return { name, run: () => (this.roles.delete(role), noContent()) };
    throw unsupportedOperation();
  }

  private listRoles(): Result {
    if (this.roles.size === 0) throw notFound();
    return { data: { keys: [...this.roles.keys()].sort() } };
  }

  protected roleOr404(name: string): R {
    const r = this.roles.get(name);
    if (!r) throw notFound();
    return r;
  }

  /** Issues the login token; display names follow Vault: "<mount>-<name>". */
  protected issue(ctx: RequestContext, role: R, displayName: string, meta: Record<string, string>): Result {
    const prefix = this.mountPath.replace(/\/$/, "").replaceAll("/", "-");
    const token = this.tokens.create({
      ns: ctx.ns,
      policies: tokenPolicies(role.token.policies, role.token.noDefaultPolicy),
      ttl: role.token.ttl || SYSTEM_MAX_TTL,
      maxTtl: role.token.maxTtl,
      renewable: true,
      displayName: displayName ? `${prefix}-${displayName}` : prefix,
      meta,
      path: `auth/${this.mountPath}login`,
    });
    return { auth: this.tokens.authBlock(token) };
  }
}

interface SecretId {
  accessor: string;
  /** Epoch ms; 0 never expires. */
  expiresAt: number;
  /** 0 is unlimited. */
  usesLeft: number;
  ttl: number;
}

interface AppRole {
  token: TokenParams;
  roleId: string;
  bindSecretId: boolean;
  secretIdTtl: number;
  secretIdNumUses: number;
  secretIds: Map<string, SecretId>;
}

export class AppRoleBackend extends RoleBackend<AppRole> {
  protected readonly kind = "approle";

  protected parseRole(d: Json, prev: AppRole | undefined): AppRole {
    return {
      token: tokenParams(d, prev?.token),
      roleId: prev?.roleId ?? newUuid(),
      bindSecretId: boolParam(d, "bind_secret_id", prev?.bindSecretId ?? true),
      secretIdTtl:
        d.secret_id_ttl !== undefined ? durationParam(d, "secret_id_ttl") : (prev?.secretIdTtl ?? 0),
      secretIdNumUses: intParam(d, "secret_id_num_uses", prev?.secretIdNumUses ?? 0),
      secretIds: prev?.secretIds ?? new Map(),
    };
  }

  protected showRole(r: AppRole): Json {
    return {
      bind_secret_id: r.bindSecretId,
      local_secret_ids: false,
      policies: r.token.policies,
      secret_id_bound_cidrs: null,
      secret_id_num_uses: r.secretIdNumUses,
      secret_id_ttl: r.secretIdTtl,
      ...showTokenParams(r.token),
    };
  }

  protected extraRoute(op: Operation, subPath: string): Handler | undefined {
    const write = op === "create" || op === "update";
    if (subPath === "login") {
      if (!write) throw unsupportedOperation();
      return { name: "approle.login", unauthenticated: true, run: (ctx) => this.login(ctx) };
    }
    const m = /^role\/([^/]+)\/(role-id|secret-id|custom-secret-id)\/?$/.exec(subPath);
    if (!m) return undefined;
    const [, name, what] = m as unknown as [string, string, string];
    if (what === "role-id" && op === "read") {
      return { name: "approle.role-id", run: () => ({ data: { role_id: this.roleOr404(name).roleId } }) };
    }
    if (what === "role-id" && write) {
      return { name: "approle.role-id", run: (ctx) => this.setRoleId(name, ctx) };
    }
    if (what === "secret-id" && op === "list") {
      return { name: "approle.secret-id", run: () => this.listSecretIds(name) };
    }
    if (what !== "role-id" && write) {
      return {
        name: "approle.secret-id",
        run: (ctx) => this.newSecretId(name, ctx, what === "custom-secret-id"),
      };
    }
    throw unsupportedOperation();
  }

  private existing(name: string): AppRole {
    const r = this.roles.get(name);
    if (!r) throw badRequest(`role "${name}" does not exist`);
    return r;
  }

  private setRoleId(name: string, ctx: RequestContext): Result {
    const r = this.existing(name);
    const roleId = stringParam(ctx.data, "role_id");
    if (roleId === "") throw badRequest("missing role_id");
    r.roleId = roleId;
    return noContent();
  }

  private listSecretIds(name: string): Result {
    const r = this.existing(name);
    if (r.secretIds.size === 0) throw notFound();
    return { data: { keys: [...r.secretIds.values()].map((s) => s.accessor).sort() } };
  }

  private newSecretId(name: string, ctx: RequestContext, custom: boolean): Result {
    const r = this.existing(name);
    const id = custom ? stringParam(ctx.data, "secret_id") : newUuid();
    if (id === "") throw badRequest("missing secret_id");
    const ttl = ctx.data.ttl !== undefined ? durationParam(ctx.data, "ttl") : r.secretIdTtl;
    const uses = intParam(ctx.data, "num_uses", r.secretIdNumUses);
    const entry: SecretId = {
      accessor: newUuid(),
      expiresAt: ttl > 0 ? Date.now() + ttl * 1000 : 0,
      usesLeft: uses,
      ttl,
    };
    r.secretIds.set(id, entry);
    return {
      data: {
        secret_id: id,
        secret_id_accessor: entry.accessor,
        secret_id_num_uses: uses,
        secret_id_ttl: ttl,
      },
    };
  }

  private login(ctx: RequestContext): Result {
    const roleId = stringParam(ctx.data, "role_id");
    if (roleId === "") throw badRequest("missing role_id");
    const found = [...this.roles.entries()].find(([, r]) => r.roleId === roleId);
    if (!found) throw badRequest("invalid role or secret ID");
    const [name, role] = found;
    if (role.bindSecretId) {
      const secretId = stringParam(ctx.data, "secret_id");
      if (secretId === "") throw badRequest("missing secret_id");
      const entry = role.secretIds.get(secretId);
      if (!entry || (entry.expiresAt !== 0 && entry.expiresAt <= Date.now())) {
        if (entry) role.secretIds.delete(secretId);
        throw badRequest("invalid role or secret ID");
      }
      if (entry.usesLeft > 0 && --entry.usesLeft === 0) role.secretIds.delete(secretId);
    }
    return this.issue(ctx, role, "", { role_name: name });
  }
}

interface KubernetesRole {
  token: TokenParams;
  names: string[];
  namespaces: string[];
  audience: string;
}

export class KubernetesBackend extends RoleBackend<KubernetesRole> {
  protected readonly kind = "kubernetes";
  private config: { host: string; caCert: string; issuer: string } | undefined;

  protected parseRole(d: Json, prev: KubernetesRole | undefined): KubernetesRole {
    const role: KubernetesRole = {
      token: tokenParams(d, prev?.token),
      names:
        d.bound_service_account_names !== undefined
          ? listParam(d, "bound_service_account_names")
          : (prev?.names ?? []),
      namespaces:
        d.bound_service_account_namespaces !== undefined
          ? listParam(d, "bound_service_account_namespaces")
          : (prev?.namespaces ?? []),
      audience: stringParam(d, "audience", prev?.audience ?? ""),
    };
    if (role.names.length === 0) throw badRequest('"bound_service_account_names" can not be empty');
    if (role.namespaces.length === 0) throw badRequest('"bound_service_account_namespaces" can not be empty');
    return role;
  }

  protected showRole(r: KubernetesRole): Json {
    return {
      alias_name_source: "serviceaccount_uid",
      audience: r.audience,
      bound_service_account_names: r.names,
      bound_service_account_namespaces: r.namespaces,
      ...showTokenParams(r.token),
    };
  }

  protected extraRoute(op: Operation, subPath: string): Handler | undefined {
    if (subPath === "login") {
      if (op !== "create" && op !== "update") throw unsupportedOperation();
      return { name: "kubernetes.login", unauthenticated: true, run: (ctx) => this.login(ctx) };
    }
    if (subPath !== "config") return undefined;
    if (op === "read") return { name: "kubernetes.config", run: () => this.readConfig() };
    if (op === "create" || op === "update") {
      return {
        name: "kubernetes.config",
        run: (ctx) => {
          const d = ctx.data;
          const host = stringParam(d, "kubernetes_host");
          if (host === "") throw badRequest("no host provided");
          this.config = {
            host,
            caCert: stringParam(d, "kubernetes_ca_cert"),
            issuer: stringParam(d, "issuer"),
          };
          return noContent();
        },
      };
    }
    throw unsupportedOperation();
  }

  private readConfig(): Result {
    if (!this.config) throw notFound();
    return {
      data: {
        disable_iss_validation: true,
        disable_local_ca_jwt: false,
        issuer: this.config.issuer,
        kubernetes_ca_cert: this.config.caCert,
        kubernetes_host: this.config.host,
        pem_keys: [],
      },
    };
  }

  private login(ctx: RequestContext): Result {
    const roleName = stringParam(ctx.data, "role");
    const jwt = stringParam(ctx.data, "jwt");
    if (roleName === "") throw badRequest("missing role");
    if (jwt === "") throw badRequest("missing jwt");
    if (!this.config) throw badRequest("could not load backend configuration");
    const role = this.roles.get(roleName);
    if (!role) throw badRequest(`invalid role name "${roleName}"`);
    const claims = jwtClaims(jwt);
    checkExpiry(claims);
    // Projected tokens carry a "kubernetes.io" claim; legacy secret tokens carry flat claims.
    const k8s = isObject(claims["kubernetes.io"]) ? claims["kubernetes.io"] : undefined;
    const sa = k8s && isObject(k8s.serviceaccount) ? k8s.serviceaccount : undefined;
    const namespace = String(k8s?.namespace ?? claims["kubernetes.io/serviceaccount/namespace"] ?? "");
    const name = String(sa?.name ?? claims["kubernetes.io/serviceaccount/service-account.name"] ?? "");
    const uid = String(sa?.uid ?? claims["kubernetes.io/serviceaccount/service-account.uid"] ?? "");
    if (name === "" || namespace === "")
      throw badRequest("service account name or namespace missing from the JWT");
    if (role.audience !== "" && !stringList(claims.aud).includes(role.audience)) {
      throw badRequest("invalid audience (aud) claim: audience claim does not match any expected audience");
    }
    if (!role.names.some((p) => glob(p, name))) {
      throw new VaultApiError(403, ["service account name not authorized"]);
    }
    if (!role.namespaces.some((p) => glob(p, namespace))) {
      throw new VaultApiError(403, ["namespace not authorized"]);
    }
    return this.issue(ctx, role, `${namespace}-${name}`, {
      role: roleName,
      service_account_name: name,
      service_account_namespace: namespace,
      service_account_secret_name: "",
      service_account_uid: uid,
    });
  }
}

/** exp and nbf, with Vault's default 60 s of clock skew leeway. */
function checkExpiry(claims: Json): void {
  const now = Date.now() / 1000;
  if (typeof claims.exp === "number" && claims.exp + 60 < now) {
    throw badRequest("error validating claims: validation failed, token is expired (exp)");
  }
  if (typeof claims.nbf === "number" && claims.nbf - 60 > now) {
    throw badRequest("error validating claims: validation failed, token not valid yet (nbf)");
  }
}

interface JwtRole {
  token: TokenParams;
  roleType: string;
  userClaim: string;
  boundAudiences: string[];
  boundSubject: string;
  boundClaims: Record<string, string[]>;
  boundClaimsType: "string" | "glob";
  claimMappings: Record<string, string>;
}

/** A claim by name, or by JSON pointer ("/a/b") for nested claims. */
function claim(claims: Json, name: string): unknown {
  if (!name.startsWith("/")) return claims[name];
  let at: unknown = claims;
  for (const part of name.slice(1).split("/")) at = isObject(at) ? at[part] : undefined;
  return at;
}

export class JwtBackend extends RoleBackend<JwtRole> {
  protected readonly kind = "jwt";
  private config = { boundIssuer: "", defaultRole: "" };

  protected parseRole(d: Json, prev: JwtRole | undefined): JwtRole {
    const map = (field: string, fallback: Record<string, string> = {}): Record<string, string> =>
      isObject(d[field])
        ? Object.fromEntries(Object.entries(d[field]).map(([k, v]) => [k, String(v)]))
        : fallback;
    const role: JwtRole = {
      token: tokenParams(d, prev?.token),
      roleType: stringParam(d, "role_type", prev?.roleType ?? "oidc"),
      userClaim: stringParam(d, "user_claim", prev?.userClaim ?? ""),
      boundAudiences:
        d.bound_audiences !== undefined ? listParam(d, "bound_audiences") : (prev?.boundAudiences ?? []),
      boundSubject: stringParam(d, "bound_subject", prev?.boundSubject ?? ""),
      boundClaims: isObject(d.bound_claims)
        ? Object.fromEntries(Object.entries(d.bound_claims).map(([k, v]) => [k, stringList(v)]))
        : (prev?.boundClaims ?? {}),
      boundClaimsType:
        stringParam(d, "bound_claims_type", prev?.boundClaimsType ?? "string") === "glob" ? "glob" : "string",
      claimMappings: map("claim_mappings", prev?.claimMappings),
    };
    if (role.userClaim === "") throw badRequest("a user claim must be defined on the role");
    if (role.roleType !== "jwt" && role.roleType !== "oidc")
      throw badRequest(`invalid 'role_type': ${role.roleType}`);
    return role;
  }

  protected showRole(r: JwtRole): Json {
    return {
      bound_audiences: r.boundAudiences,
      bound_claims: r.boundClaims,
      bound_claims_type: r.boundClaimsType,
      bound_subject: r.boundSubject,
      claim_mappings: r.claimMappings,
      role_type: r.roleType,
      user_claim: r.userClaim,
      ...showTokenParams(r.token),
    };
  }

  protected extraRoute(op: Operation, subPath: string): Handler | undefined {
    if (subPath === "login") {
      if (op !== "create" && op !== "update") throw unsupportedOperation();
      return { name: "jwt.login", unauthenticated: true, run: (ctx) => this.login(ctx) };
    }
    if (subPath !== "config") return undefined;
    if (op === "read") {
      return {
        name: "jwt.config",
        run: () => ({
          data: { bound_issuer: this.config.boundIssuer, default_role: this.config.defaultRole },
        }),
      };
    }
    if (op === "create" || op === "update") {
      return {
        name: "jwt.config",
        run: (ctx) => {
          this.config = {
            boundIssuer: stringParam(ctx.data, "bound_issuer"),
            defaultRole: stringParam(ctx.data, "default_role"),
          };
          return noContent();
        },
      };
    }
    throw unsupportedOperation();
  }

  private login(ctx: RequestContext): Result {
    const roleName = stringParam(ctx.data, "role") || this.config.defaultRole;
    if (roleName === "") throw badRequest("missing role");
    const jwt = stringParam(ctx.data, "jwt");
    if (jwt === "") throw badRequest("missing token");
    const role = this.roles.get(roleName);
    if (!role) throw badRequest(`role "${roleName}" could not be found`);
    if (role.roleType !== "jwt") throw badRequest("role with oidc role_type is not allowed");
    const claims = jwtClaims(jwt);
    checkExpiry(claims);
    if (this.config.boundIssuer !== "" && claims.iss !== this.config.boundIssuer) {
      throw badRequest("error validating claims: validation failed, invalid issuer claim (iss)");
    }
    const aud = stringList(claims.aud);
    if (role.boundAudiences.length === 0 && aud.length > 0) {
      throw badRequest("audience claim found in JWT but no audiences bound to the role");
    }
    if (role.boundAudiences.length > 0 && !role.boundAudiences.some((a) => aud.includes(a))) {
      throw badRequest("error validating claims: validation failed, invalid audience claim (aud)");
    }
    if (role.boundSubject !== "" && claims.sub !== role.boundSubject) {
      throw badRequest("sub claim does not match bound subject");
    }
    for (const [name, allowed] of Object.entries(role.boundClaims)) {
      const value = claim(claims, name);
      if (value === undefined) throw badRequest(`claim "${name}" is missing`);
      const values = stringList(value);
      const match = (a: string) =>
        values.some((v) => (role.boundClaimsType === "glob" ? glob(a, v) : a === v));
      if (!allowed.some(match))
        throw badRequest(`claim "${name}" does not match any associated bound claim values`);
    }
    const user = claim(claims, role.userClaim);
    if (user === undefined) throw badRequest(`claim "${role.userClaim}" not found in token`);
    if (typeof user !== "string")
      throw badRequest(`claim "${role.userClaim}" could not be converted to string`);
    const meta: Record<string, string> = { role: roleName };
    for (const [from, to] of Object.entries(role.claimMappings)) {
      const v = claim(claims, from);
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") meta[to] = String(v);
    }
    return this.issue(ctx, role, user, meta);
  }
}
