/**
 * The receiving end of the forwarder's webhook sink (shared/events/webhook.ts), for any platform
 * that serves HTTP: checks the signature, then pushes the events (delivery.ts) and answers.
 *
 *   401  missing or malformed signature headers, a timestamp outside the tolerance window
 *        (default 300 s), a bad signature, or a signature this instance already accepted. Each
 *        refusal is logged ("webhook rejected", with the reason) and counted in `rejected`.
 *   413  a body over 1 MiB (the forwarder sends at most 100 events per call)
 *   400  signed, but not a batch of events (the forwarder does not retry 4xx)
 *   500  some event failed retryably: the forwarder retries with a newly signed attempt
 *   200  pushed, or failed in a way a retry cannot fix
 * Response bodies are JSON summaries: counts, never values.
 *
 * The replay cache lives in the instance's memory. A platform running several instances can have
 * a captured request replayed once per instance within the tolerance window; pushes are
 * idempotent (the engine compares fingerprints), so a replay costs reads, never a wrong write.
 */
import { ReplayCache, verifyWebhook, type WebhookVerification } from "../events/webhook.ts";
import type { VaultChangeEvent } from "../events/types.ts";
import { Counters } from "../observability/counters.ts";
import type { Logger } from "../observability/logger.ts";
import { parseDelivery, pushDelivery } from "./delivery.ts";
import type { PushEventsResult } from "./index.ts";

export const WEBHOOK_SECRET_ENV = "PUSHSYNC_WEBHOOK_SECRET";
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

export type RejectReason = Extract<WebhookVerification, { ok: false }>["reason"];

export interface WebhookRequest {
  /** The body exactly as received. */
  body: Buffer | string;
  headers: Record<string, string | string[] | undefined>;
}

export interface WebhookResponse {
  status: 200 | 400 | 401 | 413 | 500;
  body: Record<string, unknown>;
}

export interface WebhookReceiverOptions {
  /** The HMAC key the forwarder signs with (PUSHSYNC_WEBHOOK_SECRET). */
  secret: string;
  push: (events: VaultChangeEvent[]) => Promise<PushEventsResult>;
  logger: Logger;
  /** Default 300. */
  toleranceSeconds?: number;
}

export interface WebhookReceiver {
  /** `log`: this request's logger (e.g. with the invocation id); default the receiver's. */
  receive(request: WebhookRequest, log?: Logger): Promise<WebhookResponse>;
  /** Refused requests by reason. */
  readonly rejected: Counters;
}

export function createWebhookReceiver(options: WebhookReceiverOptions): WebhookReceiver {
  const replayCache = new ReplayCache();
  const rejected = new Counters();

  async function receive(
    { body, headers }: WebhookRequest,
    logger = options.logger,
  ): Promise<WebhookResponse> {
    const size = Buffer.byteLength(body);
    if (size > MAX_WEBHOOK_BODY_BYTES) {
      logger.warn("webhook body too large", { bytes: size, limit: MAX_WEBHOOK_BODY_BYTES });
      return { status: 413, body: { error: `body over ${MAX_WEBHOOK_BODY_BYTES} bytes` } };
    }
    const verified = verifyWebhook({
      secret: options.secret,
      body,
      headers,
      replayCache,
      ...(options.toleranceSeconds !== undefined ? { toleranceSeconds: options.toleranceSeconds } : {}),
    });
    if (!verified.ok) {
      rejected.add(verified.reason);
      logger.warn("webhook rejected", { reason: verified.reason, rejectedTotal: rejected.total() });
      return { status: 401, body: { error: "unauthorized", reason: verified.reason } };
    }
    const delivery = parseDelivery(body);
    if ("error" in delivery) {
      logger.error("webhook body is not a batch of events", { reason: delivery.error });
      return { status: 400, body: { error: delivery.error } };
    }
    const ids = { delivery: delivery.delivery, attempt: delivery.attempt };
    const { retry, summary } = await pushDelivery(delivery.events, options.push, logger);
    logger.info("webhook delivery", { ...ids, retry, ...summary });
    return { status: retry ? 500 : 200, body: { ...ids, ...summary } };
  }

  return { receive, rejected };
}
