/**
 * Turns Vault audit device lines (file or socket device, JSON format) into change events.
 *
 * Each line is one JSON object with `type` "request" or "response". Only a response without
 * `error` proves that a change happened, so request entries are skipped. Fields used:
 *   time                       RFC 3339 (absent when the device has omit_time; then the receive time)
 *   request.id                 the event id
 *   request.operation          create | update | patch | delete (read and list change nothing)
 *   request.path               "secret/data/app/db": mount, KV v2 segment, secret path
 *   request.mount_point        "secret/" (may be excluded by the device; then the mount table decides)
 *   request.mount_type         "kv" for both KV versions
 *   request.namespace.path     "" for root, "team-a/" otherwise (falls back to namespace.id)
 *   response.data.version      new KV v2 version after a data write or patch (numbers are never HMAC'd)
 * Nothing else is read: with log_raw the entry may hold secret values, and none of them ever
 * reaches an event, a skip detail or a counter.
 *
 * The audit entry cannot tell KV v1 from v2 (`mount_running_version` is the plugin's version,
 * e.g. "v0.20.0+builtin"). Mounts not listed in the mount table are taken as KV v2, the default
 * for ESO's Vault provider; KV v1 mounts must be listed.
 */
import { Counters } from "../observability/counters.ts";
import type { ChangeOperation, KvV2Segment, ParseResult } from "./types.ts";
import { isObject, isRfc3339, skip, splitKvV2Path, trimSlashes } from "./types.ts";

export interface AuditParserOptions {
  /**
   * Known KV mounts and their version. Keys are mount paths as seen from the root namespace
   * ("secret", "team-a/kv"); slashes at either end are ignored. A listed mount counts as KV even
   * when the entry has no mount_type.
   */
  mounts?: Record<string, 1 | 2>;
  /** The device's `prefix` option: stripped from the start of each line. */
  prefix?: string;
  /** Clock for entries without `time` (tests). */
  now?: () => Date;
}

const v2Operations: Record<KvV2Segment, Partial<Record<string, ChangeOperation>>> = {
  data: { create: "write", update: "write", patch: "patch", delete: "delete" },
  metadata: {
    create: "metadata-write",
    update: "metadata-write",
    patch: "metadata-patch",
    delete: "metadata-delete",
  },
  delete: { create: "delete", update: "delete" },
  undelete: { create: "undelete", update: "undelete" },
  destroy: { create: "destroy", update: "destroy" },
};
const v1Operations: Partial<Record<string, ChangeOperation>> = {
  create: "write",
  update: "write",
  delete: "delete",
};

export class AuditParser {
  /** Skipped lines by reason. */
  readonly skipped = new Counters();
  private readonly mounts: Map<string, 1 | 2>;
  private readonly now: () => Date;

  constructor(private readonly options: AuditParserOptions = {}) {
    this.mounts = new Map(Object.entries(options.mounts ?? {}).map(([k, v]) => [trimSlashes(k), v]));
    this.now = options.now ?? (() => new Date());
  }

  /** Never throws: anything that is not a successful KV change comes back as a skip with a reason. */
  parse(line: string): ParseResult {
    const result = this.parseEntry(line);
    if ("skip" in result) this.skipped.add(result.skip);
    return result;
  }

  private parseEntry(rawLine: string): ParseResult {
    let line = rawLine.trim();
    const prefix = this.options.prefix;
    if (prefix && line.startsWith(prefix)) line = line.slice(prefix.length);

    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      return skip("malformed", "line is not JSON");
    }
    if (!isObject(entry)) return skip("malformed", "entry is not a JSON object");
    if (typeof entry.type !== "string") return skip("malformed", "type is missing or not a string");
    if (entry.type !== "response") return skip("not-response", "entry type is not response");
    if (entry.error !== undefined && typeof entry.error !== "string")
      return skip("malformed", "error is not a string");
    if (entry.error) return skip("failed", "response has an error");

    const req = entry.request;
    if (!isObject(req)) return skip("malformed", "request is missing or not an object");
    for (const field of ["id", "path", "operation"] as const) {
      if (typeof req[field] !== "string" || req[field] === "")
        return skip("malformed", `request.${field} is missing or not a string`);
    }
    const id = req.id as string;
    const operation = req.operation as string;
    for (const field of ["mount_point", "mount_type"] as const) {
      if (req[field] !== undefined && typeof req[field] !== "string")
        return skip("malformed", `request.${field} is not a string`);
    }
    const namespace = namespaceOf(req.namespace);
    if (namespace === undefined)
      return skip("malformed", "request.namespace is not an object with path or id");
    const time = entry.time;
    if (time !== undefined && (typeof time !== "string" || !isRfc3339(time)))
      return skip("malformed", "time is not an RFC 3339 timestamp");

    let path = trimSlashes(req.path as string);
    // Paths are relative to the request's namespace; tolerate the namespace in front anyway.
    if (namespace && path.startsWith(namespace + "/")) path = path.slice(namespace.length + 1);
    const mount = req.mount_point ? trimSlashes(req.mount_point as string) : this.mountFor(namespace, path);
    if (!mount) return skip("not-kv", "no request.mount_point and no known mount for the path");
    const known = this.mounts.get(qualified(namespace, mount));
    if (req.mount_type !== "kv" && known === undefined) return skip("not-kv", "mount is not KV");
    if (!path.startsWith(mount + "/")) {
      return path === mount
        ? skip("not-a-change", "request on the mount itself")
        : skip("malformed", "request.path is outside request.mount_point");
    }
    const inMount = path.slice(mount.length + 1);

    let secretPath: string;
    let op: ChangeOperation | undefined;
    let version: number | undefined;
    if (known === 1) {
      secretPath = trimSlashes(inMount);
      op = own(v1Operations, operation);
    } else {
      const split = splitKvV2Path(inMount);
      if (!split)
        return skip("not-a-change", "not a KV v2 secret path (KV v1 mounts must be in the mount table)");
      secretPath = split.path;
      op = own(v2Operations[split.segment], operation);
      if (op === "write" || op === "patch") version = versionOf(entry.response);
    }
    if (!op) return skip("not-a-change", "request.operation does not change a secret on this path");

    return {
      event: {
        id,
        mount,
        path: secretPath,
        ...(version !== undefined ? { version } : {}),
        operation: op,
        namespace,
        time: typeof time === "string" ? time : this.now().toISOString(),
        source: "audit",
      },
    };
  }

  /** The longest mount in the table, in this namespace, that the path is under. */
  private mountFor(namespace: string, path: string): string | undefined {
    let best: string | undefined;
    for (const key of this.mounts.keys()) {
      if (namespace && !key.startsWith(namespace + "/")) continue;
      const mount = namespace ? key.slice(namespace.length + 1) : key;
      if (path.startsWith(mount + "/") && (best === undefined || mount.length > best.length)) best = mount;
    }
    return best;
  }
}

/** "" for root; undefined when present but unusable. */
function namespaceOf(ns: unknown): string | undefined {
  if (ns === undefined) return "";
  if (!isObject(ns)) return undefined;
  if (typeof ns.path === "string") return trimSlashes(ns.path);
  if (ns.id === "root") return "";
  return typeof ns.id === "string" && ns.id !== "" ? ns.id : undefined;
}

function qualified(namespace: string, mount: string): string {
  return namespace ? `${namespace}/${mount}` : mount;
}

function versionOf(response: unknown): number | undefined {
  if (!isObject(response) || !isObject(response.data)) return undefined;
  const v = response.data.version;
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
}

/** Table lookup that ignores inherited keys ("constructor", "__proto__") a malformed line may name. */
function own<T>(table: Partial<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
