/**
 * SQS sink: publishes change events to one queue with SendMessageBatch, one event per message
 * (the body is the VaultChangeEvent as JSON), at most 10 messages a call.
 *
 * FIFO queues (the URL ends in ".fifo"):
 *   MessageGroupId          "<namespace>/<mount>/<path>" ("/secret/app/db" in the root namespace):
 *                           SQS keeps the order of one secret's messages.
 *   MessageDeduplicationId  "<namespace>/<mount>/<path>@<version>" for writes and patches, so the
 *                           same write seen twice (audit device and event stream, or a resend) is
 *                           queued once; "<namespace>/<mount>/<path>@<event id>" for the other
 *                           operations and for writes without a version (a delete carries the
 *                           version it deleted, which must not collide with that version's write).
 * An id that is longer than 128 characters or uses characters SQS refuses (anything but printable
 * ASCII) becomes "sha256:<hex of the id>". One caveat: after a metadata-delete, KV versions start
 * again at 1, and a rewrite within SQS's 5-minute deduplication window is taken for the old write.
 * Standard queues get neither id.
 *
 * Failures: a failed call is retried by the SDK's own retry strategy and then rejects. Entries a
 * call reports as failed are sent again alone, with backoff, up to `maxAttempts` calls; whatever
 * is still failing then rejects the publish, and the forwarder puts the batch back in its queue.
 * Events SQS accepted are remembered (by object) so the batch's next publish skips them.
 *
 * The endpoint, region and credentials come from the SDK's usual sources (AWS_ENDPOINT_URL_SQS,
 * AWS_REGION, ...) unless given; a real queue URL names its region, which is used when no region
 * is given. Without any endpoint setting, requests go to the queue URL's host.
 */
import {
  SendMessageBatchCommand,
  SQSClient,
  type BatchResultErrorEntry,
  type SendMessageBatchRequestEntry,
} from "@aws-sdk/client-sqs";
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { PushsyncError } from "../errors/index.ts";
import type { Logger } from "../observability/logger.ts";
import { silentLogger } from "../observability/logger.ts";
import type { EventSink } from "./sink.ts";
import type { VaultChangeEvent } from "./types.ts";

export const SQS_MAX_BATCH = 10;
const MAX_ID_LENGTH = 128;
const ID_CHARS = /^[\x21-\x7e]+$/;

export interface SqsSinkOptions {
  queueUrl: string;
  /** Shown in logs and metrics. Default "sqs". */
  name?: string;
  /** A client to use (and leave open); by default one is made from `region` and `endpoint`. */
  client?: SQSClient;
  region?: string;
  endpoint?: string;
  /** Calls per batch while SQS reports entries failed. Default 3. */
  maxAttempts?: number;
  /** First backoff ceiling between those calls; doubles each time. Default 100 ms. */
  baseDelayMs?: number;
  logger?: Logger;
}

export function messageGroupId(e: VaultChangeEvent): string {
  return sqsId(`${e.namespace}/${e.mount}/${e.path}`);
}

export function deduplicationId(e: VaultChangeEvent): string {
  const byVersion = e.version !== undefined && (e.operation === "write" || e.operation === "patch");
  return sqsId(`${e.namespace}/${e.mount}/${e.path}@${byVersion ? e.version : e.id}`);
}

