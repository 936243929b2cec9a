/**
 * The KV secrets engine, version 2 (versioned) and version 1 (plain), with Vault's semantics:
 * soft delete, undelete and destroy per version, check-and-set, max_versions trimming,
 * delete_version_after, custom metadata, JSON merge patch, and the events the plugin sends.
 */
import type { Backend, Handler, RequestContext } from "./model.ts";
import {
  badRequest,
  boolParam,
  clone,
  durationParam,
  formatDuration,
  intListParam,
  intParam,
  isObject,
  noContent,
  notFound,
  rfc3339,
  SYSTEM_MAX_TTL,
  unsupportedOperation,
  type Json,
  type Operation,
  type Result,
} from "./wire.ts";

const DEFAULT_MAX_VERSIONS = 10;

interface Version {
  created: number;
  /** Epoch ms; may lie in the future (delete_version_after). */
  deletion: number | null;
  destroyed: boolean;
  /** Dropped when destroyed. */
  data?: Json;
}

interface Secret {
  current: number;
  oldest: number;
  created: number | null;
  updated: number | null;
  maxVersions: number;
  casRequired: boolean;
  /** Seconds; 0 is unset. */
  deleteVersionAfter: number;
  customMetadata: Record<string, string> | null;
  versions: Map<number, Version>;
}

/** Immediate children of `prefix` among `keys`: "name" for a leaf, "name/" for a folder. */
function listChildren(keys: Iterable<string>, prefix: string): string[] {
  const out = new Set<string>();
  for (const k of keys) {
    if (!k.startsWith(prefix)) continue;
    const rest = k.slice(prefix.length);
    const slash = rest.indexOf("/");
    out.add(slash < 0 ? rest : rest.slice(0, slash + 1));
  }
  out.delete("");
  return [...out].sort();
}

function listResult(keys: string[]): Result {
  if (keys.length === 0) throw notFound();
  return { data: { keys } };
}

/** RFC 7386: null removes a key, objects merge recursively, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Json = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const MAX_CUSTOM_METADATA_KEYS = 64;
const MAX_CUSTOM_METADATA_KEY_LENGTH = 128;
const MAX_CUSTOM_METADATA_VALUE_LENGTH = 512;

/** Vault's custom_metadata limits; messages name keys and lengths, never values. */
function customMetadata(raw: unknown, dropNulls: boolean): Record<string, string> {
  if (!isObject(raw)) throw badRequest("custom_metadata validation failed: expected a map");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === null && dropNulls) continue;
    out[k] = v === null ? "" : String(v);
  }
  const keys = Object.keys(out);
  if (keys.length > MAX_CUSTOM_METADATA_KEYS) {
    throw badRequest(
      `custom_metadata validation failed: payload must contain at most ${MAX_CUSTOM_METADATA_KEYS} keys, provided ${keys.length}`,
    );
  }
  const errors: string[] = [];
  for (const k of keys) {
    if (k.length === 0 || k.length > MAX_CUSTOM_METADATA_KEY_LENGTH) {
      errors.push(
        `custom_metadata validation failed: length of key "${k}" is ${k.length} but must be 0 < len(key) <= ${MAX_CUSTOM_METADATA_KEY_LENGTH}`,
      );
    }
    const len = out[k]!.length;
    if (len === 0 || len > MAX_CUSTOM_METADATA_VALUE_LENGTH) {
      errors.push(
        `custom_metadata validation failed: length of value for key "${k}" is ${len} but must be 0 < len(value) <= ${MAX_CUSTOM_METADATA_VALUE_LENGTH}`,
      );
    }
  }
  if (errors.length > 0) throw badRequest(errors.join("\n"));
  return out;
}

/** Leaf values replaced by null, as the subkeys endpoint shows a secret's shape. */
function subkeys(v: Json, depth: number, level = 1): Json {
  const out: Json = {};
  for (const [k, child] of Object.entries(v)) {
    const nested = isObject(child) && Object.keys(child).length > 0 && (depth === 0 || level < depth);
    out[k] = nested ? subkeys(child as Json, depth, level + 1) : null;
  }
  return out;
}

