/**
 * The work queue, in the manner of client-go's rate-limited delaying queue:
 *
 *   - a key is queued at most once, and handed to at most one worker at a time; a key added
 *     while a worker holds it is queued again when the worker calls `done`;
 *   - delayed adds (`addAfter`: periodic refresh, retries) wait in one min-heap served by a
 *     single timer, whatever the number of keys; a key already waiting keeps the earlier time;
 *   - `addRateLimited` (a failed reconcile) waits the longer of the key's exponential backoff
 *     (base × 2^failures, capped) and the overall token bucket (qps, burst); `forget` resets
 *     the key's failures after a success.
 */
export interface WorkQueueOptions {
  /** First retry delay; default 100 ms. */
  baseDelayMs?: number;
  /** Longest retry delay; default 5 minutes. */
  maxDelayMs?: number;
  /** Token bucket for retries: default 10 per second, burst 100 (client-go's defaults). */
  qps?: number;
  burst?: number;
  now?: () => number;
}

interface Waiting {
  at: number;
  key: string;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly heap: Waiting[] = [];
  /** Key → time it is due; entries in the heap with another time are stale. */
  private readonly waitingAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private tokens: number;
  private tokensAt: number;
  private shutDown = false;
  private readonly now: () => number;
  private readonly base: number;
  private readonly max: number;
  private readonly qps: number;
  private readonly burst: number;

  constructor(options: WorkQueueOptions = {}) {
    this.now = options.now ?? Date.now;
    this.base = options.baseDelayMs ?? 100;
    this.max = options.maxDelayMs ?? 300_000;
    this.qps = options.qps ?? 10;
    this.burst = options.burst ?? 100;
    this.tokens = this.burst;
    this.tokensAt = this.now();
  }

  add(key: string): void {
    if (this.shutDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  addAfter(key: string, delayMs: number): void {
    if (this.shutDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = this.now() + delayMs;
    const known = this.waitingAt.get(key);
    if (known !== undefined && known <= at) return;
    this.waitingAt.set(key, at);
    this.push({ at, key });
    this.arm();
  }

  /** Queues a key after a failure: waits its backoff, or longer when retries overall are too many. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.max(Math.min(this.max, this.base * 2 ** n), this.bucketDelay());
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key, waiting for one; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shutDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Keys ready now, and keys waiting for their time. */
  length(): { ready: number; waiting: number } {
    return { ready: this.queue.length, waiting: this.waitingAt.size };
  }

  close(): void {
    this.shutDown = true;
    clearTimeout(this.timer);
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private bucketDelay(): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.tokensAt) / 1000) * this.qps);
    this.tokensAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  private arm(): void {
    const next = this.heap[0];
    if (!next || next.at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next.at;
    // setTimeout holds at most 2^31-1 ms (about 24 days); a later key is looked at again then.
    this.timer = setTimeout(() => this.fire(), Math.min(2 ** 31 - 1, Math.max(0, next.at - this.now())));
  }

  private fire(): void {
    this.timerAt = Infinity;
    const now = this.now();
    for (let top = this.heap[0]; top && top.at <= now; top = this.heap[0]) {
      this.pop();
      if (this.waitingAt.get(top.key) !== top.at) continue; // superseded by an earlier time
      this.waitingAt.delete(top.key);
      this.add(top.key);
    }
    this.arm();
  }

  // --- binary min-heap on `at` --------------------------------------------------------------

  private push(w: Waiting): void {
    const h = this.heap;
    h.push(w);
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= h[i]!.at) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < h.length && h[l]!.at < h[min]!.at) min = l;
      if (r < h.length && h[r]!.at < h[min]!.at) min = r;
      if (min === i) break;
      [h[min], h[i]] = [h[i]!, h[min]!];
      i = min;
    }
  }
}
