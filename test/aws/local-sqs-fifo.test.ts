/**
 * FIFO queues on the local SQS: order within a message group, a group held while one of its
 * messages is in flight, and deduplication within 5 minutes (moved through by the injected clock).
 */
import { createHash } from "node:crypto";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
  SendMessageBatchCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalAws, startLocalAws } from "../../infra/local/aws/index.ts";
import { sqsClient, sqsError, TestClock } from "./local-sqs-helpers.ts";

let aws: LocalAws;
let sqs: SQSClient;
const clock = new TestClock();
let queueCount = 0;

beforeAll(async () => {
  aws = await startLocalAws({ port: 0, sqsClock: clock.now });
  sqs = sqsClient(aws);
});
afterAll(async () => {
  sqs?.destroy();
  await aws?.close();
});

async function newFifo(attributes: Record<string, string> = {}): Promise<string> {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: `fifo-${++queueCount}.fifo`,
      Attributes: { FifoQueue: "true", ...attributes },
    }),
  );
  return QueueUrl!;
}

async function send(QueueUrl: string, MessageGroupId: string, body: string, dedup = body) {
  return sqs.send(
    new SendMessageCommand({ QueueUrl, MessageGroupId, MessageBody: body, MessageDeduplicationId: dedup }),
  );
}

async function receive(QueueUrl: string, MaxNumberOfMessages = 10) {
  const out = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages, MessageSystemAttributeNames: ["All"] }),
  );
  return out.Messages ?? [];
}

const bodies = (messages: { Body?: string }[]): (string | undefined)[] => messages.map((m) => m.Body);

