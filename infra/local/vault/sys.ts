/**
 * The sys/ endpoints the local Vault serves: health and seal status, secrets engine and auth
 * method mounts, audit devices and audit-hash, namespaces (when enabled), and the mount lookup
 * the Vault CLI uses (sys/internal/ui/mounts).
 */
import type { VaultCore } from "./core.ts";
import type { Backend, Handler, Mount, Namespace, RequestContext } from "./model.ts";
import {
  badRequest,
  intParam,
  isObject,
  noContent,
  notFound,
  permissionDenied,
  randomBase62,
  stringParam,
  unsupportedOperation,
  unsupportedPath,
  VAULT_VERSION,
  type Json,
  type Operation,
  type Result,
} from "./wire.ts";

function mountInfo(m: Mount): Json {
  return {
    accessor: m.accessor,
    config: {
      default_lease_ttl: 0,
      force_no_cache: false,
      max_lease_ttl: 0,
      ...(m.mountClass === "auth" ? { token_type: "default-service" } : {}),
    },
    deprecation_status: "supported",
    description: m.description,
    external_entropy_access: false,
    local: false,
    options: m.options,
    plugin_version: "",
    running_plugin_version: m.runningVersion,
    running_sha256: "",
    seal_wrap: false,
    type: m.type,
    uuid: m.uuid,
  };
}

function mountTable(table: Map<string, Mount>, prefix = ""): Json {
  const entries = [...table.values()].sort((a, b) => a.path.localeCompare(b.path));
  return Object.fromEntries(entries.map((m) => [prefix + m.path, mountInfo(m)]));
}

const optionsOf = (d: Json): Record<string, string> =>
  isObject(d.options) ? Object.fromEntries(Object.entries(d.options).map(([k, v]) => [k, String(v)])) : {};

export class SysBackend implements Backend {
  constructor(private readonly core: VaultCore) {}

  route(op: Operation, subPath: string): Handler {
    const write = op === "create" || op === "update";
    const slash = subPath.indexOf("/");
    const area = slash < 0 ? subPath : subPath.slice(0, slash);
    const rest = slash < 0 ? "" : subPath.slice(slash + 1);
    const name = `sys.${area}`;
    const only = (allowed: boolean, h: Omit<Handler, "name">): Handler => {
      if (!allowed) throw unsupportedOperation();
      return { name, ...h };
    };
    switch (area) {
      case "health":
        return only(op === "read", { status: true, run: (ctx) => this.health(ctx) });
      case "seal-status":
        return only(op === "read", { status: true, run: () => this.sealStatus() });
      case "mounts":
        if (rest === "") return only(op === "read", { run: (ctx) => this.listMounts(ctx.ns) });
        if (op === "read") return { name, run: (ctx) => this.readMount(ctx.ns, rest) };
        if (write) return { name, run: (ctx) => this.enableMount(ctx, rest) };
        return only(op === "delete", {
          run: (ctx) => (ctx.ns.mounts.delete(`${rest.replace(/\/$/, "")}/`), noContent()),
        });
      case "auth":
        if (rest === "") return only(op === "read", { run: (ctx) => this.listAuth(ctx.ns) });
        if (write) return { name, run: (ctx) => this.enableAuth(ctx, rest) };
        return only(op === "delete", { run: (ctx) => this.disableAuth(ctx.ns, rest) });
      case "audit":
        if (rest === "")
          return only(op === "read", { run: () => ({ data: this.core.audit.list(), topLevel: true }) });
        if (write) return { name, run: (ctx) => (this.core.audit.enable(rest, ctx.data), noContent()) };
        return only(op === "delete", { run: () => (this.core.audit.disable(rest), noContent()) });
      case "audit-hash":
        return only(write && rest !== "", {
          run: (ctx) => ({
            data: { hash: this.core.audit.hash(rest, stringParam(ctx.data, "input")) },
            topLevel: true,
          }),
        });
      case "internal":
        if (!rest.startsWith("ui/mounts/")) throw unsupportedPath();
        return only(op === "read", { run: (ctx) => this.uiMount(ctx.ns, rest.slice("ui/mounts/".length)) });
      case "namespaces":
        if (!this.core.options.namespaces) throw unsupportedPath();
        if (op === "list") return { name, run: (ctx) => this.listNamespaces(ctx.ns) };
        if (rest === "" || rest === "/") throw unsupportedOperation();
        if (op === "read") return { name, run: (ctx) => this.readNamespace(ctx.ns, rest) };
        if (write) return { name, run: (ctx) => this.createNamespace(ctx.ns, rest) };
        return only(op === "delete", { run: (ctx) => this.deleteNamespace(ctx.ns, rest) });
      default:
        throw unsupportedPath();
    }
  }

