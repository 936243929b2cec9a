/**
 * Staying within quotas and riding out transient failures.
 *
 * - withResilience(provider): a SecretStoreProvider around another one with a token bucket per
 *   operation class (read, write, list, at `provider.quotas` requests per second) and retries of
 *   retryable errors (Throttled, Unavailable, Timeout: `retryable` on the error).
 * - withRetries(fn): exponential backoff with full jitter, honouring the error's retryAfterMs,
 *   a bounded number of attempts. Also used for Vault reads.
 * - mapLimit and Limiter: bounded concurrency. KeyedLock: one holder at a time per key (property merges).
 */
import { isRetryable, PushsyncError } from "../errors/index.ts";
import type {
  DeleteOptions,
  FindQuery,
  PushRequest,
  PushResult,
  RemoteRef,
  RemoteSecretState,
  SecretStoreProvider,
} from "../providers/types.ts";

export interface RetryOptions {
  /** Attempts in total, first one included. Default 5. */
  maxAttempts?: number;
  /** Backoff base: attempt n waits up to base * 2^(n-1). Default 100 ms. */
  baseDelayMs?: number;
  /** Cap of one wait. A Retry-After longer than this is not waited for: the error is thrown. Default 20 s. */
  maxDelayMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How long to wait before attempt `attempt + 1`, or undefined to give up. */
function backoff(err: unknown, attempt: number, options: RetryOptions): number | undefined {
  const maxAttempts = options.maxAttempts ?? 5;
  const base = options.baseDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 20_000;
  if (!isRetryable(err) || attempt >= maxAttempts) return undefined;
  const jitter = Math.random() * Math.min(cap, base * 2 ** (attempt - 1));
  const retryAfter = err instanceof PushsyncError ? (err.retryAfterMs ?? 0) : 0;
  if (retryAfter > cap) return undefined;
  return Math.max(jitter, retryAfter);
}

export async function withRetries<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const wait = backoff(err, attempt, options);
      if (wait === undefined) throw err;
      await sleep(wait);
    }
  }
}

/** Allows `ratePerSecond` takes per second on average, bursts up to one second's worth; FIFO. */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly ratePerSecond: number) {
    this.tokens = ratePerSecond;
  }

  take(): Promise<void> {
    const turn = this.queue.then(async () => {
      const now = Date.now();
      this.tokens = Math.min(
        this.ratePerSecond,
        this.tokens + ((now - this.last) / 1000) * this.ratePerSecond,
      );
      this.last = now;
      if (this.tokens < 1) {
        await sleep(((1 - this.tokens) / this.ratePerSecond) * 1000);
        this.tokens = 1;
        this.last = Date.now();
      }
      this.tokens -= 1;
    });
    this.queue = turn;
    return turn;
  }
}

/**
 * A provider listing with retries. The bucket is taken once per listing (the provider pages
 * internally); a retryable failure restarts it from the beginning.
 */
async function* relist<T>(
  bucket: TokenBucket,
  open: () => AsyncIterable<T>,
  options: RetryOptions,
): AsyncIterable<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      await bucket.take();
      yield* open();
      return;
    } catch (err) {
      const wait = backoff(err, attempt, options);
      if (wait === undefined) throw err;
      await sleep(wait);
    }
  }
}

export function withResilience(
  provider: SecretStoreProvider,
  options: RetryOptions = {},
): SecretStoreProvider {
  const buckets = {
    read: new TokenBucket(provider.quotas.read),
    write: new TokenBucket(provider.quotas.write),
    list: new TokenBucket(provider.quotas.list),
  };
  const call = <T>(bucket: TokenBucket, fn: () => Promise<T>): Promise<T> =>
    withRetries(async () => {
      await bucket.take();
      return fn();
    }, options);

  return {
    kind: provider.kind,
    storeName: provider.storeName,
    limits: provider.limits,
    quotas: provider.quotas,
    calls: provider.calls,
    mapKey: (key: string) => provider.mapKey(key),
    /** Restarted on a retryable failure (see relist); secrets already yielded are not yielded again. */
    async *listManaged(): AsyncIterable<RemoteSecretState> {
      const seen = new Set<string>();
      for await (const state of relist(buckets.list, () => provider.listManaged(), options)) {
        if (seen.has(state.name)) continue;
        seen.add(state.name);
        yield state;
      }
    },
    /** Restarted on a retryable failure: the pages read before it come again. */
    listNames: provider.listNames
      ? (prefixes?: string[]) => relist(buckets.list, () => provider.listNames!(prefixes), options)
      : undefined,
    describe: (key: string) => call(buckets.read, () => provider.describe(key)),
    push: (request: PushRequest): Promise<PushResult> => call(buckets.write, () => provider.push(request)),
    delete: (key: string, opts?: DeleteOptions) => call(buckets.write, () => provider.delete(key, opts)),
    getSecret: (ref: RemoteRef) => call(buckets.read, () => provider.getSecret(ref)),
    getSecrets: (keys: string[]) => call(buckets.read, () => provider.getSecrets(keys)),
    findSecrets: (query: FindQuery) => call(buckets.read, () => provider.findSecrets(query)),
    secretExists: (key: string) => call(buckets.read, () => provider.secretExists(key)),
    close: provider.close ? () => provider.close!() : undefined,
  };
}

/** Runs fn over items with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}

/** At most `limit` calls of run() in flight at once; the others wait their turn, first come first served. */
export class Limiter {
  private active = 0;
  private waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < Math.max(1, this.limit)) this.active += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      // The slot passes straight to the next in line, if any.
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}

/** Serialises async work per key (e.g. read-modify-write of one remote secret). */
export class KeyedLock {
  private tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(fn);
    this.tails.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.tails.get(key) === mine) this.tails.delete(key);
    }
  }
}