describe("FIFO queues", () => {
  it("delivers each group in send order and holds a group while one of its messages is in flight", async () => {
    const QueueUrl = await newFifo({ VisibilityTimeout: "30" });
    for (const [group, body] of [
      ["a", "a1"],
      ["a", "a2"],
      ["b", "b1"],
      ["a", "a3"],
      ["b", "b2"],
    ])
      await send(QueueUrl, group!, body!);

    const [a1] = await receive(QueueUrl, 1);
    expect(a1!.Body).toBe("a1");
    // Group a is held by a1; group b comes out whole, in order.
    const bs = await receive(QueueUrl);
    expect(bodies(bs)).toEqual(["b1", "b2"]);
    expect(await receive(QueueUrl)).toEqual([]);

    await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: a1!.ReceiptHandle }));
    expect(bodies(await receive(QueueUrl))).toEqual(["a2", "a3"]);

    // Once b's messages are visible again they come back first-to-last, counted twice.
    clock.advance(31_000);
    const again = await receive(QueueUrl);
    expect(bodies(again)).toEqual(["a2", "b1", "a3", "b2"]);
    expect(again.find((m) => m.Body === "b1")!.Attributes!.ApproximateReceiveCount).toBe("2");
  });

  it("answers sequence numbers and FIFO system attributes", async () => {
    const QueueUrl = await newFifo();
    const first = await send(QueueUrl, "g", "one", "d-1");
    const second = await send(QueueUrl, "g", "two", "d-2");
    expect(first.SequenceNumber).toMatch(/^\d{20}$/);
    expect(BigInt(second.SequenceNumber!)).toBeGreaterThan(BigInt(first.SequenceNumber!));
    const [m] = await receive(QueueUrl, 1);
    expect(m!.Attributes).toMatchObject({
      MessageGroupId: "g",
      MessageDeduplicationId: "d-1",
      SequenceNumber: first.SequenceNumber,
      ApproximateReceiveCount: "1",
    });
  });

  it("deduplicates by MessageDeduplicationId for 5 minutes, even after the message is deleted", async () => {
    const QueueUrl = await newFifo();
    const first = await send(QueueUrl, "g", "payload", "dedup-1");
    const repeat = await send(QueueUrl, "g", "another body", "dedup-1");
    expect(repeat.MessageId).toBe(first.MessageId);
    expect(repeat.SequenceNumber).toBe(first.SequenceNumber);
    const [m] = await receive(QueueUrl);
    expect(m!.Body).toBe("payload");
    await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m!.ReceiptHandle }));

    clock.advance(4 * 60_000);
    expect((await send(QueueUrl, "g", "payload", "dedup-1")).MessageId).toBe(first.MessageId);
    expect(await receive(QueueUrl)).toEqual([]);

    clock.advance(60_000 + 1);
    const later = await send(QueueUrl, "g", "payload", "dedup-1");
    expect(later.MessageId).not.toBe(first.MessageId);
    expect(bodies(await receive(QueueUrl))).toEqual(["payload"]);
  });

  it("deduplicates by the body's SHA-256 under ContentBasedDeduplication", async () => {
    const QueueUrl = await newFifo({ ContentBasedDeduplication: "true" });
    const send1 = (body: string, attrs?: Record<string, string>) =>
      sqs.send(
        new SendMessageCommand({
          QueueUrl,
          MessageGroupId: "g",
          MessageBody: body,
          MessageAttributes: attrs
            ? Object.fromEntries(
                Object.entries(attrs).map(([k, v]) => [k, { DataType: "String", StringValue: v }]),
              )
            : undefined,
        }),
      );
    const a = await send1("same body");
    const b = await send1("same body", { differs: "only in attributes" });
    const c = await send1("other body");
    expect(b.MessageId).toBe(a.MessageId);
    expect(c.MessageId).not.toBe(a.MessageId);
    const [m] = await receive(QueueUrl, 1);
    expect(m!.Body).toBe("same body");
    expect(m!.Attributes!.MessageDeduplicationId).toBe(
      createHash("sha256").update("same body").digest("hex"),
    );
  });

  it("deduplicates within a batch and keeps the batch's order", async () => {
    const QueueUrl = await newFifo();
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: [
          { Id: "e1", MessageGroupId: "g", MessageBody: "first", MessageDeduplicationId: "x1" },
          { Id: "e2", MessageGroupId: "g", MessageBody: "second", MessageDeduplicationId: "x2" },
          { Id: "e3", MessageGroupId: "g", MessageBody: "first again", MessageDeduplicationId: "x1" },
          { Id: "e4", MessageBody: "no group", MessageDeduplicationId: "x4" },
        ],
      }),
    );
    expect(out.Successful?.map((e) => e.Id)).toEqual(["e1", "e2", "e3"]);
    expect(out.Successful?.[2]?.MessageId).toBe(out.Successful?.[0]?.MessageId);
    expect(out.Failed?.map((e) => [e.Id, e.Code])).toEqual([["e4", "MissingParameter"]]);
    expect(bodies(await receive(QueueUrl))).toEqual(["first", "second"]);
  });

  it("refuses what a FIFO queue does not take, and FIFO parameters on a standard queue", async () => {
    const QueueUrl = await newFifo();
    const noGroup = await sqsError(
      sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "x", MessageDeduplicationId: "d" })),
    );
    expect([noGroup.Code, noGroup.message]).toEqual([
      "MissingParameter",
      "The request must contain the parameter MessageGroupId.",
    ]);
    const noDedup = await sqsError(
      sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "x", MessageGroupId: "g" })),
    );
    expect([noDedup.Code, noDedup.message]).toEqual([
      "InvalidParameterValue",
      "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
    ]);
    const delay = await sqsError(
      sqs.send(
        new SendMessageCommand({
          QueueUrl,
          MessageBody: "x",
          MessageGroupId: "g",
          MessageDeduplicationId: "d",
          DelaySeconds: 2,
        }),
      ),
    );
    expect(delay.message).toBe(
      "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
    );

    const { QueueUrl: standardUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: `std-${++queueCount}` }),
    );
    const dedupOnStandard = await sqsError(
      sqs.send(
        new SendMessageCommand({ QueueUrl: standardUrl, MessageBody: "x", MessageDeduplicationId: "d" }),
      ),
    );
    expect(dedupOnStandard.Code).toBe("InvalidParameterValue");
    const standardArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: standardUrl, AttributeNames: ["QueueArn"] }))
    ).Attributes!.QueueArn!;
    const mixed = await sqsError(
      sqs.send(
        new CreateQueueCommand({
          QueueName: `mixed-${++queueCount}.fifo`,
          Attributes: {
            FifoQueue: "true",
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: standardArn, maxReceiveCount: 3 }),
          },
        }),
      ),
    );
    expect(mixed.message).toMatch(/Dead-letter queue must be same type of queue as the source/);
  });

  it("treats a receipt handle as expired once its message is visible again", async () => {
    const QueueUrl = await newFifo({ VisibilityTimeout: "10" });
    await send(QueueUrl, "g", "slow");
    const [m] = await receive(QueueUrl);
    clock.advance(11_000);
    const err = await sqsError(
      sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m!.ReceiptHandle })),
    );
    expect([err.Code, err.message]).toEqual([
      "InvalidParameterValue",
      `Value ${m!.ReceiptHandle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.`,
    ]);
    expect(bodies(await receive(QueueUrl))).toEqual(["slow"]);
  });

  it("answers the FIFO queue attributes", async () => {
    const QueueUrl = await newFifo({ ContentBasedDeduplication: "true" });
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }),
    );
    expect(Attributes).toMatchObject({
      FifoQueue: "true",
      ContentBasedDeduplication: "true",
      DeduplicationScope: "queue",
      FifoThroughputLimit: "perQueue",
    });
  });
});
