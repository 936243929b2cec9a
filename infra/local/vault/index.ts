/**
 * A local HashiCorp Vault: the part of Vault's HTTP API that pushsync and its users touch,
 * with Vault's response envelopes, error bodies and status codes, in memory, in-process.
 *
 *   const vault = await startLocalVault({ port: 0 });
 *   // VAULT_ADDR=vault.url VAULT_TOKEN=vault.rootToken; any Vault client works against it
 *   await vault.writeKv("secret", "app/db", { password: "..." });
 *   await vault.close();
 *
 * Serves: sys/health, sys/seal-status, sys/mounts, sys/auth, sys/audit (socket and file
 * devices), sys/audit-hash, sys/namespaces (with `namespaces: true`), sys/internal/ui/mounts,
 * sys/events/subscribe (WebSocket, json=true), KV v2 and KV v1, auth/token, AppRole,
 * Kubernetes and JWT logins. What it leaves out or simplifies:
 * - Policies: every valid token may do everything, unless it carries a policy defined with
 *   `definePolicy(name, pathGlobs)`, which limits it to those paths (403 elsewhere).
 * - Kubernetes and JWT logins check claims but not signatures (see auth.ts).
 * - Only service tokens, no response wrapping, no leases other than tokens', events only as JSON.
 * - Namespaces (Vault Enterprise) are separate sets of mounts and tokens; without
 *   `namespaces: true` the X-Vault-Namespace header is ignored.
 *
 * Request counts and injected faults use these operation names:
 *   kv2.read, kv2.write, kv2.patch, kv2.delete (latest version), kv2.delete-versions, kv2.undelete,
 *   kv2.destroy, kv2.list, kv2.metadata.read|write|patch|delete, kv2.config, kv2.subkeys,
 *   kv2.invalid (KV v1 style paths on a v2 mount);
 *   kv1.read|write|delete|list;
 *   token.create|lookup-self|lookup|renew-self|renew|revoke-self|revoke;
 *   approle.login, kubernetes.login, jwt.login, and <method>.role|role-id|secret-id|config;
 *   sys.<first path segment> (sys.health, sys.mounts, sys.audit, ...); events.subscribe.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { Faults, listen, readBody, RequestCounter } from "../common/server.ts";
import { errorReply, VaultCore, type VaultReply } from "./core.ts";
import { namespacePatterns } from "./events.ts";
import {
  faultReply,
  MAX_BODY_BYTES,
  namespaceFrom,
  queryData,
  send,
  sendRaw,
  serveList,
  splitPath,
  toOperation,
  toVaultRequest,
  tokenFrom,
  type HttpInput,
} from "./http.ts";
import { isObject, VaultApiError, type Json } from "./wire.ts";

export { VaultApiError } from "./wire.ts";
export type { VaultReply } from "./core.ts";

export interface LocalVaultOptions {
  host?: string;
  /** Default 8200; 0 picks a free port (tests). */
  port?: number;
  /** Default "root". */
  rootToken?: string;
  /** Secrets engines at start; default a KV v2 engine at secret/. */
  mounts?: { path: string; version: 1 | 2 }[];
  /** Vault Enterprise namespaces (X-Vault-Namespace and path prefixes). Default false. */
  namespaces?: boolean;
  /**
   * Vault's audit rule: when audit devices are enabled and none could log a request, the
   * request fails with 500. Default true; false only skips the failed write.
   */
  strictAudit?: boolean;
}

export interface RequestOptions {
  /** Default: the root token. */
  token?: string;
  namespace?: string;
}