export class KvV2 implements Backend {
  private secrets = new Map<string, Secret>();
  private config = { maxVersions: 0, casRequired: false, /** seconds; -1 disables */ deleteVersionAfter: 0 };

  route(op: Operation, subPath: string): Handler {
    const slash = subPath.indexOf("/");
    const area = slash < 0 ? subPath : subPath.slice(0, slash);
    const key = slash < 0 ? "" : subPath.slice(slash + 1);
    const exists = () => this.secrets.has(key);
    const isWrite = op === "create" || op === "update";
    if (subPath === "config") {
      if (op === "read") return { name: "kv2.config", run: () => this.readConfig() };
      if (isWrite) return { name: "kv2.config", run: (ctx) => this.writeConfig(ctx) };
      throw unsupportedOperation();
    }
    const leaf = key !== "" && !key.endsWith("/");
    if (area === "data" && leaf) {
      if (op === "read") return { name: "kv2.read", run: (ctx) => this.read(key, ctx) };
      if (isWrite) return { name: "kv2.write", exists, run: (ctx) => this.write(key, ctx) };
      if (op === "patch") return { name: "kv2.patch", run: (ctx) => this.patch(key, ctx) };
      if (op === "delete") return { name: "kv2.delete", run: (ctx) => this.deleteLatest(key, ctx) };
    }
    if (area === "metadata" && op === "list") {
      return { name: "kv2.list", run: (ctx) => this.list(key, ctx) };
    }
    if (area === "metadata" && key !== "") {
      if (op === "read") return { name: "kv2.metadata.read", run: () => this.readMetadata(key) };
      if (isWrite) return { name: "kv2.metadata.write", exists, run: (ctx) => this.writeMetadata(key, ctx) };
      if (op === "patch") return { name: "kv2.metadata.patch", run: (ctx) => this.patchMetadata(key, ctx) };
      if (op === "delete")
        return { name: "kv2.metadata.delete", run: (ctx) => this.deleteMetadata(key, ctx) };
    }
    if ((area === "delete" || area === "undelete" || area === "destroy") && leaf && isWrite) {
      const name = area === "delete" ? "kv2.delete-versions" : `kv2.${area}`;
      return { name, run: (ctx) => this.changeVersions(area, key, ctx) };
    }
    if (area === "subkeys" && leaf && op === "read") {
      return { name: "kv2.subkeys", run: (ctx) => this.subkeys(key, ctx) };
    }
    return { name: "kv2.invalid", run: () => this.invalidPath(subPath, op) };
  }

  /** Vault's answer to a KV v1 style path on a v2 mount: 404 with a warning, no error. */
  private invalidPath(subPath: string, op: Operation): Result {
    if (["metadata", "data", "delete", "undelete", "destroy"].includes(subPath)) {
      return {
        status: 404,
        warnings: ["Non-listing operations on the root of a K/V v2 mount are not supported."],
      };
    }
    const verb = {
      create: "put",
      update: "put",
      patch: "patch",
      read: "get",
      list: "list",
      delete: "delete",
    }[op];
    return {
      status: 404,
      warnings: [
        `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${verb}' for this operation.`,
      ],
    };
  }

  private isDeleted(v: Version): boolean {
    return v.deletion !== null && v.deletion <= Date.now();
  }

  private versionMetadata(s: Secret, n: number, v: Version): Json {
    return {
      created_time: rfc3339(v.created),
      custom_metadata: clone(s.customMetadata),
      deletion_time: v.deletion === null ? "" : rfc3339(v.deletion),
      destroyed: v.destroyed,
      version: n,
    };
  }

  private read(key: string, ctx: RequestContext): Result {
    const s = this.secrets.get(key);
    if (!s) throw notFound();
    const n = intParam(ctx.data, "version") || s.current;
    const v = s.versions.get(n);
    if (!v) throw notFound();
    const metadata = this.versionMetadata(s, n, v);
    if (v.destroyed || this.isDeleted(v)) return { status: 404, data: { data: null, metadata } };
    return { data: { data: clone(v.data ?? {}), metadata } };
  }

