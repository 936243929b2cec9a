/**
 * The bounded in-memory queue between receiving events and publishing them.
 *
 * Receiving never waits: Vault's socket audit device blocks Vault's own requests when its
 * reader stalls, so `offer` is synchronous and always returns at once.
 *
 * Coalescing: at most one entry per secret (namespace, mount, path). A newer change to a queued
 * secret replaces the queued event in place, keeping its position and its enqueue time, and
 * keeps the highest version seen (events may arrive out of order from several Vault nodes).
 * Consumers read the value from Vault, so one notification per secret is all they need.
 *
 * Overflow (more distinct secrets pending than `capacity`), default drop-oldest: the newest
 * version of a queued secret is never lost to overflow anyway (coalescing), so the choice is
 * which secret to forget. The oldest entries are the ones most likely already covered by the
 * periodic full reconcile that follows every outage; the newest are the ones it has not seen
 * yet. drop-newest keeps strict arrival order instead, for consumers that prefer it.
 *
 * Counters: received, filtered (not in the path index), enqueued, coalesced, dropped, published.
 */
import { Counters } from "../observability/counters.ts";
import type { MetricsRegistry } from "../observability/metrics.ts";
import type { VaultChangeEvent } from "./types.ts";
import { secretKey } from "./types.ts";

export type OverflowPolicy = "drop-oldest" | "drop-newest";

export interface EventBufferOptions {
  /** Most distinct secrets queued at once. Default 10,000. */
  capacity?: number;
  overflow?: OverflowPolicy;
  /** Keeps only events someone reads (e.g. `index.matches`); others are counted as filtered. */
  accept?: (event: VaultChangeEvent) => boolean;
  /** Milliseconds clock (tests). */
  now?: () => number;
}

export type OfferOutcome = "enqueued" | "coalesced" | "filtered" | "dropped";

/** Events taken for publishing; exactly one of ack/retry is called when publishing ends. */
export interface Batch {
  events: VaultChangeEvent[];
  /** Published: counted, gone. */
  ack(): void;
  /** Not published: back at the front of the queue with their original enqueue times. */
  retry(): void;
}

interface Entry {
  event: VaultChangeEvent;
  enqueuedAt: number;
}

export class EventBuffer {
  readonly counters = new Counters();
  readonly capacity: number;
  readonly overflow: OverflowPolicy;
  /** Insertion-ordered: the first entry is the oldest. */
  private entries = new Map<string, Entry>();
  private waiters: Array<() => void> = [];
  /** Events taken for publishing whose batch is not settled yet. */
  private taken = 0;
  private readonly accept: (event: VaultChangeEvent) => boolean;
  private readonly now: () => number;

  constructor(options: EventBufferOptions = {}) {
    this.capacity = options.capacity ?? 10_000;
    if (!Number.isInteger(this.capacity) || this.capacity < 1)
      throw new RangeError("buffer capacity must be a positive integer");
    this.overflow = options.overflow ?? "drop-oldest";
    this.accept = options.accept ?? (() => true);
    this.now = options.now ?? Date.now;
  }

  /** Events waiting to be taken. */
  get size(): number {
    return this.entries.size;
  }

  /** Events taken for publishing, not yet acknowledged or put back. */
  get inFlight(): number {
    return this.taken;
  }

  offer(event: VaultChangeEvent): OfferOutcome {
    this.counters.add("received");
    if (!this.accept(event)) {
      this.counters.add("filtered");
      return "filtered";
    }
    const key = keyOf(event);
    const queued = this.entries.get(key);
    if (queued) {
      queued.event = newer(queued.event, event);
      this.counters.add("coalesced");
      return "coalesced";
    }
    if (this.entries.size >= this.capacity) {
      this.counters.add("dropped");
      if (this.overflow === "drop-newest") return "dropped";
      this.dropFirst();
    }
    this.entries.set(key, { event, enqueuedAt: this.now() });
    this.counters.add("enqueued");
    this.wake();
    return "enqueued";
  }

