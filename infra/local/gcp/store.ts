/**
 * The local GCP's Secret Manager model: secrets, versions, their states and the rules Google
 * enforces (ids, labels, annotations, aliases, 64 KiB payloads, CRC32C, etags). Pure and in memory;
 * server.ts turns HTTP requests into calls here and GcpApiError into Google's error bodies.
 *
 * Resources render as proto3 JSON (camelCase, int64 as strings, RFC 3339 timestamps with nanos),
 * named with the project number whatever project id the request used.
 */
import { crc32c } from "../../../shared/providers/gcp-secret-manager/crc32c.ts";
import { compileFilter, FilterError, type Predicate } from "./filter.ts";

export type RpcStatus =
  | "INVALID_ARGUMENT"
  | "FAILED_PRECONDITION"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "PERMISSION_DENIED"
  | "UNAUTHENTICATED"
  | "ABORTED"
  | "RESOURCE_EXHAUSTED"
  | "UNIMPLEMENTED"
  | "INTERNAL"
  | "UNAVAILABLE"
  | "DEADLINE_EXCEEDED";

/** HTTP status Google's REST front end uses for each RPC status. */
export const httpStatusOf: Record<RpcStatus, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  PERMISSION_DENIED: 403,
  UNAUTHENTICATED: 401,
  ABORTED: 409,
  RESOURCE_EXHAUSTED: 429,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

export class GcpApiError extends Error {
  constructor(
    readonly status: RpcStatus,
    message: string,
  ) {
    super(message);
  }
}

export type VersionState = "ENABLED" | "DISABLED" | "DESTROYED";
const stateNumber: Record<VersionState, number> = { ENABLED: 1, DISABLED: 2, DESTROYED: 3 };

export const MAX_PAYLOAD_BYTES = 64 * 1024;
const MAX_LABELS = 64;
const MAX_ALIASES = 50;
const MAX_ANNOTATION_BYTES = 16 * 1024;
/** Google caps pageSize at 25,000. */
const MAX_PAGE_SIZE = 25_000;
const DEFAULT_PAGE_SIZE = 100;
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;
const ANNOTATION_KEY = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const ALIAS = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

type Json = Record<string, unknown>;

interface VersionRecord {
  number: number;
  createTime: string;
  state: VersionState;
  data?: Buffer;
  etag: string;
  clientSpecifiedPayloadChecksum: boolean;
  destroyTime?: string;
  scheduledDestroyTime?: string;
}

interface SecretRecord {
  id: string;
  location?: string;
  createTime: string;
  etag: string;
  replication?: Json;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  versionAliases: Record<string, number>;
  /** Fields kept as sent and echoed back (topics, rotation, expireTime, ...). */
  extra: Json;
  versions: VersionRecord[];
}

/** Where a secret lives: global (`projects/P/secrets/S`) or regional (`projects/P/locations/L/secrets/S`). */
export interface SecretRef {
  location?: string;
  secret: string;
}

export interface ListOptions {
  filter?: string;
  pageSize?: number;
  pageToken?: string;
}

export interface RenderOptions {
  /** `$alt=json;enum-encoding=int`: enums as numbers (what the Node client asks for in REST mode). */
  enumsAsInt: boolean;
}

let clock = 0n;
/** RFC 3339 with nanoseconds, strictly increasing so that create_time orders resources. */
function now(): string {
  let ns = BigInt(Date.now()) * 1_000_000n;
  if (ns <= clock) ns = clock + 1000n;
  clock = ns;
  const ms = Number(ns / 1_000_000n);
  const iso = new Date(ms).toISOString().slice(0, 19);
  return `${iso}.${(ns % 1_000_000_000n).toString().padStart(9, "0")}Z`;
}

let etagCounter = 0;
/** Etags are quoted strings, as AIP-154 and Secret Manager's docs say. */
function newEtag(): string {
  etagCounter += 1;
  return `"${(Date.now() * 1000 + (etagCounter % 1000)).toString(16)}"`;
}

function invalid(message: string): GcpApiError {
  return new GcpApiError("INVALID_ARGUMENT", message);
}