  private checkCas(ctx: RequestContext, s: Secret): void {
    const options = ctx.data.options;
    if (isObject(options) && options.cas !== undefined) {
      const cas = Number(options.cas);
      if (!Number.isInteger(cas)) throw badRequest("error parsing check-and-set parameter");
      if (cas !== s.current) throw badRequest("check-and-set parameter did not match the current version");
    } else if (this.config.casRequired || s.casRequired) {
      throw badRequest("check-and-set parameter required for this call");
    }
  }

  /** When a new version is deleted automatically: the shorter of the mount's and the key's setting. */
  private autoDeletion(s: Secret, from: number): number | null {
    const mount = this.config.deleteVersionAfter;
    if (mount < 0 || (mount === 0 && s.deleteVersionAfter === 0)) return null;
    let after = s.deleteVersionAfter;
    if ((mount !== 0 && mount < after) || after === 0) after = mount;
    return from + after * 1000;
  }

  /** Adds the next version and trims the oldest ones beyond max_versions. */
  private addVersion(s: Secret, data: Json): Version {
    const now = Date.now();
    const v: Version = {
      created: now,
      deletion: this.autoDeletion(s, now),
      destroyed: false,
      data: clone(data),
    };
    s.current += 1;
    s.versions.set(s.current, v);
    s.updated = now;
    s.created ??= now;
    const max = Math.max(s.maxVersions, this.config.maxVersions) || DEFAULT_MAX_VERSIONS;
    if (s.current - s.oldest >= max) {
      const last = s.current - max;
      for (let i = s.oldest; i <= last; i++) s.versions.delete(i);
      s.oldest = last + 1;
    }
    return v;
  }

  private newSecret(): Secret {
    return {
      current: 0,
      oldest: 0,
      created: null,
      updated: null,
      maxVersions: 0,
      casRequired: false,
      deleteVersionAfter: 0,
      customMetadata: null,
      versions: new Map(),
    };
  }

  private versionEvent(
    ctx: RequestContext,
    op: string,
    s: Secret,
    path: string,
    dataPath: string,
    extra = {},
  ) {
    ctx.emit(`kv-v2/${op}`, {
      modified: "true",
      operation: op,
      path,
      ...(dataPath ? { data_path: dataPath } : {}),
      current_version: String(s.current),
      oldest_version: String(s.oldest),
      ...extra,
    });
  }

  private write(key: string, ctx: RequestContext): Result {
    const data = ctx.data.data;
    if (!isObject(data)) throw badRequest("no data provided");
    const s = this.secrets.get(key) ?? this.newSecret();
    this.checkCas(ctx, s);
    this.secrets.set(key, s);
    const v = this.addVersion(s, data);
    this.versionEvent(ctx, "data-write", s, `data/${key}`, `data/${key}`);
    return { data: this.versionMetadata(s, s.current, v) };
  }

  private patch(key: string, ctx: RequestContext): Result {
    const patch = ctx.data.data;
    if (!isObject(patch)) throw badRequest("no data provided");
    const s = this.secrets.get(key);
    const current = s?.versions.get(s.current);
    if (!s || !current) throw notFound();
    this.checkCas(ctx, s);
    if (current.destroyed || this.isDeleted(current)) {
      return { status: 404, data: this.versionMetadata(s, s.current, current) };
    }
    const v = this.addVersion(s, mergePatch(current.data, patch) as Json);
    this.versionEvent(ctx, "data-patch", s, `data/${key}`, `data/${key}`);
    return { data: this.versionMetadata(s, s.current, v) };
  }

  private deleteLatest(key: string, ctx: RequestContext): Result {
    const s = this.secrets.get(key);
    const latest = s?.versions.get(s.current);
    if (!s || !latest || latest.destroyed || this.isDeleted(latest)) return noContent();
    latest.deletion = Date.now();
    this.versionEvent(ctx, "data-delete", s, `data/${key}`, "");
    return noContent();
  }

