/**
 * Watches: a chunked HTTP response of newline-separated JSON events
 * `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}`.
 *
 * - resourceVersion unset or "0": an ADDED event per current object, then changes.
 * - resourceVersion N: every change after N from the retained history, then changes; when N is
 *   older than the history, a single ERROR event carrying a 410 Expired Status, and the end.
 * - sendInitialEvents=true: the current objects, then a BOOKMARK annotated
 *   `k8s.io/initial-events-end: "true"`, then changes.
 * - allowWatchBookmarks=true: a BOOKMARK with the current resourceVersion every bookmark interval.
 * - Selectors: an object that starts matching arrives as ADDED, one that stops matching as DELETED.
 * - timeoutSeconds (default 1800) ends the response.
 */
import type http from "node:http";
import { badRequest, expired, type KubeError } from "./errors.ts";
import type { Cluster, ListQuery } from "./cluster.ts";
import { served } from "./cluster.ts";
import type { Json, KubeObject } from "./objects.ts";
import { apiVersionOf, storageKey, type ResourceType } from "./resources.ts";
import type { Change, EventType } from "./store.ts";
import { toTable, type IncludeObject } from "./tables.ts";

interface WatchQuery extends Pick<
  ListQuery,
  "labelSelector" | "fieldSelector" | "resourceVersion" | "resourceVersionMatch"
> {
  allowWatchBookmarks?: boolean;
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
  /** Set when the client asked for Table events (kubectl get -w). */
  table?: IncludeObject;
}

const DEFAULT_TIMEOUT_SECONDS = 1800;

interface OpenWatch {
  end(error?: KubeError): void;
}

export class Watches {
  private readonly open = new Set<OpenWatch>();

  constructor(
    private readonly cluster: Cluster,
    private readonly bookmarkIntervalMs: number,
  ) {}

  get count(): number {
    return this.open.size;
  }

  /** Ends every open watch; with `error`, after sending it as an ERROR event. */
  endAll(error?: KubeError): void {
    for (const w of [...this.open]) w.end(error);
  }

  /** Starts a watch on `res`; throws KubeError (before anything is written) for a malformed request. */
  serve(
    type: ResourceType,
    namespace: string | undefined,
    query: WatchQuery,
    res: http.ServerResponse,
  ): void {
    const store = this.cluster.store;
    const matches = this.cluster.matcher(type, query);
    const resource = storageKey(type);
    const inScope = (o: KubeObject) => namespace === undefined || o.metadata.namespace === namespace;
    const rvText = query.resourceVersion ?? "";
    if (rvText !== "" && !/^\d+$/.test(rvText)) throw badRequest(`invalid resource version: ${rvText}`);
    if (query.sendInitialEvents && query.resourceVersionMatch !== "NotOlderThan") {
      throw badRequest("sendInitialEvents requires resourceVersionMatch=NotOlderThan");
    }

    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache, private" });
    res.flushHeaders();
    let first = true;
    const send = (type_: EventType | "BOOKMARK" | "ERROR", object: Json) => {
      res.write(JSON.stringify({ type: type_, object }) + "\n");
    };
    const sendObject = (eventType: EventType, obj: KubeObject) => {
      const out = served(type, obj);
      if (query.table) {
        send(
          eventType,
          toTable(type, [out], { resourceVersion: out.metadata.resourceVersion }, query.table, first),
        );
        first = false;
      } else send(eventType, out);
    };
    const bookmark = (annotations?: Record<string, string>) =>
      send("BOOKMARK", {
        kind: type.kind,
        apiVersion: apiVersionOf(type),
        metadata: { resourceVersion: String(store.resourceVersion), ...(annotations ? { annotations } : {}) },
      });
    const deliver = (change: Change) => {
      if (change.resource !== resource || !inScope(change.object)) return;
      const now = change.type !== "DELETED" && matches(change.object);
      const before = change.prev !== undefined && matches(change.prev);
      if (change.type === "DELETED") {
        if (before) sendObject("DELETED", change.object);
      } else if (now) sendObject(before ? "MODIFIED" : "ADDED", change.object);
      else if (before) sendObject("DELETED", change.object);
    };

    let unsubscribe = () => {};
    const timers: NodeJS.Timeout[] = [];
    const watch: OpenWatch = {
      end: (error) => {
        if (!this.open.delete(watch)) return;
        unsubscribe();
        for (const t of timers) clearTimeout(t);
        if (error && !res.writableEnded) send("ERROR", error.status());
        res.end();
      },
    };
    this.open.add(watch);
    res.on("close", () => watch.end());

    const fromHistory = rvText !== "" && rvText !== "0" && !query.sendInitialEvents;
    if (fromHistory) {
      let backlog: Change[];
      try {
        backlog = store.changesSince(Number(rvText));
      } catch {
        watch.end(expired(`too old resource version: ${rvText} (${store.compactedRevision})`));
        return;
      }
      for (const change of backlog) deliver(change);
    } else if (query.sendInitialEvents !== false) {
      for (const obj of store.list(resource, namespace)) if (matches(obj)) sendObject("ADDED", obj);
      if (query.sendInitialEvents) bookmark({ "k8s.io/initial-events-end": "true" });
    }
    unsubscribe = store.subscribe(deliver);
    if (query.allowWatchBookmarks) {
      const tick = () => {
        bookmark();
        timers[0] = setTimeout(tick, this.bookmarkIntervalMs);
      };
      timers[0] = setTimeout(tick, this.bookmarkIntervalMs);
    }
    timers.push(setTimeout(() => watch.end(), (query.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000));
  }
}
