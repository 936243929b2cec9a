/**
 * Webhook sink: POSTs a batch of change events as JSON, signed, to one endpoint; and the
 * verifier a receiver uses.
 *
 * Wire format:
 *   POST <url>, content-type: application/json
 *   body {"delivery": "<uuid>", "attempt": 1, "events": [VaultChangeEvent...]}
 *   X-Pushsync-Timestamp: <unix seconds>
 *   X-Pushsync-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
 * Every attempt is signed afresh, so a retry is never stale, and its body differs by `attempt`,
 * so a receiver's replay cache refuses a captured request but not a genuine retry. Receivers
 * that must not act twice deduplicate on the events' ids.
 *
 * Delivery: network errors, timeouts, 5xx and 429 are retried with exponential backoff and full
 * jitter (honouring Retry-After up to the cap), at most `maxAttempts` attempts; other statuses
 * fail at once. Redirects are not followed.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { PushsyncError } from "../errors/index.ts";
import type { Logger } from "../observability/logger.ts";
import { silentLogger } from "../observability/logger.ts";
import type { EventSink } from "./sink.ts";
import type { VaultChangeEvent } from "./types.ts";

export const TIMESTAMP_HEADER = "X-Pushsync-Timestamp";
export const SIGNATURE_HEADER = "X-Pushsync-Signature";

export interface WebhookSinkOptions {
  name: string;
  /** https:// (or http:// for local endpoints). */
  url: string;
  /** Shared HMAC key. */
  secret: string;
  /** Which events this endpoint serves (e.g. paths its stores read); default all. */
  accept?: (event: VaultChangeEvent) => boolean;
  /** Default 5. */
  maxAttempts?: number;
  /** First backoff ceiling; doubles per attempt. Default 250 ms. */
  baseDelayMs?: number;
  /** Backoff cap, also for Retry-After. Default 10 s. */
  maxDelayMs?: number;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /** Extra trusted CA (PEM) for https endpoints. */
  ca?: string;
  logger?: Logger;
}

/** The two signature headers for a body sent at `timestamp` (unix seconds). */
export function signWebhook(
  secret: string,
  body: string | Buffer,
  timestamp: number,
): Record<string, string> {
  return {
    [TIMESTAMP_HEADER]: String(timestamp),
    [SIGNATURE_HEADER]: `v1=${hmacHex(secret, String(timestamp), body)}`,
  };
}

export function createWebhookSink(options: WebhookSinkOptions): EventSink {
  const url = new URL(options.url);
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new PushsyncError("Invalid", `webhook ${options.name}: url must be http(s)`);
  const where = `webhook ${options.name} (${url.protocol}//${url.host}${url.pathname})`;
  const maxAttempts = options.maxAttempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const log = options.logger ?? silentLogger;
  const accept = options.accept ?? (() => true);
  const isHttps = url.protocol === "https:";
  const agent = isHttps
    ? new https.Agent({ keepAlive: true, ...(options.ca ? { ca: options.ca } : {}) })
    : new http.Agent({ keepAlive: true });
  const closing = new AbortController();

  async function publish(events: VaultChangeEvent[]): Promise<void> {
    const mine = events.filter(accept);
    if (mine.length === 0) return;
    const delivery = randomUUID();
    for (let attempt = 1; ; attempt++) {
      if (closing.signal.aborted) throw new PushsyncError("Unavailable", `${where}: sink closed`, true);
      const body = JSON.stringify({ delivery, attempt, events: mine });
      const headers = {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        ...signWebhook(options.secret, body, Math.floor(Date.now() / 1000)),
      };
      let outcome: string;
      let retryAfterMs: number | undefined;
      try {
        const res = await post(url, body, headers, agent, timeoutMs, closing.signal);
        if (res.status >= 200 && res.status < 300) return;
        outcome = `status ${res.status}`;
        if (res.status !== 429 && res.status < 500)
          throw new PushsyncError("Invalid", `${where}: endpoint answered ${res.status}`);
        retryAfterMs = res.retryAfterMs;
      } catch (err) {
        if (err instanceof PushsyncError) throw err;
        outcome = err instanceof Error ? err.message : "network error";
      }
      if (attempt >= maxAttempts) {
        throw new PushsyncError(
          "Unavailable",
          `${where}: not delivered after ${attempt} attempts (last: ${outcome})`,
          true,
          retryAfterMs,
        );
      }
      const backoff = Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
      const delay = Math.min(maxDelayMs, Math.max(backoff, retryAfterMs ?? 0));
      log.warn("webhook delivery failed, retrying", {
        sink: options.name,
        attempt,
        outcome,
        delayMs: Math.round(delay),
      });
      await sleep(delay, undefined, { signal: closing.signal }).catch(() => undefined);
    }
  }

  return {
    name: options.name,
    publish,
    close: async () => {
      closing.abort();
      agent.destroy();
    },
  };
}