  private changeVersions(area: "delete" | "undelete" | "destroy", key: string, ctx: RequestContext): Result {
    const versions = intListParam(ctx.data, "versions");
    if (versions.length === 0) {
      throw badRequest(area === "destroy" ? "no version number provided" : "No version number provided");
    }
    const s = this.secrets.get(key);
    if (!s) return noContent();
    for (const n of versions) {
      const v = s.versions.get(n);
      if (!v || v.destroyed) continue;
      if (area === "delete" && !this.isDeleted(v)) v.deletion = Date.now();
      if (area === "undelete") v.deletion = this.autoDeletion(s, Date.now());
      if (area === "destroy") {
        v.destroyed = true;
        delete v.data;
      }
    }
    const listed = {
      delete: "deleted_versions",
      undelete: "undeleted_versions",
      destroy: "destroyed_versions",
    }[area];
    this.versionEvent(ctx, area, s, `${area}/${key}`, area === "undelete" ? `data/${key}` : "", {
      [listed]: JSON.stringify(versions),
    });
    return noContent();
  }

  private readMetadata(key: string): Result {
    const s = this.secrets.get(key);
    if (!s) throw notFound();
    const versions: Json = {};
    for (const [n, v] of [...s.versions.entries()].sort(([a], [b]) => a - b)) {
      versions[String(n)] = {
        created_time: rfc3339(v.created),
        deletion_time: v.deletion === null ? "" : rfc3339(v.deletion),
        destroyed: v.destroyed,
      };
    }
    return {
      data: {
        cas_required: s.casRequired,
        created_time: s.created === null ? "" : rfc3339(s.created),
        current_version: s.current,
        custom_metadata: clone(s.customMetadata),
        delete_version_after: formatDuration(s.deleteVersionAfter),
        max_versions: s.maxVersions,
        oldest_version: s.oldest,
        updated_time: s.updated === null ? "" : rfc3339(s.updated),
        versions,
      },
    };
  }

  private casWarning(ctx: RequestContext): string[] | undefined {
    if (
      this.config.casRequired &&
      ctx.data.cas_required !== undefined &&
      !boolParam(ctx.data, "cas_required")
    ) {
      return ['"cas_required" set to false, but is mandated by backend config. This value will be ignored.'];
    }
    return undefined;
  }

  private writeMetadata(key: string, ctx: RequestContext): Result {
    const d = ctx.data;
    const fields = ["max_versions", "cas_required", "delete_version_after", "custom_metadata"];
    if (!fields.some((f) => d[f] !== undefined)) return noContent();
    const custom = d.custom_metadata !== undefined ? customMetadata(d.custom_metadata, false) : undefined;
    const warnings = this.casWarning(ctx);
    let s = this.secrets.get(key);
    if (!s) {
      const now = Date.now();
      s = { ...this.newSecret(), created: now, updated: now };
      this.secrets.set(key, s);
    }
    if (d.max_versions !== undefined) s.maxVersions = intParam(d, "max_versions");
    if (d.cas_required !== undefined) s.casRequired = boolParam(d, "cas_required");
    if (d.delete_version_after !== undefined) s.deleteVersionAfter = durationParam(d, "delete_version_after");
    if (custom) s.customMetadata = custom;
    ctx.emit("kv-v2/metadata-write", {
      modified: "true",
      operation: "metadata-write",
      path: `metadata/${key}`,
      data_path: `metadata/${key}`,
    });
    return warnings ? { warnings } : noContent();
  }

