/**
 * The etcd-like part: every object of every resource, one global resourceVersion counter that
 * each write bumps, and a bounded history of changes for watches and for lists at an older
 * resourceVersion. Forgetting history (the oldest events beyond `historyLimit`, or `compact()`)
 * moves the compaction point: versions at or before it answer 410 Expired.
 */
import { clone, type KubeObject } from "./objects.ts";

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface Change {
  rv: number;
  type: EventType;
  /** Storage key of the resource: "<group>/<plural>" ("/secrets" for the core group). */
  resource: string;
  object: KubeObject;
  /** The object before this change (MODIFIED and DELETED). */
  prev?: KubeObject;
}

type Listener = (change: Change) => void;

const itemKey = (obj: KubeObject) => `${obj.metadata.namespace ?? ""}/${obj.metadata.name}`;

export class ObjectStore {
  private revision = 0;
  private compactedAt = 0;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private history: Change[] = [];
  private readonly listeners = new Set<Listener>();

  constructor(private readonly historyLimit: number) {}

  get resourceVersion(): number {
    return this.revision;
  }

  /** The newest resourceVersion that can no longer be served from history. */
  get compactedRevision(): number {
    return this.compactedAt;
  }

  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(resource)?.get(`${namespace ?? ""}/${name}`);
  }

  /** Objects of one resource in key order (namespace, then name); all namespaces when `namespace` is undefined. */
  list(resource: string, namespace?: string): KubeObject[] {
    const all = [...(this.objects.get(resource)?.entries() ?? [])];
    return sortByKey(all.filter(([, o]) => namespace === undefined || o.metadata.namespace === namespace));
  }

  /** Every stored object with its resource key. */
  all(): { resource: string; object: KubeObject }[] {
    return [...this.objects].flatMap(([resource, items]) =>
      [...items.values()].map((object) => ({ resource, object })),
    );
  }

  /**
   * The objects of a resource as they were at `rv`, rebuilt from the history. Throws RangeError
   * when `rv` is at or before the compaction point (and not the current revision).
   */
  listAt(resource: string, rv: number, namespace?: string): KubeObject[] {
    if (rv >= this.revision) return this.list(resource, namespace);
    if (rv < this.compactedAt) throw new RangeError(`resourceVersion ${rv} is compacted`);
    const state = new Map(this.objects.get(resource) ?? []);
    for (let i = this.history.length - 1; i >= 0 && this.history[i]!.rv > rv; i--) {
      const change = this.history[i]!;
      if (change.resource !== resource) continue;
      const key = itemKey(change.object);
      if (change.type === "ADDED") state.delete(key);
      else state.set(key, change.prev!);
    }
    return sortByKey([...state.entries()]).filter(
      (o) => namespace === undefined || o.metadata.namespace === namespace,
    );
  }

  /** Changes after `rv` (exclusive). Throws RangeError when some of them are no longer retained. */
  changesSince(rv: number): Change[] {
    if (rv < this.compactedAt) throw new RangeError(`resourceVersion ${rv} is compacted`);
    const first = this.history.findIndex((c) => c.rv > rv);
    return first < 0 ? [] : this.history.slice(first);
  }

  /** Writes (creates or replaces) an object under a new resourceVersion; returns the stored copy. */
  put(resource: string, object: KubeObject): KubeObject {
    const items = this.objects.get(resource) ?? new Map<string, KubeObject>();
    this.objects.set(resource, items);
    const key = itemKey(object);
    const prev = items.get(key);
    const stored = clone(object);
    stored.metadata.resourceVersion = String(++this.revision);
    items.set(key, stored);
    this.record({ rv: this.revision, type: prev ? "MODIFIED" : "ADDED", resource, object: stored, prev });
    return stored;
  }

  /** Removes an object; its last state, under the deletion's resourceVersion, is returned. */
  remove(resource: string, object: KubeObject): KubeObject | undefined {
    const key = itemKey(object);
    const prev = this.objects.get(resource)?.get(key);
    if (!prev) return undefined;
    this.objects.get(resource)!.delete(key);
    const last = clone(prev);
    last.metadata.resourceVersion = String(++this.revision);
    this.record({ rv: this.revision, type: "DELETED", resource, object: last, prev });
    return last;
  }

  /** Forgets all history up to now, as etcd compaction does. */
  compact(): void {
    this.history = [];
    this.compactedAt = this.revision;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private record(change: Change): void {
    this.history.push(change);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedAt = dropped[dropped.length - 1]!.rv;
    }
    for (const listener of [...this.listeners]) listener(change);
  }
}

function sortByKey(entries: [string, KubeObject][]): KubeObject[] {
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
}