export interface LocalVault {
  url: string;
  host: string;
  port: number;
  rootToken: string;
  /** Latency and injected statuses, per operation name (see the list above). */
  faults: Faults;
  /** HTTP requests per operation name. Requests from the helpers below are not counted. */
  requests: RequestCounter;
  readonly sealed: boolean;
  /** While sealed every request gets 503 {"errors":["Vault is sealed"]}, except sys/health and sys/seal-status. */
  seal(): void;
  unseal(): void;
  close(): Promise<void>;
  /**
   * One request through the same pipeline as HTTP (tokens, audit, events), without faults.
   * `path` is what follows /v1/, with an optional query string; method is GET, LIST, POST, PUT,
   * PATCH or DELETE.
   */
  request(method: string, path: string, body?: Json, options?: RequestOptions): Promise<VaultReply>;
  /** Writes a secret (KV v2 or v1, by the mount's version). Returns the new version (0 for KV v1). */
  writeKv(
    mount: string,
    path: string,
    data: Json,
    options?: RequestOptions & { cas?: number },
  ): Promise<number>;
  createToken(options?: {
    policies?: string[];
    /** Seconds or a Go duration ("30s"); default 768h, or no expiry for root-policy tokens. */
    ttl?: number | string;
    renewable?: boolean;
    namespace?: string;
  }): Promise<string>;
  /** Creates a namespace and any missing parents ("team-a/app"). Requires `namespaces: true`. */
  createNamespace(path: string): Promise<void>;
  /** Restricts tokens carrying `policy` to paths matching one of `pathGlobs` (e.g. "secret/data/app/*"). */
  definePolicy(policy: string, pathGlobs: string[]): void;
  /** Enables AppRole at `mount` (default "approle") if needed and creates a role. */
  addAppRole(options: {
    name: string;
    mount?: string;
    policies?: string[];
    ttl?: number | string;
    namespace?: string;
  }): Promise<{ roleId: string; secretId: string }>;
  /** Enables Kubernetes auth at `mount` (default "kubernetes"), configures it if needed, creates a role. */
  addKubernetesRole(options: {
    name: string;
    serviceAccountNames: string[];
    serviceAccountNamespaces: string[];
    audience?: string;
    mount?: string;
    policies?: string[];
    ttl?: number | string;
    namespace?: string;
  }): Promise<void>;
  /** Enables JWT auth at `mount` (default "jwt") if needed and creates a role of type "jwt". */
  addJwtRole(options: {
    name: string;
    userClaim?: string;
    boundAudiences?: string[];
    boundSubject?: string;
    boundClaims?: Record<string, string | string[]>;
    claimMappings?: Record<string, string>;
    mount?: string;
    policies?: string[];
    ttl?: number | string;
    namespace?: string;
  }): Promise<void>;
}

function check(reply: VaultReply, what: string): Json {
  if (reply.status >= 300) {
    const errors =
      isObject(reply.body) && Array.isArray(reply.body.errors) ? reply.body.errors.map(String) : [];
    throw new VaultApiError(reply.status, [`${what}: ${errors.join("; ") || `status ${reply.status}`}`]);
  }
  return isObject(reply.body) ? reply.body : {};
}