  private patchMetadata(key: string, ctx: RequestContext): Result {
    const d = ctx.data;
    const patch = d.custom_metadata !== undefined ? customMetadata(d.custom_metadata, true) : undefined;
    const s = this.secrets.get(key);
    if (!s) throw notFound();
    const warnings = this.casWarning(ctx);
    if (d.max_versions !== undefined) s.maxVersions = intParam(d, "max_versions");
    if (d.cas_required !== undefined) s.casRequired = boolParam(d, "cas_required");
    if (d.delete_version_after !== undefined) s.deleteVersionAfter = durationParam(d, "delete_version_after");
    if (patch) {
      const merged = mergePatch(s.customMetadata ?? {}, d.custom_metadata) as Record<string, string>;
      s.customMetadata = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, String(v)]));
    }
    ctx.emit("kv-v2/metadata-patch", {
      modified: "true",
      operation: "metadata-patch",
      path: `metadata/${key}`,
      data_path: `metadata/${key}`,
    });
    return warnings ? { warnings } : noContent();
  }

  private deleteMetadata(key: string, ctx: RequestContext): Result {
    if (!this.secrets.delete(key)) return noContent();
    ctx.emit("kv-v2/metadata-delete", {
      modified: "true",
      operation: "metadata-delete",
      path: `metadata/${key}`,
    });
    return noContent();
  }

  private list(prefix: string, ctx: RequestContext): Result {
    let keys = listChildren(this.secrets.keys(), prefix);
    if (boolParam(ctx.data, "exclude_deleted")) {
      keys = keys.filter((k) => {
        const s = this.secrets.get(prefix + k);
        return !s || s.versions.get(s.current)?.deletion == null;
      });
    }
    return listResult(keys);
  }

  private subkeys(key: string, ctx: RequestContext): Result {
    const s = this.secrets.get(key);
    if (!s) throw notFound();
    const n = intParam(ctx.data, "version") || s.current;
    const v = s.versions.get(n);
    if (!v) throw notFound();
    const metadata = this.versionMetadata(s, n, v);
    if (v.destroyed || this.isDeleted(v)) return { status: 404, data: { subkeys: null, metadata } };
    return { data: { metadata, subkeys: subkeys(v.data ?? {}, intParam(ctx.data, "depth")) } };
  }

  private readConfig(): Result {
    return {
      data: {
        cas_required: this.config.casRequired,
        delete_version_after: formatDuration(this.config.deleteVersionAfter),
        max_versions: this.config.maxVersions,
      },
    };
  }

  private writeConfig(ctx: RequestContext): Result {
    const d = ctx.data;
    if (
      d.max_versions === undefined &&
      d.cas_required === undefined &&
      d.delete_version_after === undefined
    ) {
      return noContent();
    }
    if (d.max_versions !== undefined) this.config.maxVersions = intParam(d, "max_versions");
    if (d.cas_required !== undefined) this.config.casRequired = boolParam(d, "cas_required");
    if (d.delete_version_after !== undefined) {
      const after = durationParam(d, "delete_version_after");
      this.config.deleteVersionAfter = after < 0 ? -1 : after;
    }
    ctx.emit("kv-v2/config-write", {
      modified: "true",
      operation: "config-write",
      path: "config",
      data_path: "config",
    });
    return noContent();
  }
}

export class KvV1 implements Backend {
  private secrets = new Map<string, Json>();

  route(op: Operation, subPath: string): Handler {
    if (op === "list")
      return { name: "kv1.list", run: () => listResult(listChildren(this.secrets.keys(), subPath)) };
    if (subPath === "" || subPath.endsWith("/")) throw unsupportedOperation();
    if (op === "read") return { name: "kv1.read", run: () => this.read(subPath) };
    if (op === "create" || op === "update") {
      return {
        name: "kv1.write",
        exists: () => this.secrets.has(subPath),
        run: (ctx) => this.write(subPath, ctx),
      };
    }
    if (op === "delete") return { name: "kv1.delete", run: (ctx) => this.delete(subPath, ctx) };
    throw unsupportedOperation();
  }

  private read(key: string): Result {
    const data = this.secrets.get(key);
    if (!data) throw notFound();
    // KV v1 reads carry a lease: the secret's own "ttl" key, or the mount default.
    const ttl = data.ttl !== undefined ? durationParam(data, "ttl") : SYSTEM_MAX_TTL;
    return { data: clone(data), leaseDuration: ttl };
  }

  private write(key: string, ctx: RequestContext): Result {
    if (Object.keys(ctx.data).length === 0) throw badRequest("missing data fields");
    this.secrets.set(key, clone(ctx.data));
    ctx.emit("kv-v1/write", { modified: "true", operation: "write", path: key, data_path: key });
    return noContent();
  }

  private delete(key: string, ctx: RequestContext): Result {
    this.secrets.delete(key);
    ctx.emit("kv-v1/delete", { modified: "true", operation: "delete", path: key });
    return noContent();
  }
}