function post(
  url: URL,
  body: string,
  headers: Record<string, string>,
  agent: http.Agent,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ status: number; retryAfterMs?: number }> {
  const request = url.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers, agent, timeout: timeoutMs, signal }, (res) => {
      res.resume();
      res.on("end", () => {
        const retryAfter = Number(res.headers["retry-after"]);
        resolve({
          status: res.statusCode ?? 0,
          ...(Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
        });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

export type WebhookVerification =
  | { ok: true; timestamp: number }
  | { ok: false; reason: "missing-header" | "bad-timestamp" | "stale" | "bad-signature" | "replayed" };

/**
 * Remembers signatures already accepted, until their timestamp leaves the tolerance window
 * (after that the timestamp check rejects them anyway). Bounded: the oldest go first.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly maxEntries = 10_000) {}

  /** True if the signature was seen and has not expired; otherwise remembers it. */
  checkAndRemember(signature: string, expiresAtMs: number, nowMs: number): boolean {
    for (const [sig, exp] of this.seen) {
      if (exp > nowMs) break;
      this.seen.delete(sig);
    }
    const exp = this.seen.get(signature);
    if (exp !== undefined && exp > nowMs) return true;
    this.seen.set(signature, expiresAtMs);
    while (this.seen.size > this.maxEntries) this.seen.delete(this.seen.keys().next().value!);
    return false;
  }
}

export interface VerifyWebhookInput {
  secret: string;
  /** The raw body exactly as received. */
  body: string | Buffer;
  /** Request headers (any case), e.g. node's req.headers. */
  headers: Record<string, string | string[] | undefined>;
  toleranceSeconds?: number;
  /** Milliseconds; default Date.now(). */
  now?: number;
  replayCache?: ReplayCache;
}

export function verifyWebhook(input: VerifyWebhookInput): WebhookVerification {
  const tolerance = input.toleranceSeconds ?? 300;
  const now = input.now ?? Date.now();
  const rawTs = header(input.headers, TIMESTAMP_HEADER);
  const rawSig = header(input.headers, SIGNATURE_HEADER);
  if (rawTs === undefined || rawSig === undefined) return { ok: false, reason: "missing-header" };
  if (!/^\d{1,12}$/.test(rawTs)) return { ok: false, reason: "bad-timestamp" };
  const timestamp = Number(rawTs);
  if (Math.abs(now / 1000 - timestamp) > tolerance) return { ok: false, reason: "stale" };
  const expected = Buffer.from(`v1=${hmacHex(input.secret, rawTs, input.body)}`);
  const given = Buffer.from(rawSig.trim());
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: "bad-signature" };
  if (input.replayCache?.checkAndRemember(rawSig.trim(), (timestamp + tolerance) * 1000, now))
    return { ok: false, reason: "replayed" };
  return { ok: true, timestamp };
}

function hmacHex(secret: string, timestamp: string, body: string | Buffer): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
}

function header(headers: VerifyWebhookInput["headers"], name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== want) continue;
    const value = Array.isArray(v) ? v[0] : v;
    return value === undefined || value === "" ? undefined : value;
  }
  return undefined;
}