export async function startLocalVault(options: LocalVaultOptions = {}): Promise<LocalVault> {
  const rootToken = options.rootToken ?? "root";
  const core = new VaultCore({
    rootToken,
    namespaces: options.namespaces ?? false,
    strictAudit: options.strictAudit ?? true,
    mounts: options.mounts ?? [{ path: "secret", version: 2 }],
  });
  const faults = new Faults();
  const requests = new RequestCounter();

  const onRoute = (name: string): VaultReply | undefined => {
    requests.add(name);
    const fault = faults.take(name);
    return fault && faultReply(fault);
  };

  const serve = async (input: HttpInput): Promise<VaultReply> => {
    await faults.delay();
    try {
      return await core.handle(await toVaultRequest(input), onRoute);
    } catch (err) {
      return errorReply(err);
    }
  };

  const wss = new WebSocketServer({ noServer: true });
  const handleUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    try {
      const { path, query } = splitPath(req.url ?? "/");
      const { ns, path: rel } = core.resolveNamespace(namespaceFrom(req.headers), path.replace(/^v1\//, ""));
      const prefix = "sys/events/subscribe/";
      if (!path.startsWith("v1/") || !rel.startsWith(prefix)) throw new VaultApiError(404, []);
      const injected = onRoute("events.subscribe");
      if (injected) return sendRaw(socket, injected);
      if (core.sealed) throw new VaultApiError(503, ["Vault is sealed"]);
      const pattern = rel.slice(prefix.length).trim();
      if (pattern === "") throw new VaultApiError(400, ["did not specify eventType to subscribe to"]);
      if (query.get("json") !== "true") {
        throw new VaultApiError(400, ["the local Vault streams events only as JSON: add json=true"]);
      }
      core.authenticate(tokenFrom(req.headers), ns, rel);
      const patterns = namespacePatterns(ns.path, query.getAll("namespaces"));
      wss.handleUpgrade(req, socket, head, (ws) => core.events.subscribe(ws, pattern, patterns));
    } catch (err) {
      sendRaw(socket, errorReply(err));
    }
  };

  const handleHttp = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const reply = await serve({
      method: req.method ?? "GET",
      url: req.url ?? "/",
      headers: req.headers,
      body: () => readBody(req, MAX_BODY_BYTES),
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
    });
    send(res, reply, req.method !== "HEAD");
  };

  const listening = await listen((req, res) => void handleHttp(req, res), {
    host: options.host,
    port: options.port ?? 8200,
  });
  listening.server.on("upgrade", handleUpgrade);
  listening.server.on("clientError", (err: Error, socket: Duplex) => {
    if (!socket.writable) socket.destroy();
    else if (!serveList(err, socket, serve)) sendRaw(socket, { status: 400, body: { errors: [] } });
  });

  const request: LocalVault["request"] = async (method, pathAndQuery, body = {}, opts = {}) => {
    const { path, query } = splitPath(pathAndQuery);
    const operation = toOperation(method.toUpperCase(), query);
    const data = operation === "update" || operation === "patch" ? body : queryData(query);
    return core.handle({ operation, path, data, token: opts.token ?? rootToken, namespace: opts.namespace });
  };

  const ensureAuth = async (mount: string, type: string, namespace?: string): Promise<void> => {
    const auths = check(await request("GET", "sys/auth", {}, { namespace }), "listing auth methods");
    if (!isObject(auths.data) || !(`${mount}/` in auths.data)) {
      check(
        await request("POST", `sys/auth/${mount}`, { type }, { namespace }),
        `enabling ${type} at auth/${mount}`,
      );
    }
  };

  return {
    url: listening.url,
    host: listening.host,
    port: listening.port,
    rootToken,
    faults,
    requests,
    get sealed() {
      return core.sealed;
    },
    seal: () => void (core.sealed = true),
    unseal: () => void (core.sealed = false),
    close: async () => {
      core.close();
      wss.close();
      await listening.close();
    },
    request,
    async writeKv(mount, path, data, opts = {}) {
      const { ns, path: rel } = core.resolveNamespace(opts.namespace, mount.replace(/\/+$/, ""));
      const found = core.findMount(ns, `${rel}/`);
      if (!found || found.mount.type !== "kv") throw new VaultApiError(400, [`no KV mount at ${mount}`]);
      const v2 = found.mount.options?.version === "2";
      const target = v2 ? `${mount}/data/${path}` : `${mount}/${path}`;
      const body = v2 ? { data, ...(opts.cas !== undefined ? { options: { cas: opts.cas } } : {}) } : data;
      const reply = check(await request("POST", target, body, opts), `writing ${target}`);
      return v2 && isObject(reply.data) ? Number(reply.data.version) : 0;
    },
    async createToken({ namespace, ...body } = {}) {
      const reply = check(
        await request("POST", "auth/token/create", body, { namespace }),
        "creating a token",
      );
      return String((reply.auth as Json).client_token);
    },
    async createNamespace(path) {
      let parent = "";
      for (const segment of path.split("/").filter((s) => s !== "")) {
        const exists = await request("GET", `sys/namespaces/${segment}`, {}, { namespace: parent });
        if (exists.status !== 200) {
          check(
            await request("POST", `sys/namespaces/${segment}`, {}, { namespace: parent }),
            `creating namespace ${segment}`,
          );
        }
        parent = parent ? `${parent}/${segment}` : segment;
      }
    },
    definePolicy: (policy, pathGlobs) => core.definePolicy(policy, pathGlobs),
    async addAppRole(opts) {
      const mount = opts.mount ?? "approle";
      const ns = { namespace: opts.namespace };
      await ensureAuth(mount, "approle", opts.namespace);
      const role = `auth/${mount}/role/${opts.name}`;
      check(
        await request("POST", role, { token_policies: opts.policies ?? [], token_ttl: opts.ttl ?? 0 }, ns),
        `creating ${role}`,
      );
      const roleId = check(await request("GET", `${role}/role-id`, {}, ns), "reading role-id").data as Json;
      const secretId = check(await request("POST", `${role}/secret-id`, {}, ns), "creating secret-id")
        .data as Json;
      return { roleId: String(roleId.role_id), secretId: String(secretId.secret_id) };
    },
    async addKubernetesRole(opts) {
      const mount = opts.mount ?? "kubernetes";
      const ns = { namespace: opts.namespace };
      await ensureAuth(mount, "kubernetes", opts.namespace);
      if ((await request("GET", `auth/${mount}/config`, {}, ns)).status !== 200) {
        const config = { kubernetes_host: "https://kubernetes.default.svc" };
        check(await request("POST", `auth/${mount}/config`, config, ns), `configuring auth/${mount}`);
      }
      const role = `auth/${mount}/role/${opts.name}`;
      const body = {
        bound_service_account_names: opts.serviceAccountNames,
        bound_service_account_namespaces: opts.serviceAccountNamespaces,
        audience: opts.audience ?? "",
        token_policies: opts.policies ?? [],
        token_ttl: opts.ttl ?? 0,
      };
      check(await request("POST", role, body, ns), `creating ${role}`);
    },
    async addJwtRole(opts) {
      const mount = opts.mount ?? "jwt";
      await ensureAuth(mount, "jwt", opts.namespace);
      const role = `auth/${mount}/role/${opts.name}`;
      const body = {
        role_type: "jwt",
        user_claim: opts.userClaim ?? "sub",
        bound_audiences: opts.boundAudiences ?? [],
        bound_subject: opts.boundSubject ?? "",
        bound_claims: opts.boundClaims ?? {},
        claim_mappings: opts.claimMappings ?? {},
        token_policies: opts.policies ?? [],
        token_ttl: opts.ttl ?? 0,
      };
      check(await request("POST", role, body, { namespace: opts.namespace }), `creating ${role}`);
    },
  };
}
