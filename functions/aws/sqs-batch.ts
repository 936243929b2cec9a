/**
 * One SQS batch → one push → the records to redeliver (ReportBatchItemFailures).
 *
 * - Each body is one VaultChangeEvent as JSON. A body that is not one is a permanent failure:
 *   it is logged (message id, receive count, the reason, never the body) and reported failed,
 *   so SQS redelivers it until maxReceiveCount moves it to the dead-letter queue, where it can
 *   be inspected. Failing it rather than dropping it keeps the poison message visible.
 * - Records of one secret (namespace, mount, path) are coalesced into the newest event, so a
 *   burst of writes costs one push. When that push fails retryably, every record coalesced into
 *   it is reported failed.
 * - FIFO queues: once a record of a message group fails, every later record of that group in the
 *   batch is reported failed too, as Lambda requires to keep the group's order.
 *
 * Partial batch responses are built here rather than with @middy/sqs-partial-batch-failure: that
 * middleware maps one settled promise per record, which fits neither coalesced records failing
 * together nor the FIFO group rule.
 */
import { secretKey, type VaultChangeEvent } from "../../shared/events/types.ts";
import type { Logger } from "../../shared/observability/logger.ts";
import { newestOf, parseChangeEvent, type PushEventsResult } from "../../shared/runtime/index.ts";
import type { SqsBatchResponse, SqsRecord } from "./lambda.ts";

export async function processBatch(
  records: SqsRecord[],
  push: (events: VaultChangeEvent[]) => Promise<PushEventsResult>,
  logger: Logger,
): Promise<SqsBatchResponse> {
  const failed = new Set<string>();
  const groups = new Map<string, { events: VaultChangeEvent[]; messageIds: string[] }>();
  for (const r of records) {
    const parsed = parseChangeEvent(r.body);
    if ("error" in parsed) {
      logger.warn(
        "malformed message: reported failed, it goes to the dead-letter queue after maxReceiveCount",
        {
          messageId: r.messageId,
          receiveCount: Number(r.attributes.ApproximateReceiveCount),
          reason: parsed.error,
        },
      );
      failed.add(r.messageId);
      continue;
    }
    const { namespace, mount, path } = parsed.event;
    const key = secretKey(namespace, mount, path);
    const group = groups.get(key) ?? { events: [], messageIds: [] };
    group.events.push(parsed.event);
    group.messageIds.push(r.messageId);
    groups.set(key, group);
  }

  const newest = [...groups.values()].map((g) => ({ event: newestOf(g.events), messageIds: g.messageIds }));
  if (newest.length > 0) {
    const { report, failedEventIds } = await push(newest.map((n) => n.event));
    const failedEvents = new Set(failedEventIds);
    for (const n of newest) if (failedEvents.has(n.event.id)) n.messageIds.forEach((id) => failed.add(id));
    logger.info("push batch", {
      records: records.length,
      secrets: newest.length,
      failedSecrets: failedEvents.size,
      totals: report.totals,
    });
  }

  const blockedGroups = new Set<string>();
  for (const r of records) {
    const group = r.attributes.MessageGroupId;
    if (group === undefined) continue;
    if (blockedGroups.has(group)) failed.add(r.messageId);
    else if (failed.has(r.messageId)) blockedGroups.add(group);
  }
  return {
    batchItemFailures: records
      .filter((r) => failed.has(r.messageId))
      .map((r) => ({ itemIdentifier: r.messageId })),
  };
}