  /** Removes up to `max` of the oldest events for publishing. */
  take(max: number): Batch {
    const taken: Entry[] = [];
    for (const [key, entry] of this.entries) {
      if (taken.length >= max) break;
      this.entries.delete(key);
      taken.push(entry);
    }
    this.taken += taken.length;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      this.taken -= taken.length;
      return true;
    };
    return {
      events: taken.map((e) => e.event),
      ack: () => {
        if (settle()) this.counters.add("published", taken.length);
      },
      retry: () => {
        if (settle()) this.putBack(taken);
      },
    };
  }

  /** Age of the oldest queued event in seconds; 0 when empty. */
  lagSeconds(now = this.now()): number {
    const first = this.entries.values().next();
    return first.done ? 0 : Math.max(0, now - first.value.enqueuedAt) / 1000;
  }

  /** Resolves when the queue has an event, or when the signal aborts. */
  whenNotEmpty(signal?: AbortSignal): Promise<void> {
    if (this.entries.size > 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal?.removeEventListener("abort", done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener("abort", done);
    });
  }

  private putBack(taken: Entry[]): void {
    const front = new Map<string, Entry>();
    for (const entry of taken) {
      const key = keyOf(entry.event);
      const queued = this.entries.get(key);
      if (queued) {
        // A change arrived while this one was out: one entry, the older time, the newer event.
        entry.event = newer(entry.event, queued.event);
        this.entries.delete(key);
        this.counters.add("coalesced");
      }
      front.set(key, entry);
    }
    this.entries = new Map([...front, ...this.entries]);
    while (this.entries.size > this.capacity) {
      this.counters.add("dropped");
      if (this.overflow === "drop-oldest") this.dropFirst();
      else this.dropLast();
    }
    if (this.entries.size > 0) this.wake();
  }

  private dropFirst(): void {
    const first = this.entries.keys().next();
    if (!first.done) this.entries.delete(first.value);
  }

  private dropLast(): void {
    const last = [...this.entries.keys()].pop();
    if (last !== undefined) this.entries.delete(last);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** Exposes the buffer's counters, size and lag as Prometheus metrics. */
export function registerBufferMetrics(registry: MetricsRegistry, buffer: EventBuffer): void {
  const counter = (name: string, help: string, counterName: string): void =>
    registry.collect(name, help, "counter", () => buffer.counters.get(counterName));
  counter("pushsync_events_received_total", "Change events received from Vault.", "received");
  counter("pushsync_events_filtered_total", "Events for paths no manifest reads.", "filtered");
  counter("pushsync_events_enqueued_total", "Events queued for publishing.", "enqueued");
  counter(
    "pushsync_events_coalesced_total",
    "Events merged into a queued event for the same secret.",
    "coalesced",
  );
  counter("pushsync_events_dropped_total", "Events dropped because the queue was full.", "dropped");
  counter("pushsync_events_published_total", "Events published to every sink.", "published");
  registry.collect("pushsync_events_queued", "Events waiting to be published.", "gauge", () => buffer.size);
  registry.collect("pushsync_events_lag_seconds", "Age of the oldest queued event.", "gauge", () =>
    buffer.lagSeconds(),
  );
}

function keyOf(e: VaultChangeEvent): string {
  return secretKey(e.namespace, e.mount, e.path);
}

/**
 * Merges two events for one secret, `later` having arrived last: the later event wins unless
 * it carries an older version (a late arrival); the result keeps the highest known version.
 */
function newer(earlier: VaultChangeEvent, later: VaultChangeEvent): VaultChangeEvent {
  if (earlier.version !== undefined && later.version !== undefined && later.version < earlier.version)
    return earlier;
  const version = Math.max(earlier.version ?? 0, later.version ?? 0);
  return version > 0 ? { ...later, version } : later;
}
