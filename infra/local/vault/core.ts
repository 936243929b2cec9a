/**
 * The request pipeline every request takes, whether it came over HTTP or from a seeding helper:
 * namespace → mount → handler → seal check → token → audit request entry → handler (which
 * may emit events) → audit response entry → Vault's response envelope.
 *
 * Policies are out of scope: every valid token may do everything, except that a policy defined
 * with `definePolicy(name, paths)` restricts the tokens carrying it to those path globs, so
 * tests can produce Vault's 403 "permission denied".
 */
import { AuditBroker, type AuditRecord } from "./audit.ts";
import { AppRoleBackend, JwtBackend, KubernetesBackend } from "./auth.ts";
import { AwsAuthBackend } from "./auth-aws.ts";
import { AzureAuthBackend } from "./auth-azure.ts";
import { GcpAuthBackend } from "./auth-gcp.ts";
import { EventBus } from "./events.ts";
import { KvV1, KvV2 } from "./kv.ts";
import type { Backend, Handler, Mount, Namespace, RequestContext } from "./model.ts";
import { SysBackend } from "./sys.ts";
import { outOfNamespace, TokenBackend, TokenStore, type Token } from "./tokens.ts";
import {
  badRequest,
  glob,
  multiError,
  newAccessor,
  newUuid,
  permissionDenied,
  randomBase62,
  VAULT_VERSION,
  VaultApiError,
  type Json,
  type Operation,
  type Result,
} from "./wire.ts";

const BUILTIN = `v${VAULT_VERSION}+builtin.vault`;
/** Versions reported for the plugins Vault ships from their own repositories. */
const PLUGIN_VERSIONS: Record<string, string> = {
  kv: "v0.21.0+builtin",
  kubernetes: "v0.21.0+builtin",
  jwt: "v0.23.0+builtin",
  oidc: "v0.23.0+builtin",
};

export interface VaultRequest {
  operation: Operation;
  /** Path after /v1/, possibly starting with namespace segments. */
  path: string;
  data: Json;
  token?: string;
  /** X-Vault-Namespace. */
  namespace?: string;
  remoteAddress?: string;
  remotePort?: number;
}

export interface VaultReply {
  status: number;
  /** Absent for 204. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface CoreOptions {
  rootToken: string;
  namespaces: boolean;
  strictAudit: boolean;
  mounts: { path: string; version: 1 | 2 }[];
}

/** Paths every token may use whatever its policies, as Vault's default policy allows. */
const SELF_PATHS = new Set(["auth/token/lookup-self", "auth/token/renew-self", "auth/token/revoke-self"]);

export function errorReply(err: unknown): VaultReply {
  if (err instanceof VaultApiError) return { status: err.status, body: { errors: err.errors } };
  return { status: 500, body: { errors: ["internal error"] } };
}

export class VaultCore {
  readonly root: Namespace;
  readonly tokens: TokenStore;
  readonly audit: AuditBroker;
  readonly events = new EventBus();
  readonly clusterName = `vault-cluster-${randomBase62(8).toLowerCase()}`;
  readonly clusterId = newUuid();
  readonly rootToken: Token;
  sealed = false;
  private readonly policies = new Map<string, string[]>();
  private readonly sys: SysBackend;
  private readonly tokenBackend: TokenBackend;

  constructor(readonly options: CoreOptions) {
    this.tokens = new TokenStore(options.namespaces);
    this.audit = new AuditBroker(options.strictAudit);
    this.sys = new SysBackend(this);
    this.tokenBackend = new TokenBackend(this.tokens);
    this.root = this.newNamespace("root", "");
    this.rootToken = this.tokens.create({
      id: options.rootToken,
      ns: this.root,
      policies: ["root"],
      ttl: 0,
      displayName: "root",
      path: "auth/token/root",
    });
    for (const m of options.mounts)
      this.mountSecrets(this.root, m.path, "kv", { version: String(m.version) }, "");
  }

  definePolicy(name: string, paths: string[]): void {
    this.policies.set(name, paths);
  }

  /** A namespace with Vault's built-in mounts (sys/ and auth/token/) and nothing else. */
  newNamespace(id: string, path: string, parent?: Namespace): Namespace {
    const ns: Namespace = { id, path, parent, children: new Map(), mounts: new Map(), authMounts: new Map() };
    ns.mounts.set(
      "sys/",
      this.mount(
        "sys/",
        "system",
        "secret",
        "system endpoints used for control, policy and debugging",
        this.sys,
      ),
    );
    ns.authMounts.set(
      "token/",
      this.mount("token/", "token", "auth", "token based credentials", this.tokenBackend),
    );
    return ns;
  }

