/**
 * An informer: a local copy of one resource type, kept current by list-then-watch.
 *
 * client-node's ListWatch was not used: it stops for good on any watch error other than 410,
 * does not ask for bookmarks, and never notices a stream that went silent (its watch timeout
 * is overwritten before use). This one:
 *   - lists, then watches from the list's resourceVersion with allowWatchBookmarks and a
 *     server-side timeoutSeconds (random in [timeout, 2 × timeout), as client-go), and watches
 *     again from the last resourceVersion seen (events and bookmarks) whenever a stream ends;
 *   - lists afresh on 410 Gone, whether it comes as the HTTP status or as an ERROR event;
 *     the new list is compared with the cache, so objects deleted meanwhile are reported;
 *   - aborts a stream that carried nothing (not even a bookmark) for `silenceMs` and watches again;
 *   - after any other failure waits (exponential backoff with jitter) and tries again.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Counters } from "../../shared/observability/counters.ts";
import { silentLogger, type Logger } from "../../shared/observability/logger.ts";
import { KubeApiError, type KubeClient, type KubeList, type KubeObject, type WatchEvent } from "./kube.ts";

export type InformerEvent = "add" | "update" | "delete";
export type InformerHandler<T> = (event: InformerEvent, object: T, old: T | undefined) => void;

export interface InformerOptions {
  /** Collection path, e.g. /apis/external-secrets.io/v1/externalsecrets (every namespace). */
  path: string;
  labelSelector?: string;
  /** A stream silent this long is replaced. Default 120 s (bookmarks come about once a minute). */
  silenceMs?: number;
  /** Server-side watch timeout, randomised up to twice this. Default 300 s. */
  watchTimeoutSeconds?: number;
  /** Default 500 ms, doubling to maxBackoffMs (default 30 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
}

/** "namespace/name", or "name" for cluster-scoped objects. */
export function objectKey(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export class Informer<T extends KubeObject> {
  /** lists, relists (after 410), watches, bookmarks, silentRestarts, errors. */
  readonly counters = new Counters();
  private readonly objects = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly stop = new AbortController();
  private current: AbortController | undefined;
  private resourceVersion = "";
  private synced = false;
  private loop: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly client: KubeClient,
    private readonly options: InformerOptions,
  ) {
    this.log = (options.logger ?? silentLogger).child({ informer: options.path });
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** True once the first list has been loaded. */
  hasSynced(): boolean {
    return this.synced;
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.current?.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stop.signal.aborted) {
      try {
        if (this.resourceVersion === "") await this.relist();
        await this.watchOnce();
        failures = 0;
      } catch (err) {
        if (this.stop.signal.aborted) break;
        if (err instanceof KubeApiError && err.status === 410) {
          this.counters.add("relists");
          this.log.info("resourceVersion expired, listing again", { resourceVersion: this.resourceVersion });
          this.resourceVersion = "";
          continue;
        }
        failures += 1;
        this.counters.add("errors");
        const ceiling = Math.min(
          this.options.maxBackoffMs ?? 30_000,
          (this.options.initialBackoffMs ?? 500) * 2 ** (failures - 1),
        );
        this.log.warn("list or watch failed, retrying", { err, failures });
        await sleep(ceiling / 2 + (Math.random() * ceiling) / 2, undefined, {
          signal: this.stop.signal,
        }).catch(() => undefined);
      }
    }
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.client.request<KubeList<T>>("GET", this.options.path, {
        query: { labelSelector: this.options.labelSelector, limit: 500, continue: cont },
        signal: this.stop.signal,
      });
      items.push(...page.items);
      rv = page.metadata?.resourceVersion ?? "";
      cont = page.metadata?.continue || undefined;
    } while (cont);
    this.counters.add("lists");
    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      seen.add(key);
      this.upsert(key, item);
    }
    for (const [key, old] of this.objects) {
      if (!seen.has(key)) {
        this.objects.delete(key);
        this.emit("delete", old, old);
      }
    }
    this.resourceVersion = rv;
    this.synced = true;
  }

  private async watchOnce(): Promise<void> {
    const controller = new AbortController();
    this.current = controller;
    const silenceMs = this.options.silenceMs ?? 120_000;
    let silent = false;
    let timer: NodeJS.Timeout | undefined;
    const alive = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        silent = true;
        controller.abort();
      }, silenceMs);
    };
    const timeout = this.options.watchTimeoutSeconds ?? 300;
    let gone: KubeApiError | undefined;
    this.counters.add("watches");
    alive();
    try {
      await this.client.watch<T>(
        this.options.path,
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: Math.floor(timeout + Math.random() * timeout),
          labelSelector: this.options.labelSelector,
        },
        (event) => {
          alive();
          if (gone) return;
          gone = this.apply(event);
          if (gone) controller.abort();
        },
        AbortSignal.any([controller.signal, this.stop.signal]),
      );
    } finally {
      clearTimeout(timer);
      this.current = undefined;
    }
    if (gone) throw gone;
    if (silent) {
      this.counters.add("silentRestarts");
      this.log.warn("watch stream silent, watching again", { silenceMs });
    }
  }

  /** Applies one watch event; returns the error to raise for an ERROR event. */
  private apply(event: WatchEvent<T>): KubeApiError | undefined {
    if (event.type === "ERROR") {
      const status = event.object as unknown as { code?: number; reason?: string; message?: string };
      return new KubeApiError(
        status.code ?? 500,
        status.reason ?? "",
        `watch ${this.options.path}: ${status.reason ?? "error"} (${status.code ?? "no code"})`,
      );
    }
    const obj = event.object;
    const rv = obj.metadata?.resourceVersion;
    if (event.type === "BOOKMARK") {
      this.counters.add("bookmarks");
    } else if (event.type === "DELETED") {
      const key = objectKey(obj);
      const old = this.objects.get(key);
      this.objects.delete(key);
      if (old) this.emit("delete", obj, old);
    } else {
      this.upsert(objectKey(obj), obj);
    }
    if (rv) this.resourceVersion = rv;
    return undefined;
  }

  private upsert(key: string, obj: T): void {
    const old = this.objects.get(key);
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.objects.set(key, obj);
    this.emit(old ? "update" : "add", obj, old);
  }

  private emit(event: InformerEvent, obj: T, old: T | undefined): void {
    for (const h of this.handlers) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.log.error("informer handler failed", { err });
      }
    }
  }
}