  /**
   * sys/health, without the envelope: 200 active or 503 sealed, overridable with activecode and
   * sealedcode. This server is never a standby, so standbyok and perfstandbyok change nothing.
   */
  private health(ctx: RequestContext): Result {
    const sealed = this.core.sealed;
    const status = sealed ? intParam(ctx.data, "sealedcode", 503) : intParam(ctx.data, "activecode", 200);
    return {
      status,
      raw: {
        initialized: true,
        sealed,
        standby: sealed,
        performance_standby: false,
        replication_performance_mode: sealed ? "unknown" : "disabled",
        replication_dr_mode: sealed ? "unknown" : "disabled",
        server_time_utc: Math.floor(Date.now() / 1000),
        version: VAULT_VERSION,
        ...(sealed ? {} : { cluster_name: this.core.clusterName, cluster_id: this.core.clusterId }),
      },
    };
  }

  private sealStatus(): Result {
    const sealed = this.core.sealed;
    return {
      raw: {
        type: "shamir",
        initialized: true,
        sealed,
        t: 1,
        n: 1,
        progress: 0,
        nonce: "",
        version: VAULT_VERSION,
        build_date: "",
        migration: false,
        ...(sealed ? {} : { cluster_name: this.core.clusterName, cluster_id: this.core.clusterId }),
        recovery_seal: false,
        storage_type: "inmem",
      },
    };
  }

  private listMounts(ns: Namespace): Result {
    return { data: mountTable(ns.mounts), topLevel: true };
  }

  private readMount(ns: Namespace, path: string): Result {
    const m = ns.mounts.get(`${path.replace(/\/$/, "")}/`);
    if (!m) throw badRequest(`No secret engine mount at ${path}`);
    return { data: mountInfo(m) };
  }

  private enableMount(ctx: RequestContext, path: string): Result {
    const type = stringParam(ctx.data, "type");
    if (type === "") throw badRequest("backend type must be specified as a string");
    this.core.mountSecrets(ctx.ns, path, type, optionsOf(ctx.data), stringParam(ctx.data, "description"));
    return noContent();
  }

  private listAuth(ns: Namespace): Result {
    return { data: mountTable(ns.authMounts), topLevel: true };
  }

  private enableAuth(ctx: RequestContext, path: string): Result {
    const type = stringParam(ctx.data, "type");
    if (type === "") throw badRequest("backend type must be specified as a string");
    this.core.mountAuth(ctx.ns, path, type, stringParam(ctx.data, "description"));
    return noContent();
  }

  private disableAuth(ns: Namespace, path: string): Result {
    const key = `${path.replace(/\/$/, "")}/`;
    if (key === "token/") throw badRequest("token credential backend cannot be disabled");
    ns.authMounts.delete(key);
    return noContent();
  }

  /** What the Vault CLI asks before `vault kv ...`: the mount a path is in, and its KV version. */
  private uiMount(ns: Namespace, path: string): Result {
    const found = this.core.findMount(ns, path);
    // Vault answers 403 rather than 404 so the endpoint cannot be used to discover mounts.
    if (!found || found.mount.type === "system") throw permissionDenied();
    const { deprecation_status: _unused, ...info } = mountInfo(found.mount);
    return { data: { ...info, path: found.mount.path } };
  }

  private namespaceInfo(ns: Namespace): Json {
    return { custom_metadata: {}, id: ns.id, path: ns.path };
  }

  private listNamespaces(parent: Namespace): Result {
    const children = [...parent.children.entries()].sort(([a], [b]) => a.localeCompare(b));
    if (children.length === 0) throw notFound();
    return {
      data: {
        key_info: Object.fromEntries(children.map(([name, ns]) => [`${name}/`, this.namespaceInfo(ns)])),
        keys: children.map(([name]) => `${name}/`),
      },
    };
  }

  private child(parent: Namespace, raw: string): { name: string; ns: Namespace | undefined } {
    const name = raw.replace(/^\/+|\/+$/g, "");
    if (name === "" || name.includes("/")) throw badRequest("a namespace name must be a single path segment");
    return { name, ns: parent.children.get(name) };
  }

  private readNamespace(parent: Namespace, raw: string): Result {
    const { ns } = this.child(parent, raw);
    if (!ns) throw notFound();
    return { data: this.namespaceInfo(ns) };
  }

  private createNamespace(parent: Namespace, raw: string): Result {
    const { name, ns: existing } = this.child(parent, raw);
    if (existing) throw badRequest(`namespace "${existing.path}" already exists`);
    const ns = this.core.newNamespace(randomBase62(5), `${parent.path}${name}/`, parent);
    parent.children.set(name, ns);
    return { data: this.namespaceInfo(ns) };
  }

  private deleteNamespace(parent: Namespace, raw: string): Result {
    const { name, ns } = this.child(parent, raw);
    if (ns && ns.children.size > 0) throw badRequest("cannot delete namespace containing child namespaces");
    parent.children.delete(name);
    return noContent();
  }
}