  private mount(
    path: string,
    type: string,
    mountClass: "secret" | "auth",
    description: string,
    backend: Backend,
    options: Record<string, string> | null = null,
  ): Mount {
    const accessorPrefix = mountClass === "auth" ? `auth_${type}` : type;
    return {
      path,
      type,
      mountClass,
      accessor: newAccessor(accessorPrefix),
      uuid: newUuid(),
      description,
      options,
      runningVersion: PLUGIN_VERSIONS[type] ?? BUILTIN,
      backend,
    };
  }

  /** Enables a secrets engine (sys/mounts/<path>): kv version 1 or 2 ("kv-v2" is kv version 2). */
  mountSecrets(
    ns: Namespace,
    rawPath: string,
    rawType: string,
    options: Record<string, string>,
    description: string,
  ): void {
    const path = normalizeMountPath(rawPath);
    const type = rawType === "kv-v2" ? "kv" : rawType;
    const version = rawType === "kv-v2" ? "2" : (options.version ?? "1");
    if (type !== "kv") throw badRequest(`plugin not found in the catalog: ${rawType}`);
    if (version !== "1" && version !== "2") throw badRequest(`invalid KV version: ${version}`);
    for (const reserved of ["auth/", "cubbyhole/", "identity/", ...ns.mounts.keys()]) {
      if (path.startsWith(reserved) || reserved.startsWith(path))
        throw badRequest(`path is already in use at ${reserved}`);
    }
    const backend = version === "2" ? new KvV2() : new KvV1();
    ns.mounts.set(path, this.mount(path, "kv", "secret", description, backend, { ...options, version }));
  }

  /** Enables an auth method (sys/auth/<path>): approle, kubernetes, jwt, oidc, aws, gcp or azure. */
  mountAuth(ns: Namespace, rawPath: string, type: string, description: string): void {
    const path = normalizeMountPath(rawPath);
    const make: Record<string, () => Backend> = {
      approle: () => new AppRoleBackend(this.tokens, path),
      kubernetes: () => new KubernetesBackend(this.tokens, path),
      jwt: () => new JwtBackend(this.tokens, path),
      oidc: () => new JwtBackend(this.tokens, path),
      aws: () => new AwsAuthBackend(this.tokens, path),
      gcp: () => new GcpAuthBackend(this.tokens, path),
      azure: () => new AzureAuthBackend(this.tokens, path),
    };
    const factory = make[type];
    if (!factory) throw badRequest(`plugin not found in the catalog: ${type}`);
    for (const existing of ns.authMounts.keys()) {
      if (path.startsWith(existing) || existing.startsWith(path))
        throw badRequest(`path is already in use at auth/${existing}`);
    }
    ns.authMounts.set(path, this.mount(path, type, "auth", description, factory()));
  }

  /** Splits a request path into its namespace (X-Vault-Namespace, then leading path segments) and the rest. */
  resolveNamespace(header: string | undefined, fullPath: string): { ns: Namespace; path: string } {
    if (!this.options.namespaces) return { ns: this.root, path: fullPath };
    let ns = this.root;
    for (const segment of (header ?? "").split("/").filter((s) => s !== "")) {
      const child = ns.children.get(segment);
      if (!child)
        throw new VaultApiError(404, [
          `no handler for route "${header}/${fullPath}". route entry not found.`,
        ]);
      ns = child;
    }
    let path = fullPath;
    for (let slash = path.indexOf("/"); slash > 0; slash = path.indexOf("/")) {
      const child = ns.children.get(path.slice(0, slash));
      if (!child) break;
      ns = child;
      path = path.slice(slash + 1);
    }
    return { ns, path };
  }

  /** The mount a namespace-relative path falls in, and the path inside it. */
  findMount(ns: Namespace, path: string): { mount: Mount; subPath: string } | undefined {
    const auth = path.startsWith("auth/");
    const table = auth ? ns.authMounts : ns.mounts;
    const rel = auth ? path.slice("auth/".length) : path;
    let best: Mount | undefined;
    for (const m of table.values()) {
      if (`${rel}/`.startsWith(m.path) && (!best || m.path.length > best.path.length)) best = m;
    }
    return best && { mount: best, subPath: rel.slice(best.path.length) };
  }