export function createSqsSink(options: SqsSinkOptions): EventSink {
  const name = options.name ?? "sqs";
  const fifo = new URL(options.queueUrl).pathname.endsWith(".fifo");
  const maxAttempts = options.maxAttempts ?? 3;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const log = options.logger ?? silentLogger;
  const region = options.region ?? regionOf(options.queueUrl);
  const client =
    options.client ??
    new SQSClient({
      ...(region !== undefined ? { region } : {}),
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      // Otherwise the SDK sends to the queue URL's host, over an endpoint set in the environment.
      useQueueUrlAsEndpoint: !(process.env.AWS_ENDPOINT_URL_SQS || process.env.AWS_ENDPOINT_URL),
    });
  const closing = new AbortController();
  const delivered = new WeakSet<VaultChangeEvent>();

  const entry = (event: VaultChangeEvent, id: string): SendMessageBatchRequestEntry => ({
    Id: id,
    MessageBody: JSON.stringify(event),
    ...(fifo
      ? { MessageGroupId: messageGroupId(event), MessageDeduplicationId: deduplicationId(event) }
      : {}),
  });

  async function send(entries: SendMessageBatchRequestEntry[]) {
    try {
      return await client.send(
        new SendMessageBatchCommand({ QueueUrl: options.queueUrl, Entries: entries }),
        {
          abortSignal: closing.signal,
        },
      );
    } catch (err) {
      // Bodies hold no values (see types.ts), so SQS's message may be shown.
      const e = err as { name?: string; message?: string; $fault?: string };
      const what = `${e.name ?? "Error"}: ${String(e.message ?? "").slice(0, 200)}`;
      const retryable = e.$fault !== "client" || /throttl/i.test(e.name ?? "");
      throw new PushsyncError(
        retryable ? "Unavailable" : "Invalid",
        `sqs ${name}: SendMessageBatch failed (${what})`,
        retryable,
      );
    }
  }

  /** Up to 10 events; retries the entries SQS reports failed. */
  async function publishBatch(events: VaultChangeEvent[]): Promise<void> {
    let pending = new Map(events.map((e, i) => [String(i), e]));
    let failed: BatchResultErrorEntry[] = [];
    for (let attempt = 1; ; attempt++) {
      const out = await send([...pending].map(([id, e]) => entry(e, id)));
      for (const ok of out.Successful ?? []) {
        const e = pending.get(ok.Id ?? "");
        if (e) delivered.add(e);
      }
      failed = out.Failed ?? [];
      const failedIds = new Set(failed.map((f) => f.Id));
      pending = new Map([...pending].filter(([id]) => failedIds.has(id)));
      if (pending.size === 0) return;
      if (attempt >= maxAttempts) break;
      const delay = Math.random() * baseDelayMs * 2 ** (attempt - 1);
      log.warn("sqs entries failed, sending them again", {
        sink: name,
        failed: pending.size,
        codes: codes(failed),
        attempt,
      });
      await sleep(delay, undefined, { signal: closing.signal }).catch(() => undefined);
      if (closing.signal.aborted) break;
    }
    const senderOnly = failed.every((f) => f.SenderFault);
    throw new PushsyncError(
      senderOnly ? "Invalid" : "Unavailable",
      `sqs ${name}: ${pending.size} of ${events.length} message(s) not accepted (${codes(failed)})`,
      !senderOnly,
    );
  }

  return {
    name,
    maxBatchSize: SQS_MAX_BATCH,
    async publish(events) {
      const todo = events.filter((e) => !delivered.has(e));
      for (let i = 0; i < todo.length; i += SQS_MAX_BATCH)
        await publishBatch(todo.slice(i, i + SQS_MAX_BATCH));
    },
    async close() {
      closing.abort();
      if (!options.client) client.destroy();
    },
  };
}

/** The id itself when SQS accepts it, else a digest of it (same id, same digest). */
function sqsId(raw: string): string {
  if (raw.length <= MAX_ID_LENGTH && ID_CHARS.test(raw)) return raw;
  return `sha256:${createHash("sha256").update(raw).digest("hex")}`;
}

/** "sqs.eu-west-1.amazonaws.com" (and the older "eu-west-1.queue.amazonaws.com") name their region. */
function regionOf(queueUrl: string): string | undefined {
  const host = new URL(queueUrl).hostname;
  return (
    /^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(host)?.[1] ??
    /^([a-z0-9-]+)\.queue\.amazonaws\.com(\.cn)?$/.exec(host)?.[1]
  );
}

function codes(failed: BatchResultErrorEntry[]): string {
  return [...new Set(failed.map((f) => f.Code ?? "unknown"))].join(", ");
}
