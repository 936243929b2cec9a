/**
 * Turns Vault event notifications (CloudEvents JSON from
 * /v1/sys/events/subscribe/<type>?json=true) into change events.
 *
 * Layout sent by Vault (the kv plugin fills `metadata`, all values are strings):
 *   id, time                          CloudEvents id and RFC 3339 time
 *   data.event_type                   "kv-v2/data-write", "kv-v1/delete", ...
 *   data.namespace                    "" or absent for root, "team-a/" otherwise
 *   data.plugin_info.mount_path       "secret/"
 *   data.event.metadata.path          "secret/data/app/db": Vault prepends the mount path; releases
 *                                     before that sent "data/app/db", which is accepted too
 *   data.event.metadata.current_version, .oldest_version, .modified ("true"/"false"), .operation, .data_path
 *
 * The kv plugin's event types: kv-v2/data-write, data-patch, data-delete, delete, undelete,
 * destroy, metadata-write, metadata-patch, metadata-delete, config-write, metadata-read;
 * kv-v1/write, kv-v1/delete. The last two kv-v2 ones change no secret and are skipped.
 */
import { Counters } from "../observability/counters.ts";
import type { ChangeOperation, ParseResult } from "./types.ts";
import { isObject, isRfc3339, skip, splitKvV2Path, trimSlashes } from "./types.ts";

const operations: Partial<Record<string, ChangeOperation>> = {
  "kv-v2/data-write": "write",
  "kv-v2/data-patch": "patch",
  "kv-v2/data-delete": "delete",
  "kv-v2/delete": "delete",
  "kv-v2/undelete": "undelete",
  "kv-v2/destroy": "destroy",
  "kv-v2/metadata-write": "metadata-write",
  "kv-v2/metadata-patch": "metadata-patch",
  "kv-v2/metadata-delete": "metadata-delete",
  "kv-v1/write": "write",
  "kv-v1/delete": "delete",
};

export interface CloudEventParserOptions {
  /** Clock for events without `time` (tests). */
  now?: () => Date;
}

export class CloudEventParser {
  /** Skipped messages by reason. */
  readonly skipped = new Counters();
  private readonly now: () => Date;

  constructor(options: CloudEventParserOptions = {}) {
    this.now = options.now ?? (() => new Date());
  }

  /** Never throws: anything that is not a KV change comes back as a skip with a reason. */
  parse(text: string): ParseResult {
    const result = this.parseMessage(text);
    if ("skip" in result) this.skipped.add(result.skip);
    return result;
  }

  private parseMessage(text: string): ParseResult {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return skip("malformed", "message is not JSON");
    }
    if (!isObject(msg)) return skip("malformed", "message is not a JSON object");
    if (typeof msg.id !== "string" || msg.id === "")
      return skip("malformed", "id is missing or not a string");
    const time = msg.time;
    if (time !== undefined && (typeof time !== "string" || !isRfc3339(time)))
      return skip("malformed", "time is not an RFC 3339 timestamp");
    const data = msg.data;
    if (!isObject(data)) return skip("malformed", "data is missing or not an object");
    if (typeof data.event_type !== "string")
      return skip("malformed", "data.event_type is missing or not a string");
    const eventType = data.event_type;
    if (!eventType.startsWith("kv-v1/") && !eventType.startsWith("kv-v2/"))
      return skip("not-kv", "event type is not from the kv plugin");
    if (data.namespace !== undefined && typeof data.namespace !== "string")
      return skip("malformed", "data.namespace is not a string");
    const namespace = trimSlashes((data.namespace as string | undefined) ?? "");

    const event = data.event;
    if (!isObject(event) || !isObject(event.metadata))
      return skip("malformed", "data.event.metadata is missing or not an object");
    const meta = event.metadata;
    for (const field of ["path", "current_version", "modified"] as const) {
      if (meta[field] !== undefined && typeof meta[field] !== "string")
        return skip("malformed", `data.event.metadata.${field} is not a string`);
    }
    if (typeof meta.path !== "string" || meta.path === "")
      return skip("malformed", "data.event.metadata.path is missing");
    const plugin = data.plugin_info;
    if (!isObject(plugin) || typeof plugin.mount_path !== "string" || trimSlashes(plugin.mount_path) === "")
      return skip("malformed", "data.plugin_info.mount_path is missing or not a string");
    const mount = trimSlashes(plugin.mount_path);

    const op = Object.hasOwn(operations, eventType) ? operations[eventType] : undefined;
    if (!op) return skip("not-a-change", "event type changes no secret");
    if (meta.modified === "false") return skip("not-a-change", "event says nothing was modified");

    const fullPath = trimSlashes(meta.path);
    const inMount = fullPath.startsWith(mount + "/") ? fullPath.slice(mount.length + 1) : undefined;
    let path: string;
    let version: number | undefined;
    if (eventType.startsWith("kv-v1/")) {
      path = trimSlashes(inMount ?? fullPath);
    } else {
      const split = (inMount !== undefined ? splitKvV2Path(inMount) : undefined) ?? splitKvV2Path(fullPath);
      if (!split) return skip("malformed", "data.event.metadata.path is not a KV v2 secret path");
      path = split.path;
      const raw = meta.current_version;
      if (raw !== undefined) {
        if (!/^\d+$/.test(raw as string))
          return skip("malformed", "data.event.metadata.current_version is not a number");
        const n = Number(raw);
        if (n > 0) version = n;
      }
    }
    if (path === "") return skip("malformed", "data.event.metadata.path names no secret");

    return {
      event: {
        id: msg.id,
        mount,
        path,
        ...(version !== undefined ? { version } : {}),
        operation: op,
        namespace,
        time: typeof time === "string" ? time : this.now().toISOString(),
        source: "events",
      },
    };
  }
}