  /** The live token for `id`, usable in `ns` on `path`; throws Vault's 403s otherwise. */
  authenticate(id: string | undefined, ns: Namespace, path: string): Token {
    const token = id ? this.tokens.get(id) : undefined;
    if (!token || outOfNamespace(token, ns)) throw permissionDenied();
    if (token.policies.includes("root") || SELF_PATHS.has(path)) return token;
    const restricted = token.policies.filter((p) => this.policies.has(p));
    if (restricted.length > 0 && !restricted.some((p) => this.policies.get(p)!.some((g) => glob(g, path)))) {
      throw multiError(403, "permission denied");
    }
    return token;
  }

  /**
   * Runs one request. `onRoute` sees the handler's operation name before anything else happens
   * (the HTTP layer counts it and may answer with an injected fault instead).
   */
  async handle(req: VaultRequest, onRoute?: (name: string) => VaultReply | undefined): Promise<VaultReply> {
    const requestId = newUuid();
    let ns: Namespace, path: string, mount: Mount, handler: Handler;
    try {
      ({ ns, path } = this.resolveNamespace(req.namespace, req.path));
      // LIST always targets a folder, as Vault's HTTP layer makes it.
      if (req.operation === "list" && !path.endsWith("/")) path += "/";
      const found = this.findMount(ns, path);
      if (!found)
        throw new VaultApiError(404, [`no handler for route "${req.path}". route entry not found.`]);
      mount = found.mount;
      handler = mount.backend.route(req.operation, found.subPath);
    } catch (err) {
      return this.sealed ? sealedReply() : errorReply(err);
    }
    const injected = onRoute?.(handler.name);
    if (injected) return injected;
    if (handler.status)
      return this.reply(await handler.run(this.context(requestId, req, ns, path, mount)), requestId, mount);
    if (this.sealed) return sealedReply();

    let operation = req.operation;
    if (operation === "update" && handler.exists && !handler.exists()) operation = "create";
    const rec: AuditRecord = {
      requestId,
      operation,
      ns,
      path,
      data: req.data,
      mount,
      clientToken: req.token,
      remoteAddress: req.remoteAddress,
      remotePort: req.remotePort,
    };
    try {
      if (!handler.unauthenticated) {
        try {
          rec.token = this.authenticate(req.token, ns, path);
        } catch (err) {
          const error = err instanceof VaultApiError ? err.errors.join("; ") : "permission denied";
          await this.audit.logRequest(rec, error);
          await this.audit.logResponse(rec, { error });
          throw err;
        }
      }
      await this.audit.logRequest(rec);
      const ctx = { ...this.context(requestId, req, ns, path, mount), operation, token: rec.token };
      let result: Result;
      try {
        result = await handler.run(ctx);
      } catch (err) {
        await this.audit.logResponse(rec, {
          error: err instanceof VaultApiError ? err.errors.join("; ") : "internal error",
        });
        throw err;
      }
      const issued =
        typeof result.auth?.client_token === "string" ? this.tokens.get(result.auth.client_token) : undefined;
      await this.audit.logResponse(rec, { result, issued });
      return this.reply(result, requestId, mount);
    } catch (err) {
      return errorReply(err);
    }
  }

  private context(
    requestId: string,
    req: VaultRequest,
    ns: Namespace,
    path: string,
    mount: Mount,
  ): RequestContext {
    return {
      requestId,
      operation: req.operation,
      ns,
      path,
      data: req.data,
      emit: (eventType, metadata) => this.events.publish(ns.path, mount, eventType, metadata),
    };
  }

  /** Vault's response envelope around a handler's result. */
  private reply(result: Result, requestId: string, mount: Mount): VaultReply {
    if (result.raw !== undefined) return { status: result.status ?? 200, body: result.raw };
    const status =
      result.status ?? (result.data != null || result.auth || result.warnings?.length ? 200 : 204);
    if (status === 204) return { status };
    const envelope = {
      request_id: requestId,
      lease_id: "",
      renewable: false,
      lease_duration: result.leaseDuration ?? 0,
      data: result.data ?? null,
      wrap_info: null,
      warnings: result.warnings ?? null,
      auth: result.auth ?? null,
      mount_type: mount.type,
    };
    return { status, body: result.topLevel ? { ...result.data, ...envelope } : envelope };
  }

  close(): void {
    this.events.close();
    this.audit.close();
  }
}

function sealedReply(): VaultReply {
  return { status: 503, body: { errors: ["Vault is sealed"] } };
}

function normalizeMountPath(raw: string): string {
  const trimmed = raw.replace(/^\/+|\/+$/g, "");
  if (trimmed === "") throw badRequest("missing mount path");
  return `${trimmed}/`;
}
