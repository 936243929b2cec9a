/** The work queue: per-key deduplication, one worker per key, the delay heap, backoff and the bucket. */
import { afterEach, describe, expect, it } from "vitest";
import { WorkQueue } from "../../functions/cluster/queue.ts";

let queue: WorkQueue;
afterEach(() => queue?.close());

async function take(q: WorkQueue, timeoutMs = 1_000): Promise<string | undefined> {
  return Promise.race([q.get(), new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs))]);
}

describe("WorkQueue", () => {
  it("hands out a key once however often it was added", async () => {
    queue = new WorkQueue();
    queue.add("a");
    queue.add("b");
    queue.add("a");
    expect([await queue.get(), await queue.get()]).toEqual(["a", "b"]);
    expect(queue.length().ready).toBe(0);
  });

  it("never gives a key to two workers: added while held, it comes back after done", async () => {
    queue = new WorkQueue();
    queue.add("a");
    const held = await queue.get();
    queue.add("a");
    expect(queue.length().ready).toBe(0);
    queue.done(held!);
    expect(queue.length().ready).toBe(1);
    expect(await queue.get()).toBe("a");
  });

  it("serves delayed keys in due order from one heap; a key keeps its earliest time", async () => {
    queue = new WorkQueue();
    queue.addAfter("late", 90);
    queue.addAfter("early", 20);
    queue.addAfter("middle", 50);
    queue.addAfter("early", 500);
    queue.addAfter("late", 60);
    expect(queue.length().waiting).toBe(3);
    const started = Date.now();
    const order = [await take(queue), await take(queue), await take(queue)];
    expect(order).toEqual(["early", "middle", "late"]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(await take(queue, 150)).toBeUndefined();
  });

  it("backs off exponentially per key, up to the cap, until forgotten", () => {
    queue = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50, qps: 1_000, burst: 1_000 });
    expect([1, 2, 3, 4, 5].map(() => queue.addRateLimited("a"))).toEqual([10, 20, 40, 50, 50]);
    expect(queue.addRateLimited("b")).toBe(10);
    queue.forget("a");
    expect(queue.addRateLimited("a")).toBe(10);
  });

  it("limits retries overall with a token bucket", () => {
    let now = 1_000_000;
    queue = new WorkQueue({ baseDelayMs: 1, qps: 10, burst: 2, now: () => now });
    expect(queue.addRateLimited("a")).toBe(1);
    expect(queue.addRateLimited("b")).toBe(1);
    expect(queue.addRateLimited("c")).toBeCloseTo(100);
    expect(queue.addRateLimited("d")).toBeCloseTo(200);
    now += 1_000;
    expect(queue.addRateLimited("e")).toBe(1);
  });

  it("wakes waiting workers with undefined when closed", async () => {
    queue = new WorkQueue();
    const waiting = queue.get();
    queue.close();
    expect(await waiting).toBeUndefined();
  });
});
