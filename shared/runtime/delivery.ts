/**
 * One delivery of change events (a webhook call, a Pub/Sub message, a Storage queue message) →
 * one push → what the platform does with the delivery. The GCP and Azure entry points share these
 * rules; SQS batches have their own (functions/aws/sqs-batch.ts) because Lambda acknowledges
 * records one by one.
 *
 * Body: JSON, either one VaultChangeEvent (what the SQS sink sends per message) or a batch
 * `{"events": [VaultChangeEvent...]}` (the webhook body, which also carries "delivery" and
 * "attempt"). One bad event makes the whole delivery malformed: it names the event's index and
 * field, never a value.
 *
 * Outcomes:
 *   done       every event pushed, or failed in a way a retry cannot fix (a conflict, a secret
 *              not owned by pushsync): acknowledge (HTTP 200). Those failures are in the totals
 *              and in the engine's own log records.
 *   retry      some event failed retryably (Vault or the store unavailable, throttled, a Vault
 *              replica behind the event's version), or the runtime could not start: have the
 *              platform deliver it again (HTTP 500, or throw from a queue trigger). The whole
 *              delivery comes back; the events that did push are then unchanged, which costs
 *              reads, not writes.
 *   malformed  (parseDelivery's error) not JSON, or not events: retrying cannot help (HTTP 400,
 *              or acknowledge with a log).
 */
import type { Outcome } from "../engine/index.ts";
import { isObject, type VaultChangeEvent } from "../events/types.ts";
import type { Logger } from "../observability/logger.ts";
import { toChangeEvent } from "./events.ts";
import type { PushEventsResult } from "./index.ts";

export interface Delivery {
  events: VaultChangeEvent[];
  /** The forwarder's delivery id and attempt number, when the body carries them (webhooks). */
  delivery?: string;
  attempt?: number;
}

export interface DeliverySummary {
  events: number;
  /** Events whose push failed retryably. */
  failed: number;
  totals: Record<Outcome, number>;
  durationMs: number;
}

export interface DeliveryOutcome {
  /** True: deliver again ("retry" above); false: acknowledge ("done"). */
  retry: boolean;
  summary: DeliverySummary;
}

/** The events in a body: its raw text, or JSON a trigger has already parsed. */
export function parseDelivery(body: string | Buffer | unknown): Delivery | { error: string } {
  let value = body;
  if (typeof body === "string" || Buffer.isBuffer(body)) {
    const text = body.toString();
    try {
      value = JSON.parse(text);
    } catch {
      return { error: `the body is not JSON (${text.length} characters)` };
    }
  }
  if (!isObject(value)) return { error: "the body is not a JSON object" };
  if (!("events" in value)) {
    const one = toChangeEvent(value);
    return "error" in one ? one : { events: [one.event] };
  }
  if (!Array.isArray(value.events)) return { error: "events: a list is required" };
  const events: VaultChangeEvent[] = [];
  for (const [i, item] of value.events.entries()) {
    const parsed = toChangeEvent(item);
    if ("error" in parsed) return { error: `events[${i}]: ${parsed.error.replace("the body", "the event")}` };
    events.push(parsed.event);
  }
  return {
    events,
    ...(typeof value.delivery === "string" ? { delivery: value.delivery } : {}),
    ...(Number.isSafeInteger(value.attempt) ? { attempt: value.attempt as number } : {}),
  };
}

/** Pushes a delivery's events and says whether the platform should deliver them again. */
export async function pushDelivery(
  events: VaultChangeEvent[],
  push: (events: VaultChangeEvent[]) => Promise<PushEventsResult>,
  logger: Logger,
): Promise<DeliveryOutcome> {
  const started = performance.now();
  const summary = (failed: number, totals?: Record<Outcome, number>): DeliverySummary => ({
    events: events.length,
    failed,
    totals: totals ?? { created: 0, updated: 0, unchanged: 0, skipped: 0, deleted: 0, error: 0 },
    durationMs: Math.round(performance.now() - started),
  });
  if (events.length === 0) return { retry: false, summary: summary(0) };
  try {
    const { report, failedEventIds } = await push(events);
    const failed = new Set(failedEventIds).size;
    return { retry: failed > 0, summary: summary(failed, report.totals) };
  } catch (err) {
    logger.error("could not push the delivery", { events: events.length, error: err });
    return { retry: true, summary: summary(events.length) };
  }
}
