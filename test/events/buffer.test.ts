import { describe, expect, it } from "vitest";
import { EventBuffer, registerBufferMetrics } from "../../shared/events/buffer.ts";
import { PathIndex } from "../../shared/events/index-paths.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import { MetricsRegistry } from "../../shared/observability/metrics.ts";

let n = 0;
function ev(path: string, version?: number, extra: Partial<VaultChangeEvent> = {}): VaultChangeEvent {
  return {
    id: `id-${++n}`,
    mount: "secret",
    path,
    ...(version !== undefined ? { version } : {}),
    operation: "write",
    namespace: "",
    time: "2024-05-02T10:15:30Z",
    source: "audit",
    ...extra,
  };
}
const paths = (events: VaultChangeEvent[]): string[] => events.map((e) => e.path);

describe("event buffer", () => {
  it("hands events out oldest first", () => {
    const b = new EventBuffer();
    for (const p of ["a", "b", "c"]) b.offer(ev(p));
    expect(paths(b.take(2).events)).toEqual(["a", "b"]);
    expect(paths(b.take(10).events)).toEqual(["c"]);
    expect(b.take(10).events).toEqual([]);
  });

  it("coalesces a queued secret, keeping its place and the newest version", () => {
    const b = new EventBuffer();
    b.offer(ev("a", 1));
    b.offer(ev("b", 1));
    expect(b.offer(ev("a", 3, { operation: "patch" }))).toBe("coalesced");
    expect(b.offer(ev("a", 2))).toBe("coalesced"); // a late arrival does not win
    const events = b.take(10).events;
    expect(paths(events)).toEqual(["a", "b"]);
    expect([events[0]!.version, events[0]!.operation]).toEqual([3, "patch"]);
  });

  it("keeps the highest known version when the later event has none", () => {
    const b = new EventBuffer();
    b.offer(ev("a", 5));
    b.offer(ev("a", undefined, { operation: "metadata-delete" }));
    expect(b.take(1).events[0]).toMatchObject({ operation: "metadata-delete", version: 5 });
  });

  it("tells secrets apart by namespace and mount", () => {
    const b = new EventBuffer();
    b.offer(ev("a"));
    b.offer(ev("a", undefined, { namespace: "team-a" }));
    b.offer(ev("a", undefined, { mount: "kv" }));
    expect(b.size).toBe(3);
  });

  it("drop-oldest forgets the oldest secret when full", () => {
    const b = new EventBuffer({ capacity: 2 });
    b.offer(ev("a"));
    b.offer(ev("b"));
    expect(b.offer(ev("c"))).toBe("enqueued");
    expect(paths(b.take(10).events)).toEqual(["b", "c"]);
    expect(b.counters.get("dropped")).toBe(1);
  });

  it("drop-newest refuses the new secret when full, but still coalesces", () => {
    const b = new EventBuffer({ capacity: 2, overflow: "drop-newest" });
    b.offer(ev("a", 1));
    b.offer(ev("b"));
    expect(b.offer(ev("c"))).toBe("dropped");
    expect(b.offer(ev("a", 2))).toBe("coalesced");
    const events = b.take(10).events;
    expect(paths(events)).toEqual(["a", "b"]);
    expect(events[0]!.version).toBe(2);
  });

  it("filters with the path index and counts every outcome", () => {
    const index = new PathIndex([{ mount: "secret", prefix: "app/" }]);
    const b = new EventBuffer({ capacity: 2, accept: (e) => index.matches(e) });
    b.offer(ev("app/a"));
    b.offer(ev("other"));
    b.offer(ev("app/a"));
    b.offer(ev("app/b"));
    b.offer(ev("app/c"));
    b.take(10).ack();
    expect(b.counters.snapshot()).toEqual({
      coalesced: 1,
      dropped: 1,
      enqueued: 3,
      filtered: 1,
      published: 2,
      received: 5,
    });
  });

  it("retry puts a failed batch back in front, merged with changes that came meanwhile", () => {
    let now = 1_000;
    const b = new EventBuffer({ now: () => now });
    b.offer(ev("a", 1));
    b.offer(ev("b", 1));
    now = 4_000;
    const batch = b.take(1);
    expect([b.size, b.inFlight]).toEqual([1, 1]);
    b.offer(ev("c", 1));
    b.offer(ev("a", 2));
    batch.retry();
    batch.ack(); // settling twice does nothing
    expect([b.size, b.inFlight]).toEqual([3, 0]);
    expect(b.lagSeconds(10_000)).toBe(9); // "a" keeps its first enqueue time
    const events = b.take(10).events;
    expect(paths(events)).toEqual(["a", "b", "c"]);
    expect(events[0]!.version).toBe(2);
    expect(b.counters.get("published")).toBe(0);
  });

  it("retry respects the capacity with the overflow policy", () => {
    const b = new EventBuffer({ capacity: 2 });
    b.offer(ev("a"));
    const batch = b.take(1);
    b.offer(ev("b"));
    b.offer(ev("c"));
    batch.retry();
    expect(paths(b.take(10).events)).toEqual(["b", "c"]);
    expect(b.counters.get("dropped")).toBe(1);
  });

  it("reports lag as the age of the oldest queued event", () => {
    let now = 0;
    const b = new EventBuffer({ now: () => now });
    expect(b.lagSeconds()).toBe(0);
    b.offer(ev("a"));
    now = 1_500;
    b.offer(ev("b"));
    now = 2_500;
    expect(b.lagSeconds()).toBe(2.5);
    b.take(1).ack();
    expect(b.lagSeconds()).toBe(1);
  });

  it("wakes a waiting publisher on the next event, or on abort", async () => {
    const b = new EventBuffer();
    let woke = false;
    const waiting = b.whenNotEmpty().then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    b.offer(ev("a"));
    await waiting;
    expect(woke).toBe(true);
    b.take(1).ack();
    const ac = new AbortController();
    const aborted = b.whenNotEmpty(ac.signal);
    ac.abort();
    await aborted;
    expect(b.size).toBe(0);
  });

  it("exposes its counters, size and lag as metrics", () => {
    let now = 0;
    const b = new EventBuffer({ now: () => now });
    const registry = new MetricsRegistry();
    registerBufferMetrics(registry, b);
    b.offer(ev("a"));
    b.offer(ev("a"));
    now = 3_000;
    const text = registry.render();
    expect(text).toContain(
      "# TYPE pushsync_events_received_total counter\npushsync_events_received_total 2\n",
    );
    expect(text).toContain("pushsync_events_coalesced_total 1\n");
    expect(text).toContain("# TYPE pushsync_events_lag_seconds gauge\npushsync_events_lag_seconds 3\n");
    expect(text).toContain("pushsync_events_queued 1\n");
  });
});