function isRecord(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw invalid(`Invalid value at '${field}': expected a map of strings.`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw invalid(`Invalid value at '${field}[${k}]': expected a string.`);
    out[k] = v;
  }
  return out;
}

function checkLabels(labels: Record<string, string>): void {
  const keys = Object.keys(labels);
  if (keys.length > MAX_LABELS) throw invalid(`A secret can have at most ${MAX_LABELS} labels.`);
  for (const k of keys) {
    if (!LABEL_KEY.test(k) || Buffer.byteLength(k) > 128) throw invalid(`Label key [${k}] is invalid.`);
    if (!LABEL_VALUE.test(labels[k]!) || Buffer.byteLength(labels[k]!) > 128) {
      throw invalid(`Label value for key [${k}] is invalid.`);
    }
  }
}

function checkAnnotations(annotations: Record<string, string>): void {
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    if (!ANNOTATION_KEY.test(k) || Buffer.byteLength(k) > 128)
      throw invalid(`Annotation key [${k}] is invalid.`);
    total += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (total >= MAX_ANNOTATION_BYTES) {
    throw invalid(
      `The total size of annotation keys and values must be less than 16KiB (got ${total} bytes).`,
    );
  }
}

function int64(value: unknown, field: string): number {
  const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n))
    throw invalid(`Invalid value at '${field}': expected an int64.`);
  return n;
}

function durationSeconds(value: unknown, field: string): number {
  const m = typeof value === "string" ? /^(\d+(?:\.\d+)?)s$/.exec(value) : null;
  if (!m) throw invalid(`Invalid value at '${field}': expected a duration such as "3600s".`);
  return Number(m[1]);
}

function timestamp(value: unknown, field: string): string {
  if (typeof value !== "string" || Number.isNaN(Date.parse(value))) {
    throw invalid(`Invalid value at '${field}': expected an RFC 3339 timestamp.`);
  }
  return value;
}

function checkReplication(value: unknown, regional: boolean): Json | undefined {
  if (regional) {
    if (value !== undefined) throw invalid("Replication must not be set on regional secrets.");
    return undefined;
  }
  if (!isRecord(value)) throw invalid("Secret.replication is required.");
  const kinds = ["automatic", "userManaged"].filter((k) => value[k] !== undefined);
  if (kinds.length !== 1 || Object.keys(value).length !== 1) {
    throw invalid("Secret.replication must set exactly one of automatic or userManaged.");
  }
  const managed = value.userManaged;
  if (managed !== undefined) {
    const replicas = isRecord(managed) ? managed.replicas : undefined;
    if (!Array.isArray(replicas) || replicas.length === 0) {
      throw invalid("Secret.replication.userManaged.replicas must list at least one location.");
    }
    const seen = new Set<string>();
    for (const r of replicas) {
      const loc = isRecord(r) ? r.location : undefined;
      if (typeof loc !== "string" || !/^[a-z]+-[a-z]+\d+$/.test(loc)) {
        throw invalid(`Replica location [${String(loc)}] is invalid.`);
      }
      if (seen.has(loc)) throw invalid(`Replica location [${loc}] is listed twice.`);
      seen.add(loc);
    }
  }
  return value;
}

/** Fields of Secret a client may send; the rest of proto3 JSON is rejected as Google does. */
const SECRET_FIELDS = new Set([
  "name",
  "replication",
  "createTime",
  "labels",
  "topics",
  "expireTime",
  "ttl",
  "etag",
  "rotation",
  "versionAliases",
  "annotations",
  "versionDestroyTtl",
  "customerManagedEncryption",
  "tags",
  "secretType",
  "policyMember",
]);

/** Secret fields kept as sent and echoed back. */
const EXTRA_FIELDS = [
  "topics",
  "expireTime",
  "ttl",
  "rotation",
  "versionDestroyTtl",
  "customerManagedEncryption",
  "secretType",
];

/** UpdateSecret mask paths (snake_case, as FieldMask paths are) and the Secret field each one sets. */
const UPDATABLE: Record<string, string> = {
  labels: "labels",
  annotations: "annotations",
  version_aliases: "versionAliases",
  topics: "topics",
  expire_time: "expireTime",
  ttl: "ttl",
  rotation: "rotation",
  version_destroy_ttl: "versionDestroyTtl",
  customer_managed_encryption: "customerManagedEncryption",
};

