/**
 * The one event model for "a secret in Vault changed". Both Vault sources (audit device entries
 * and event notifications) are parsed into it; the path index, the buffer and every sink use it.
 *
 * An event carries where and what kind of change, never a value: consumers read the secret
 * from Vault themselves.
 */

export type ChangeOperation =
  | "write"
  | "patch"
  | "delete"
  | "undelete"
  | "destroy"
  | "metadata-write"
  | "metadata-patch"
  | "metadata-delete";

export interface VaultChangeEvent {
  /** Vault's id for the change: the request id (audit) or the event id (event notifications). */
  id: string;
  /** KV mount without slashes at either end, e.g. "secret" or "team/kv". */
  mount: string;
  /** Path inside the mount, without the KV v2 "data/"/"metadata/"/... segment, e.g. "app/db". */
  path: string;
  /** The secret's current KV v2 version after the change, when the source tells it. */
  version?: number;
  operation: ChangeOperation;
  /** Vault namespace without slashes at either end; "" for the root namespace. */
  namespace: string;
  /** When Vault recorded the change (RFC 3339). */
  time: string;
  source: "audit" | "events";
}

/** Why a line or message did not become an event. A small fixed set, so it can label a metric. */
export type SkipReason =
  /** Not JSON, or a required field is missing or has the wrong type. */
  | "malformed"
  /** Audit: a request entry (only responses say the change happened). */
  | "not-response"
  /** Audit: the request failed. */
  | "failed"
  /** Not on a KV mount. */
  | "not-kv"
  /** A KV request or event that changes no secret (read, list, config, subkeys...). */
  | "not-a-change";

export type ParseResult = { event: VaultChangeEvent } | { skip: SkipReason; detail: string };

/** "a/b/" and "/a/b" both become "a/b". */
export function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, "");
}

/** The key under which events for one secret coalesce and are indexed. */
export function secretKey(namespace: string, mount: string, path: string): string {
  return `${namespace}\u0000${mount}\u0000${path}`;
}

/** The first segment of a KV v2 API path inside the mount: "data/app/db" → segment "data", path "app/db". */
export type KvV2Segment = "data" | "metadata" | "delete" | "undelete" | "destroy";
const v2Segments = new Set<string>(["data", "metadata", "delete", "undelete", "destroy"]);

export function splitKvV2Path(inMount: string): { segment: KvV2Segment; path: string } | undefined {
  const slash = inMount.indexOf("/");
  if (slash < 0) return undefined;
  const segment = inMount.slice(0, slash);
  const path = trimSlashes(inMount.slice(slash + 1));
  if (!v2Segments.has(segment) || path === "") return undefined;
  return { segment: segment as KvV2Segment, path };
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function isRfc3339(s: string): boolean {
  return rfc3339.test(s) && !Number.isNaN(Date.parse(s));
}

export function skip(reason: SkipReason, detail: string): ParseResult {
  return { skip: reason, detail };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
