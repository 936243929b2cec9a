/**
 * Change events as queue messages carry them: one VaultChangeEvent per message body, as JSON.
 * Every platform's push worker (SQS, Pub/Sub, Service Bus) reads them with `parseChangeEvent`
 * and folds a batch with `newestOf` before pushing.
 */
import { isObject, isRfc3339, type ChangeOperation, type VaultChangeEvent } from "../events/types.ts";

const OPERATIONS = new Set<string>([
  "write",
  "patch",
  "delete",
  "undelete",
  "destroy",
  "metadata-write",
  "metadata-patch",
  "metadata-delete",
] satisfies ChangeOperation[]);

/** The event in a message body, or why it is not one (naming the field, never quoting the body). */
export function parseChangeEvent(body: string): { event: VaultChangeEvent } | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return { error: `the body is not JSON (${body.length} characters)` };
  }
  return toChangeEvent(v);
}

/** The event a parsed JSON value holds, or why it is not one. */
export function toChangeEvent(v: unknown): { event: VaultChangeEvent } | { error: string } {
  if (!isObject(v)) return { error: "the body is not a JSON object" };
  for (const field of ["id", "mount", "path"] as const) {
    if (typeof v[field] !== "string" || v[field] === "")
      return { error: `${field}: a non-empty string is required` };
  }
  if (typeof v.namespace !== "string") return { error: "namespace: a string is required" };
  if (typeof v.operation !== "string" || !OPERATIONS.has(v.operation)) {
    return { error: `operation: one of ${[...OPERATIONS].join(", ")} is required` };
  }
  if (v.version !== undefined && !(Number.isSafeInteger(v.version) && (v.version as number) >= 0)) {
    return { error: "version: a non-negative integer is required when present" };
  }
  if (typeof v.time !== "string" || !isRfc3339(v.time))
    return { error: "time: an RFC 3339 timestamp is required" };
  if (v.source !== "audit" && v.source !== "events")
    return { error: 'source: "audit" or "events" is required' };
  return {
    event: {
      id: v.id as string,
      mount: v.mount as string,
      path: v.path as string,
      ...(v.version !== undefined ? { version: v.version as number } : {}),
      operation: v.operation as ChangeOperation,
      namespace: v.namespace,
      time: v.time,
      source: v.source,
    },
  };
}

/**
 * One event standing for several events of the same secret, in arrival order: the last one,
 * carrying the highest version any of them names (a push then waits until Vault has at least
 * that version).
 */
export function newestOf(events: VaultChangeEvent[]): VaultChangeEvent {
  const last = events[events.length - 1];
  if (!last) throw new RangeError("newestOf needs at least one event");
  const versions = events.flatMap((e) => (e.version === undefined ? [] : [e.version]));
  const { version: _ignored, ...rest } = last;
  return versions.length > 0 ? { ...rest, version: Math.max(...versions) } : rest;
}
