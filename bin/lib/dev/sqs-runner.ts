/**
 * What Lambda's SQS event source mapping does, for running the push worker locally: long-poll
 * the queue, hand each batch to the function as an SQS event, and delete the records that
 * succeeded. With ReportBatchItemFailures (as serverless.yml configures it):
 *
 * - the records named in `batchItemFailures` are left alone: they become visible again when
 *   their visibility timeout runs out, and the queue's redrive policy moves a message to the
 *   dead-letter queue once it has been received maxReceiveCount times;
 * - an empty or missing list means the whole batch succeeded;
 * - a thrown error, or a failure entry whose itemIdentifier is not the message id of a record
 *   in the batch, fails the whole batch (nothing is deleted).
 *
 * One batch is processed at a time: the next receive starts once the previous batch is
 * acknowledged.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SqsBatchResponse, SqsEvent } from "../../../functions/aws/lambda.ts";
import { sqsEvent } from "../../../functions/aws/sqs-event.ts";
import { silentLogger, type Logger } from "../../../shared/observability/logger.ts";

export interface SqsRunnerOptions {
  client: SQSClient;
  queueUrl: string;
  /** Put in every record's eventSourceARN. */
  queueArn: string;
  /** Put in every record's awsRegion. */
  region: string;
  /** The function: an SQS event in, the records to redeliver out. */
  handler: (event: SqsEvent, context: { awsRequestId: string }) => Promise<SqsBatchResponse | undefined>;
  /** Records per batch, 1 to 10. Default 10. */
  batchSize?: number;
  /** Long-poll wait, 0 to 20 s. Default 20. */
  waitTimeSeconds?: number;
  logger?: Logger;
}

export interface SqsRunner {
  /** Ends the long poll, lets a batch in progress finish and be acknowledged, then resolves. */
  stop(): Promise<void>;
}

const RECEIVE_RETRY_MS = 1_000;

export function startSqsRunner(options: SqsRunnerOptions): SqsRunner {
  const log = options.logger ?? silentLogger;
  const stopping = new AbortController();

  async function receive(): Promise<Message[]> {
    const out = await options.client.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: options.batchSize ?? 10,
        WaitTimeSeconds: options.waitTimeSeconds ?? 20,
        MessageSystemAttributeNames: ["All"],
        MessageAttributeNames: ["All"],
      }),
      { abortSignal: stopping.signal },
    );
    return out.Messages ?? [];
  }

  async function processBatch(messages: Message[]): Promise<void> {
    const event = sqsEvent(messages, options.queueArn, options.region);
    const ids = new Set(event.Records.map((r) => r.messageId));
    let failed: Set<string>;
    try {
      const response = await options.handler(event, { awsRequestId: randomUUID() });
      const reported = response?.batchItemFailures ?? [];
      if (reported.some((f) => typeof f?.itemIdentifier !== "string" || !ids.has(f.itemIdentifier))) {
        log.warn("batchItemFailures names a record not in the batch: the whole batch is retried", {
          records: ids.size,
        });
        failed = ids;
      } else failed = new Set(reported.map((f) => f.itemIdentifier));
    } catch (err) {
      log.warn("invocation failed: the whole batch is retried", { records: ids.size, err });
      failed = ids;
    }
    const done = event.Records.filter((r) => !failed.has(r.messageId));
    if (done.length === 0) return;
    const out = await options.client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: options.queueUrl,
        Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
      }),
    );
    for (const f of out.Failed ?? []) {
      log.warn("cannot delete a processed record; it will be delivered again", {
        messageId: done[Number(f.Id)]?.messageId,
        code: f.Code,
      });
    }
  }

  async function loop(): Promise<void> {
    while (!stopping.signal.aborted) {
      let messages: Message[];
      try {
        messages = await receive();
      } catch (err) {
        if (stopping.signal.aborted) return;
        log.warn("receive failed, retrying", { queueUrl: options.queueUrl, err });
        await sleep(RECEIVE_RETRY_MS, undefined, { signal: stopping.signal }).catch(() => undefined);
        continue;
      }
      if (messages.length === 0) continue;
      try {
        await processBatch(messages);
      } catch (err) {
        log.warn("cannot acknowledge the batch; its records will be delivered again", { err });
      }
    }
  }

  const running = loop();
  return {
    async stop() {
      stopping.abort();
      await running;
    },
  };
}