function snake(path: string): string {
  return path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function secretFilterField(field: string): string | undefined {
  const f = snake(field);
  if (["name", "create_time", "replication.automatic", "replication.user_managed"].includes(f)) return f;
  if (f === "replication.user_managed.replicas.location") return f;
  if (/^labels\.[^.]+$/.test(field)) return field;
  return undefined;
}

function versionFilterField(field: string): string | undefined {
  const f = snake(field);
  return ["name", "state", "create_time"].includes(f) ? f : undefined;
}

function page<T>(
  items: T[],
  options: ListOptions,
  maxPageSize: number,
): { items: T[]; nextPageToken?: string } {
  const size = options.pageSize === undefined || options.pageSize <= 0 ? DEFAULT_PAGE_SIZE : options.pageSize;
  let start = 0;
  if (options.pageToken) {
    const decoded = Buffer.from(options.pageToken, "base64url").toString();
    start = /^offset:\d+$/.test(decoded) ? Number(decoded.slice(7)) : -1;
    if (start < 0 || start > items.length) throw invalid("The page token is invalid.");
  }
  const end = start + Math.min(size, maxPageSize);
  return {
    items: items.slice(start, end),
    ...(end < items.length ? { nextPageToken: Buffer.from(`offset:${end}`).toString("base64url") } : {}),
  };
}

export class SecretManagerState {
  private secrets = new Map<string, SecretRecord>();

  constructor(
    private readonly projectNumber: string,
    private readonly maxPageSize = MAX_PAGE_SIZE,
  ) {}

  secretName(ref: SecretRef): string {
    const loc = ref.location ? `/locations/${ref.location}` : "";
    return `projects/${this.projectNumber}${loc}/secrets/${ref.secret}`;
  }

  private key(ref: SecretRef): string {
    return `${ref.location ?? ""}/${ref.secret}`;
  }

  private find(ref: SecretRef, notFoundSuffix = "not found."): SecretRecord {
    const s = this.secrets.get(this.key(ref));
    if (!s) throw new GcpApiError("NOT_FOUND", `Secret [${this.secretName(ref)}] ${notFoundSuffix}`);
    return s;
  }

  /** Resolves a version id: a number, `latest` (the most recently created version) or an alias. */
  private findVersion(s: SecretRecord, ref: SecretRef, id: string): VersionRecord {
    let n: number | undefined;
    if (id === "latest") {
      n = s.versions.length;
      if (n === 0)
        throw new GcpApiError("NOT_FOUND", `Secret [${this.secretName(ref)}] not found or has no versions.`);
    } else if (/^\d+$/.test(id)) {
      n = Number(id);
    } else {
      n = s.versionAliases[id];
    }
    const v = n === undefined ? undefined : s.versions[n - 1];
    if (!v) {
      throw new GcpApiError(
        "NOT_FOUND",
        `Secret Version [${this.secretName(ref)}/versions/${id}] not found.`,
      );
    }
    return v;
  }

  createSecret(ref: SecretRef, body: Json): Json {
    if (!SECRET_ID.test(ref.secret)) {
      throw invalid(
        `Secret id [${ref.secret}] is invalid: use 1 to 255 letters, digits, hyphens and underscores.`,
      );
    }
    for (const k of Object.keys(body)) {
      if (!SECRET_FIELDS.has(k))
        throw invalid(`Invalid JSON payload received. Unknown name "${k}" at 'secret'.`);
    }
    if (this.secrets.has(this.key(ref))) {
      throw new GcpApiError("ALREADY_EXISTS", `Secret [${this.secretName(ref)}] already exists.`);
    }
    const labels = stringMap(body.labels, "secret.labels");
    const annotations = stringMap(body.annotations, "secret.annotations");
    checkLabels(labels);
    checkAnnotations(annotations);
    if (isRecord(body.versionAliases) && Object.keys(body.versionAliases).length > 0) {
      throw invalid("Version aliases can only name existing versions; a new secret has none.");
    }
    const record: SecretRecord = {
      id: ref.secret,
      ...(ref.location ? { location: ref.location } : {}),
      createTime: now(),
      etag: newEtag(),
      replication: checkReplication(body.replication, ref.location !== undefined),
      labels,
      annotations,
      versionAliases: {},
      extra: {},
      versions: [],
    };
    this.applyExtras(record, body, EXTRA_FIELDS);
    this.secrets.set(this.key(ref), record);
    return this.renderSecret(record);
  }

  private applyExtras(record: SecretRecord, body: Json, fields: string[]): void {
    for (const f of fields) {
      const value = body[f];
      if (f === "ttl") {
        if (value !== undefined) {
          const seconds = durationSeconds(value, "secret.ttl");
          record.extra.expireTime = new Date(Date.now() + seconds * 1000).toISOString();
        }
        continue;
      }
      if (value === undefined || value === null) {
        delete record.extra[f];
        continue;
      }
      if (f === "expireTime") timestamp(value, "secret.expireTime");
      if (f === "versionDestroyTtl") durationSeconds(value, "secret.versionDestroyTtl");
      if (f === "topics" && (!Array.isArray(value) || value.length > 10)) {
        throw invalid("Secret.topics must be a list of at most 10 topics.");
      }
      record.extra[f] = value;
    }
  }

  getSecret(ref: SecretRef): Json {
    return this.renderSecret(this.find(ref));
  }

  listSecrets(
    location: string | undefined,
    options: ListOptions,
  ): { secrets: Json[]; nextPageToken?: string; totalSize: number } {
    const predicate = this.compile(options.filter, secretFilterField);
    const all = [...this.secrets.values()]
      .filter((s) => s.location === location)
      .sort((a, b) => b.createTime.localeCompare(a.createTime));
    const matching = all.filter((s) => predicate((field) => this.secretField(s, field)));
    const p = page(matching, options, this.maxPageSize);
    return {
      secrets: p.items.map((s) => this.renderSecret(s)),
      ...(p.nextPageToken ? { nextPageToken: p.nextPageToken } : {}),
      // As documented: the total number of secrets, but 0 when a filter is set.
      totalSize: options.filter ? 0 : all.length,
    };
  }

  private compile(filter: string | undefined, known: (f: string) => string | undefined): Predicate {
    try {
      return compileFilter(filter ?? "", known);
    } catch (err) {
      if (err instanceof FilterError) throw invalid(`Invalid filter [${filter}]: ${err.message}`);
      throw err;
    }
  }

  private secretField(s: SecretRecord, field: string): string[] {
    const ref: SecretRef = { secret: s.id, ...(s.location ? { location: s.location } : {}) };
    if (field === "name") return [this.secretName(ref)];
    if (field === "create_time") return [s.createTime];
    if (field.startsWith("labels.")) {
      const v = s.labels[field.slice(7)];
      return v === undefined ? [] : [v];
    }
    const automatic = s.replication?.automatic;
    const managed = s.replication?.userManaged as { replicas?: { location?: string }[] } | undefined;
    if (field === "replication.automatic") return automatic ? [""] : [];
    if (field === "replication.user_managed") return managed ? [""] : [];
    return (managed?.replicas ?? []).map((r) => r.location ?? "");
  }

  updateSecret(ref: SecretRef, body: Json, updateMask: string | undefined): Json {
    const s = this.find(ref);
    const paths = (updateMask ?? "")
      .split(",")
      .map((p) => snake(p.trim()))
      .filter((p) => p !== "");
    if (paths.length === 0) throw invalid("update_mask is required and must name at least one field.");
    for (const p of paths) {
      if (!(p in UPDATABLE)) throw invalid(`update_mask path [${p}] cannot be updated.`);
    }
    if (typeof body.etag === "string" && body.etag !== "" && body.etag !== s.etag) {
      throw new GcpApiError(
        "FAILED_PRECONDITION",
        `The etag provided in the request does not match the etag of Secret [${this.secretName(ref)}].`,
      );
    }
    // Validate everything before changing anything, so a rejected update leaves the secret as it was.
    const labels = paths.includes("labels") ? stringMap(body.labels, "secret.labels") : s.labels;
    const annotations = paths.includes("annotations")
      ? stringMap(body.annotations, "secret.annotations")
      : s.annotations;
    checkLabels(labels);
    checkAnnotations(annotations);
    let aliases = s.versionAliases;
    if (paths.includes("version_aliases")) {
      aliases = {};
      const raw = isRecord(body.versionAliases) ? body.versionAliases : {};
      if (Object.keys(raw).length > MAX_ALIASES)
        throw invalid(`A secret can have at most ${MAX_ALIASES} aliases.`);
      for (const [alias, value] of Object.entries(raw)) {
        const n = int64(value, `secret.versionAliases[${alias}]`);
        if (!ALIAS.test(alias) || alias === "latest" || alias === "NEW")
          throw invalid(`Alias [${alias}] is invalid.`);
        const v = s.versions[n - 1];
        if (!v || v.state === "DESTROYED")
          throw invalid(`Alias [${alias}] names version ${n}, which does not exist.`);
        aliases[alias] = n;
      }
    }
    const extra = { ...s.extra };
    const scratch = { ...s, extra };
    this.applyExtras(
      scratch,
      body,
      paths
        .filter((p) => !["labels", "annotations", "version_aliases"].includes(p))
        .map((p) => UPDATABLE[p]!),
    );
    Object.assign(s, { labels, annotations, versionAliases: aliases, extra, etag: newEtag() });
    return this.renderSecret(s);
  }

  deleteSecret(ref: SecretRef, etag: string | undefined): void {
    const s = this.find(ref);
    if (etag && etag !== s.etag) {
      throw new GcpApiError(
        "FAILED_PRECONDITION",
        `The etag provided in the request does not match the etag of Secret [${this.secretName(ref)}].`,
      );
    }
    this.secrets.delete(this.key(ref));
  }

  addVersion(ref: SecretRef, body: Json, options: RenderOptions): Json {
    const s = this.find(ref);
    const payload = body.payload;
    if (!isRecord(payload)) throw invalid("AddSecretVersionRequest.payload is required.");
    const raw = payload.data ?? "";
    if (typeof raw !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(raw)) {
      throw invalid("Invalid value at 'payload.data': expected base64.");
    }
    const data = Buffer.from(raw, raw.includes("-") || raw.includes("_") ? "base64url" : "base64");
    if (data.length > MAX_PAYLOAD_BYTES) {
      throw invalid(`Secret Payload cannot be larger than 64KiB (got ${data.length} bytes).`);
    }
    const hasChecksum = payload.dataCrc32c !== undefined && payload.dataCrc32c !== null;
    if (hasChecksum && int64(payload.dataCrc32c, "payload.dataCrc32c") !== crc32c(data)) {
      throw invalid(
        "Data integrity check failed: payload.dataCrc32c does not match the CRC32C of payload.data.",
      );
    }
    const v: VersionRecord = {
      number: s.versions.length + 1,
      createTime: now(),
      state: "ENABLED",
      data,
      etag: newEtag(),
      clientSpecifiedPayloadChecksum: hasChecksum,
    };
    s.versions.push(v);
    return this.renderVersion(s, v, options);
  }

  getVersion(ref: SecretRef, id: string, options: RenderOptions): Json {
    const s = this.find(ref);
    return this.renderVersion(s, this.findVersion(s, ref, id), options);
  }

  listVersions(
    ref: SecretRef,
    options: ListOptions,
    render: RenderOptions,
  ): { versions: Json[]; nextPageToken?: string; totalSize: number } {
    const s = this.find(ref);
    const predicate = this.compile(options.filter, versionFilterField);
    const newestFirst = [...s.versions].reverse();
    const matching = newestFirst.filter((v) =>
      predicate((field) =>
        field === "name"
          ? [`${this.secretName(ref)}/versions/${v.number}`]
          : field === "state"
            ? [v.state]
            : [v.createTime],
      ),
    );
    const p = page(matching, options, this.maxPageSize);
    return {
      versions: p.items.map((v) => this.renderVersion(s, v, render)),
      ...(p.nextPageToken ? { nextPageToken: p.nextPageToken } : {}),
      totalSize: options.filter ? 0 : s.versions.length,
    };
  }

  access(ref: SecretRef, id: string): Json {
    const s = this.find(ref, "not found or has no versions.");
    const v = this.findVersion(s, ref, id);
    const name = `${this.secretName(ref)}/versions/${v.number}`;
    if (v.state !== "ENABLED" || !v.data) {
      throw new GcpApiError("FAILED_PRECONDITION", `Secret Version [${name}] is in ${v.state} state.`);
    }
    return { name, payload: { data: v.data.toString("base64"), dataCrc32c: String(crc32c(v.data)) } };
  }

  /** DisableSecretVersion, EnableSecretVersion and DestroySecretVersion. */
  changeVersionState(
    ref: SecretRef,
    id: string,
    action: "disable" | "enable" | "destroy",
    etag: string | undefined,
    options: RenderOptions,
  ): Json {
    const s = this.find(ref);
    const v = this.findVersion(s, ref, id);
    const name = `${this.secretName(ref)}/versions/${v.number}`;
    if (etag && etag !== v.etag) {
      throw new GcpApiError(
        "FAILED_PRECONDITION",
        `The etag provided in the request does not match the etag of Secret Version [${name}].`,
      );
    }
    if (v.state === "DESTROYED") {
      throw new GcpApiError("FAILED_PRECONDITION", `Secret Version [${name}] is in DESTROYED state.`);
    }
    if (action === "enable") v.state = "ENABLED";
    if (action === "disable") v.state = "DISABLED";
    if (action === "destroy") {
      const ttl = s.extra.versionDestroyTtl;
      if (ttl !== undefined) {
        // Delayed destruction: the version is disabled now and destroyed at the end of the TTL.
        v.state = "DISABLED";
        v.scheduledDestroyTime = new Date(
          Date.now() + durationSeconds(ttl, "versionDestroyTtl") * 1000,
        ).toISOString();
      } else {
        v.state = "DESTROYED";
        v.destroyTime = now();
        delete v.data;
        for (const [alias, n] of Object.entries(s.versionAliases))
          if (n === v.number) delete s.versionAliases[alias];
      }
    }
    v.etag = newEtag();
    return this.renderVersion(s, v, options);
  }

  private renderSecret(s: SecretRecord): Json {
    const ref: SecretRef = { secret: s.id, ...(s.location ? { location: s.location } : {}) };
    const nonEmpty = (m: Record<string, unknown>) => (Object.keys(m).length > 0 ? m : undefined);
    const aliases = Object.fromEntries(Object.entries(s.versionAliases).map(([k, n]) => [k, String(n)]));
    return {
      name: this.secretName(ref),
      ...(s.replication ? { replication: s.replication } : {}),
      createTime: s.createTime,
      ...(nonEmpty(s.labels) ? { labels: s.labels } : {}),
      etag: s.etag,
      ...(nonEmpty(aliases) ? { versionAliases: aliases } : {}),
      ...(nonEmpty(s.annotations) ? { annotations: s.annotations } : {}),
      ...s.extra,
    };
  }

  private renderVersion(s: SecretRecord, v: VersionRecord, options: RenderOptions): Json {
    const ref: SecretRef = { secret: s.id, ...(s.location ? { location: s.location } : {}) };
    const managed = s.replication?.userManaged as { replicas?: { location?: string }[] } | undefined;
    const replicationStatus = s.replication
      ? managed
        ? { userManaged: { replicas: (managed.replicas ?? []).map((r) => ({ location: r.location })) } }
        : { automatic: {} }
      : undefined;
    return {
      name: `${this.secretName(ref)}/versions/${v.number}`,
      createTime: v.createTime,
      ...(v.destroyTime ? { destroyTime: v.destroyTime } : {}),
      state: options.enumsAsInt ? stateNumber[v.state] : v.state,
      ...(replicationStatus ? { replicationStatus } : {}),
      etag: v.etag,
      ...(v.clientSpecifiedPayloadChecksum ? { clientSpecifiedPayloadChecksum: true } : {}),
      ...(v.scheduledDestroyTime ? { scheduledDestroyTime: v.scheduledDestroyTime } : {}),
    };
  }
}
