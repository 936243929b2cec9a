/**
 * The local SQS through @aws-sdk/client-sqs (MD5 checks on) and raw HTTP: queues, messages,
 * visibility, dead-letter queues, batches and errors. Time moves by the injected clock.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  type MessageAttributeValue,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  type ReceiveMessageCommandInput,
  type SQSClient,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalAws, startLocalAws } from "../../infra/local/aws/index.ts";
import { md5Hex, rawSqs, sqsClient, sqsError, TestClock } from "./local-sqs-helpers.ts";

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

/** A new queue with a unique name. */
async function newQueue(attributes: Record<string, string> = {}, base = "q"): Promise<string> {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: `${base}-${++queueCount}`, Attributes: attributes }),
  );
  return QueueUrl!;
}

async function attributes(QueueUrl: string, names = ["All"]): Promise<Record<string, string>> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: names as never[] }));
  return out.Attributes ?? {};
}

async function receive(QueueUrl: string, extra: Partial<ReceiveMessageCommandInput> = {}) {
  const out = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl, MessageSystemAttributeNames: ["All"], ...extra }),
  );
  return out.Messages ?? [];
}

describe("queues", () => {
  it("creates a queue with AWS's URL and ARN forms, finds it by name and lists it", async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "orders-main" }));
    expect(QueueUrl).toBe(`${aws.url}/000000000000/orders-main`);
    const found = await sqs.send(new GetQueueUrlCommand({ QueueName: "orders-main" }));
    expect(found.QueueUrl).toBe(QueueUrl);
    expect((await attributes(QueueUrl!, ["QueueArn"])).QueueArn).toBe(
      "arn:aws:sqs:us-east-1:000000000000:orders-main",
    );
    const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: "orders-" }));
    expect(listed.QueueUrls).toEqual([QueueUrl]);

    // Any host in a QueueUrl names the same queue.
    const elsewhere = QueueUrl!.replace(aws.url, "https://sqs.us-east-1.amazonaws.com");
    const raw = await rawSqs(aws, "GetQueueAttributes", {
      QueueUrl: elsewhere,
      AttributeNames: ["QueueArn"],
    });
    expect(raw.status).toBe(200);
    expect(raw.json).toEqual({ Attributes: { QueueArn: "arn:aws:sqs:us-east-1:000000000000:orders-main" } });
  });

  it("answers CreateQueue again for the same attributes and refuses different ones", async () => {
    const QueueName = `same-${++queueCount}`;
    const first = await sqs.send(
      new CreateQueueCommand({ QueueName, Attributes: { VisibilityTimeout: "45" } }),
    );
    const again = await sqs.send(
      new CreateQueueCommand({ QueueName, Attributes: { VisibilityTimeout: "45" } }),
    );
    const bare = await sqs.send(new CreateQueueCommand({ QueueName }));
    expect(again.QueueUrl).toBe(first.QueueUrl);
    expect(bare.QueueUrl).toBe(first.QueueUrl);

    const err = await sqsError(
      sqs.send(new CreateQueueCommand({ QueueName, Attributes: { VisibilityTimeout: "46" } })),
    );
    expect(err.name).toBe("QueueNameExists");
    expect(err.Code).toBe("QueueAlreadyExists");
    expect(err.message).toBe(
      "A queue already exists with the same name and a different value for attribute VisibilityTimeout",
    );
    expect((await attributes(first.QueueUrl!)).VisibilityTimeout).toBe("45");
  });

  it("enforces queue names: 1-80 of [A-Za-z0-9_-], and the .fifo suffix exactly for FIFO queues", async () => {
    const refused = async (QueueName: string, Attributes?: Record<string, string>): Promise<string> => {
      const err = await sqsError(sqs.send(new CreateQueueCommand({ QueueName, Attributes })));
      expect(err.Code).toBe("InvalidParameterValue");
      return err.message ?? "";
    };
    expect(await refused("has space")).toMatch(/alphanumeric characters, hyphens, or underscores/);
    expect(await refused("a".repeat(81))).toMatch(/1 to 80 in length/);
    expect(await refused("standard.fifo")).toMatch(/alphanumeric/);
    expect(await refused("no-suffix", { FifoQueue: "true" })).toMatch(/must end with \.fifo suffix/);
    expect(await refused(`${"f".repeat(76)}.fifo`, { FifoQueue: "true" })).toMatch(/1 to 80/);

    await sqs.send(new CreateQueueCommand({ QueueName: "a".repeat(80) }));
    const fifo = await sqs.send(
      new CreateQueueCommand({ QueueName: `${"f".repeat(75)}.fifo`, Attributes: { FifoQueue: "true" } }),
    );
    expect((await attributes(fifo.QueueUrl!)).FifoQueue).toBe("true");
  });

  it("answers attributes with defaults and live counts, and applies SetQueueAttributes", async () => {
    const QueueUrl = await newQueue();
    expect(await attributes(QueueUrl)).toMatchObject({
      VisibilityTimeout: "30",
      MessageRetentionPeriod: "345600",
      DelaySeconds: "0",
      ReceiveMessageWaitTimeSeconds: "0",
      MaximumMessageSize: "1048576",
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "0",
      ApproximateNumberOfMessagesDelayed: "0",
    });
    expect(await attributes(QueueUrl)).not.toHaveProperty("FifoQueue");

    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "one" }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "two" }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "later", DelaySeconds: 60 }));
    await receive(QueueUrl);
    expect(
      await attributes(QueueUrl, [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
      ]),
    ).toEqual({
      ApproximateNumberOfMessages: "1",
      ApproximateNumberOfMessagesNotVisible: "1",
      ApproximateNumberOfMessagesDelayed: "1",
    });

    await sqs.send(
      new SetQueueAttributesCommand({ QueueUrl, Attributes: { VisibilityTimeout: "60", DelaySeconds: "5" } }),
    );
    expect(await attributes(QueueUrl, ["VisibilityTimeout", "DelaySeconds"])).toEqual({
      VisibilityTimeout: "60",
      DelaySeconds: "5",
    });

    const unknown = await sqsError(
      sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: { ["Colour" as never]: "blue" } })),
    );
    expect([unknown.name, unknown.message]).toEqual(["InvalidAttributeName", "Unknown Attribute Colour."]);
    const fifoOnly = await sqsError(
      sqs.send(
        new SetQueueAttributesCommand({ QueueUrl, Attributes: { ContentBasedDeduplication: "true" } }),
      ),
    );
    expect(fifoOnly.name).toBe("InvalidAttributeName");
    const bad = await sqsError(
      sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: { VisibilityTimeout: "43201" } })),
    );
    expect([bad.name, bad.message]).toEqual([
      "InvalidAttributeValue",
      "Invalid value for the parameter VisibilityTimeout.",
    ]);
    const badName = await sqsError(
      sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["Colour" as never] })),
    );
    expect(badName.name).toBe("InvalidAttributeName");
  });

  it("lists queues a page at a time when MaxResults is given", async () => {
    for (let i = 0; i < 3; i++) await sqs.send(new CreateQueueCommand({ QueueName: `paged-${i}` }));
    const first = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: "paged-", MaxResults: 2 }));
    expect(first.QueueUrls?.map((u) => u.split("/").pop())).toEqual(["paged-0", "paged-1"]);
    expect(first.NextToken).toBeDefined();
    const second = await sqs.send(
      new ListQueuesCommand({ QueueNamePrefix: "paged-", MaxResults: 2, NextToken: first.NextToken }),
    );
    expect(second.QueueUrls?.map((u) => u.split("/").pop())).toEqual(["paged-2"]);
    expect(second.NextToken).toBeUndefined();
  });

  it("deletes a queue and refuses its name for 60 seconds", async () => {
    const QueueName = `gone-${++queueCount}`;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl }));
    expect((await sqsError(sqs.send(new GetQueueUrlCommand({ QueueName })))).name).toBe("QueueDoesNotExist");
    const early = await sqsError(sqs.send(new CreateQueueCommand({ QueueName })));
    expect([early.name, early.Code]).toEqual([
      "QueueDeletedRecently",
      "AWS.SimpleQueueService.QueueDeletedRecently",
    ]);
    clock.advance(61_000);
    expect((await sqs.send(new CreateQueueCommand({ QueueName }))).QueueUrl).toBe(QueueUrl);
  });

  it("purges every message, in flight or not, once per 60 seconds", async () => {
    const QueueUrl = await newQueue();
    for (const body of ["a", "b", "c"])
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
    await receive(QueueUrl);
    await sqs.send(new PurgeQueueCommand({ QueueUrl }));
    expect(
      await attributes(QueueUrl, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]),
    ).toEqual({
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "0",
    });
    const again = await sqsError(sqs.send(new PurgeQueueCommand({ QueueUrl })));
    expect([again.name, again.$metadata?.httpStatusCode]).toEqual(["PurgeQueueInProgress", 403]);
    clock.advance(60_000);
    await sqs.send(new PurgeQueueCommand({ QueueUrl }));
  });
});

describe("messages", () => {
  it("sends, receives and deletes a message, with body MD5s the SDK checks", async () => {
    const QueueUrl = await newQueue();
    const body = '{"event":"rotated","path":"secret/db"} é ✓ 🔑';
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
    expect(sent.MD5OfMessageBody).toBe(md5Hex(body));
    expect(sent.MD5OfMessageAttributes).toBeUndefined();
    expect(sent.MessageId).toMatch(/^[0-9a-f-]{36}$/);

    const before = clock.now();
    const [m] = await receive(QueueUrl, { MaxNumberOfMessages: 10 });
    expect(m).toMatchObject({ MessageId: sent.MessageId, Body: body, MD5OfBody: md5Hex(body) });
    expect(m!.Attributes).toMatchObject({ ApproximateReceiveCount: "1", SenderId: "000000000000" });
    expect(Number(m!.Attributes!.SentTimestamp)).toBeLessThanOrEqual(before);
    expect(Number(m!.Attributes!.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(before);

    await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m!.ReceiptHandle }));
    clock.advance(31_000);
    expect(await receive(QueueUrl)).toEqual([]);
    expect((await attributes(QueueUrl)).ApproximateNumberOfMessagesNotVisible).toBe("0");
  });

  it("computes message attribute MD5s as AWS does, over the attributes a receive returns", async () => {
    // Expected digests are values real SQS answered for these exact attributes.
    const QueueUrl = await newQueue({ VisibilityTimeout: "0" });
    const s = (StringValue: string): MessageAttributeValue => ({ DataType: "String", StringValue });
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: "msg",
        MessageAttributes: { "Help.Me": s("Me"), Hello: s("There"), General: s("Kenobi") },
      }),
    );
    expect(sent.MD5OfMessageAttributes).toBe("4c360f3fdafd970e05fae2f149d997f5");

    const md5For = async (names: string[]): Promise<[string[], string | undefined]> => {
      const [m] = await receive(QueueUrl, { MessageAttributeNames: names });
      return [Object.keys(m!.MessageAttributes ?? {}).sort(), m!.MD5OfMessageAttributes];
    };
    expect(await md5For(["All"])).toEqual([
      ["General", "Hello", "Help.Me"],
      "4c360f3fdafd970e05fae2f149d997f5",
    ]);
    expect(await md5For(["Hello", "General"])).toEqual([
      ["General", "Hello"],
      "fca026605781cb4126a1e9044df24232",
    ]);
    expect(await md5For(["Foo", "Hello"])).toEqual([["Hello"], "a311262e065454b75da111d535b8dacd"]);
    expect(await md5For(["Hel.*"])).toEqual([["Hello", "Help.Me"], "83fee93c1bcd8b9a5a923ffacdc636c7"]);
    expect(await md5For(["Foo", "Help"])).toEqual([[], undefined]);
    expect(await md5For([])).toEqual([[], undefined]);

    const binary = Buffer.from(
      "traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01",
      "latin1",
    );
    const withBinary = await sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: "test",
        MessageAttributes: { attr1: { DataType: "Binary", BinaryValue: binary } },
      }),
    );
    expect(withBinary.MD5OfMessageAttributes).toBe("8cbe4db156db8a94db8b801b7addb984");
    const baz = await sqs.send(
      new SendMessageCommand({ QueueUrl, MessageBody: '{"foo":20}', MessageAttributes: { baz: s("qux") } }),
    );
    expect([baz.MD5OfMessageBody, baz.MD5OfMessageAttributes]).toEqual([
      "d6cf0f93237ada70daf9b6e75cfff2e6",
      "16bd0283a5b4962721ccd3efe4bc6257",
    ]);
  });

  it("returns binary and number attributes as sent, and refuses malformed ones", async () => {
    const QueueUrl = await newQueue();
    await sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: "typed",
        MessageAttributes: {
          blob: { DataType: "Binary.gzip", BinaryValue: Buffer.from([0, 1, 254, 255]) },
          count: { DataType: "Number.int", StringValue: "-12.5e3" },
        },
      }),
    );
    const [m] = await receive(QueueUrl, { MessageAttributeNames: ["All"] });
    expect(Buffer.from(m!.MessageAttributes!.blob!.BinaryValue!)).toEqual(Buffer.from([0, 1, 254, 255]));
    expect(m!.MessageAttributes!.blob!.DataType).toBe("Binary.gzip");
    expect(m!.MessageAttributes!.count).toEqual({ DataType: "Number.int", StringValue: "-12.5e3" });

    const malformed: Record<string, MessageAttributeValue>[] = [
      { n: { DataType: "Number", StringValue: "twelve" } },
      { n: { DataType: "Date", StringValue: "2024-01-01" } },
      { "AWS.reserved": { DataType: "String", StringValue: "x" } },
      { n: { DataType: "String", StringValue: "" } },
    ];
    for (const attrs of malformed) {
      const err = await sqsError(
        sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "x", MessageAttributes: attrs })),
      );
      expect(err.Code).toBe("InvalidParameterValue");
    }
  });

  it("refuses bodies that are too large or hold invalid characters, without echoing them", async () => {
    const QueueUrl = await newQueue({ MaximumMessageSize: "1024" });
    const secretish = `s3cr3t-${"x".repeat(1100)}`;
    const big = await sqsError(sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: secretish })));
    expect([big.Code, big.message]).toEqual([
      "InvalidParameterValue",
      "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.",
    ]);
    const control = await sqsError(
      sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "s3cr3t\u0001" })),
    );
    expect(control.name).toBe("InvalidMessageContents");
    expect(control.message).not.toContain("s3cr3t");
    // Attributes count toward the size too.
    const withAttrs = await sqsError(
      sqs.send(
        new SendMessageCommand({
          QueueUrl,
          MessageBody: "x".repeat(1000),
          MessageAttributes: { pad: { DataType: "String", StringValue: "y".repeat(30) } },
        }),
      ),
    );
    expect(withAttrs.Code).toBe("InvalidParameterValue");
  });

  it("hides a received message until its visibility timeout runs out, then redelivers it", async () => {
    const QueueUrl = await newQueue({ VisibilityTimeout: "30" });
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "job" }));
    const [first] = await receive(QueueUrl);
    expect(await receive(QueueUrl)).toEqual([]);
    clock.advance(29_000);
    expect(await receive(QueueUrl)).toEqual([]);
    clock.advance(2_000);
    const [second] = await receive(QueueUrl);
    expect(second!.MessageId).toBe(sent.MessageId);
    expect(second!.ReceiptHandle).not.toBe(first!.ReceiptHandle);
    expect(second!.Attributes!.ApproximateReceiveCount).toBe("2");
    expect(second!.Attributes!.ApproximateFirstReceiveTimestamp).toBe(
      first!.Attributes!.ApproximateFirstReceiveTimestamp,
    );
    expect(second!.Attributes!.SentTimestamp).toBe(first!.Attributes!.SentTimestamp);

    // The older handle no longer deletes it; the latest does.
    await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: first!.ReceiptHandle }));
    expect((await attributes(QueueUrl)).ApproximateNumberOfMessagesNotVisible).toBe("1");
    await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: second!.ReceiptHandle }));
    expect((await attributes(QueueUrl)).ApproximateNumberOfMessagesNotVisible).toBe("0");
  });

  it("takes the receive's own VisibilityTimeout and ChangeMessageVisibility", async () => {
    const QueueUrl = await newQueue();
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "a" }));
    const [m] = await receive(QueueUrl, { VisibilityTimeout: 5 });
    clock.advance(6_000);
    const [again] = await receive(QueueUrl);
    expect(again!.MessageId).toBe(m!.MessageId);

    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl,
        ReceiptHandle: again!.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    const [third] = await receive(QueueUrl, { VisibilityTimeout: 10 });
    expect(third!.Attributes!.ApproximateReceiveCount).toBe("3");
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl,
        ReceiptHandle: third!.ReceiptHandle,
        VisibilityTimeout: 100,
      }),
    );
    clock.advance(50_000);
    expect(await receive(QueueUrl)).toEqual([]);
    clock.advance(51_000);

    const notInFlight = await sqsError(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl,
          ReceiptHandle: third!.ReceiptHandle,
          VisibilityTimeout: 10,
        }),
      ),
    );
    expect([notInFlight.name, notInFlight.Code]).toEqual([
      "MessageNotInflight",
      "AWS.SimpleQueueService.MessageNotInflight",
    ]);
    const invalid = await sqsError(
      sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: "not-a-receipt-handle" })),
    );
    expect([invalid.name, invalid.$metadata?.httpStatusCode]).toEqual(["ReceiptHandleIsInvalid", 404]);
  });

  it("delays messages by DelaySeconds (per message or the queue's) and drops them after the retention period", async () => {
    const QueueUrl = await newQueue({ DelaySeconds: "20", MessageRetentionPeriod: "120" });
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "queue delay" }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "own delay", DelaySeconds: 60 }));
    expect(await receive(QueueUrl)).toEqual([]);
    clock.advance(21_000);
    expect((await receive(QueueUrl, { VisibilityTimeout: 0 })).map((m) => m.Body)).toEqual(["queue delay"]);
    clock.advance(40_000);
    expect(
      (await receive(QueueUrl, { MaxNumberOfMessages: 10, VisibilityTimeout: 0 })).map((m) => m.Body),
    ).toEqual(["queue delay", "own delay"]);
    clock.advance(60_000);
    expect(await receive(QueueUrl)).toEqual([]);
    expect((await attributes(QueueUrl)).ApproximateNumberOfMessages).toBe("0");
  });

  it("moves a message to the dead-letter queue once its receives would exceed maxReceiveCount", async () => {
    const dlqUrl = await newQueue({}, "dlq");
    const dlqArn = (await attributes(dlqUrl, ["QueueArn"])).QueueArn!;
    const policy = JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: "2" });
    const QueueUrl = await newQueue({ RedrivePolicy: policy, VisibilityTimeout: "0" });
    expect(JSON.parse((await attributes(QueueUrl)).RedrivePolicy!)).toEqual({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: 2,
    });

    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: "poison",
        MessageAttributes: { kind: { DataType: "String", StringValue: "test" } },
      }),
    );
    expect((await receive(QueueUrl)).map((m) => m.Attributes!.ApproximateReceiveCount)).toEqual(["1"]);
    expect((await receive(QueueUrl)).map((m) => m.Attributes!.ApproximateReceiveCount)).toEqual(["2"]);
    expect(await receive(QueueUrl)).toEqual([]);
    expect((await attributes(QueueUrl)).ApproximateNumberOfMessages).toBe("0");

    const [dead] = await receive(dlqUrl, { MessageAttributeNames: ["All"] });
    expect(dead).toMatchObject({ MessageId: sent.MessageId, Body: "poison" });
    expect(dead!.MessageAttributes).toEqual({ kind: { DataType: "String", StringValue: "test" } });
    expect(dead!.Attributes!.DeadLetterQueueSourceArn).toBe(
      (await attributes(QueueUrl, ["QueueArn"])).QueueArn,
    );
  });

  it("validates RedrivePolicy: an existing queue of the same type and a maxReceiveCount of 1-1000", async () => {
    const missing = JSON.stringify({
      deadLetterTargetArn: "arn:aws:sqs:us-east-1:000000000000:no-such-queue",
      maxReceiveCount: 3,
    });
    const absent = await sqsError(
      sqs.send(new CreateQueueCommand({ QueueName: "redrive-bad", Attributes: { RedrivePolicy: missing } })),
    );
    expect([absent.Code, absent.message]).toEqual([
      "InvalidParameterValue",
      `Value ${missing} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.`,
    ]);
    const dlqArn = (await attributes(await newQueue({}, "dlq"), ["QueueArn"])).QueueArn!;
    const zero = JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 0 });
    const err = await sqsError(
      sqs.send(new CreateQueueCommand({ QueueName: "redrive-bad", Attributes: { RedrivePolicy: zero } })),
    );
    expect(err.message).toMatch(/Invalid value for maxReceiveCount/);
    const notJson = await sqsError(
      sqs.send(new CreateQueueCommand({ QueueName: "redrive-bad", Attributes: { RedrivePolicy: "{" } })),
    );
    expect(notJson.Code).toBe("InvalidParameterValue");
  });
});

describe("batches", () => {
  it("sends a batch, reporting each entry's success or failure", async () => {
    const QueueUrl = await newQueue();
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: [
          { Id: "ok-1", MessageBody: "first" },
          { Id: "bad-chars", MessageBody: "bad\u0000" },
          {
            Id: "ok-2",
            MessageBody: "second",
            MessageAttributes: { a: { DataType: "String", StringValue: "b" } },
          },
          {
            Id: "bad-number",
            MessageBody: "x",
            MessageAttributes: { n: { DataType: "Number", StringValue: "NaN" } },
          },
        ],
      }),
    );
    expect(out.Successful?.map((e) => e.Id)).toEqual(["ok-1", "ok-2"]);
    expect(out.Successful?.[0]?.MD5OfMessageBody).toBe(md5Hex("first"));
    expect(out.Successful?.[1]?.MD5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
    expect(out.Failed?.map((e) => [e.Id, e.Code, e.SenderFault])).toEqual([
      ["bad-chars", "InvalidMessageContents", true],
      ["bad-number", "InvalidParameterValue", true],
    ]);
    const received = await receive(QueueUrl, { MaxNumberOfMessages: 10 });
    expect(received.map((m) => m.Body).sort()).toEqual(["first", "second"]);

    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl,
        Entries: [
          { Id: "d1", ReceiptHandle: received[0]!.ReceiptHandle },
          { Id: "d2", ReceiptHandle: "garbage" },
        ],
      }),
    );
    expect(deleted.Successful).toEqual([{ Id: "d1" }]);
    expect(deleted.Failed?.map((e) => [e.Id, e.Code, e.SenderFault])).toEqual([
      ["d2", "ReceiptHandleIsInvalid", true],
    ]);

    const changed = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl,
        Entries: [
          { Id: "c1", ReceiptHandle: received[1]!.ReceiptHandle, VisibilityTimeout: 0 },
          { Id: "c2", ReceiptHandle: received[0]!.ReceiptHandle, VisibilityTimeout: 0 },
        ],
      }),
    );
    expect(changed.Successful).toEqual([{ Id: "c1" }]);
    expect(changed.Failed?.map((e) => [e.Id, e.Code])).toEqual([["c2", "InvalidParameterValue"]]);
    expect((await receive(QueueUrl)).map((m) => m.MessageId)).toEqual([received[1]!.MessageId]);
  });

  it("refuses whole batches that are empty, too many, too long, or have bad or repeated ids", async () => {
    const QueueUrl = await newQueue();
    type Failure = [string | undefined, string | undefined, string | undefined];
    const failure = async (Entries: { Id: string; MessageBody: string }[]): Promise<Failure> => {
      const err = await sqsError(sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries })));
      return [err.name, err.Code, err.message];
    };
    const entries = (n: number, size = 1): { Id: string; MessageBody: string }[] =>
      Array.from({ length: n }, (_, i) => ({ Id: `e${i}`, MessageBody: "m".repeat(size) }));

    expect(await failure([])).toEqual([
      "EmptyBatchRequest",
      "AWS.SimpleQueueService.EmptyBatchRequest",
      "There should be at least one SendMessageBatchRequestEntry in the request.",
    ]);
    expect(await failure(entries(11))).toEqual([
      "TooManyEntriesInBatchRequest",
      "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
      "Maximum number of entries per request are 10. You have sent 11.",
    ]);
    expect(
      (
        await failure([
          { Id: "same", MessageBody: "a" },
          { Id: "same", MessageBody: "b" },
        ])
      )[0],
    ).toBe("BatchEntryIdsNotDistinct");
    expect((await failure([{ Id: "not:valid", MessageBody: "a" }]))[0]).toBe("InvalidBatchEntryId");
    const tooLong = await failure(entries(10, 110 * 1024));
    expect(tooLong[0]).toBe("BatchRequestTooLong");
    expect(tooLong[2]).toBe(
      `Batch requests cannot be longer than 1048576 bytes. You have sent ${10 * 110 * 1024} bytes.`,
    );
    await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: entries(10, 100 * 1024) }));
    expect((await attributes(QueueUrl)).ApproximateNumberOfMessages).toBe("10");
  });
});

describe("errors and the shared server", () => {
  it("answers a missing queue as QueueDoesNotExist with the query code the SDK reads", async () => {
    const err = await sqsError(sqs.send(new GetQueueUrlCommand({ QueueName: "never-created" })));
    expect(err).toMatchObject({
      name: "QueueDoesNotExist",
      Code: "AWS.SimpleQueueService.NonExistentQueue",
      message: "The specified queue does not exist.",
      $metadata: { httpStatusCode: 400 },
    });
    const send = await sqsError(
      sqs.send(
        new SendMessageCommand({ QueueUrl: `${aws.url}/000000000000/never-created`, MessageBody: "x" }),
      ),
    );
    expect(send.name).toBe("QueueDoesNotExist");
    const otherAccount = await sqsError(
      sqs.send(new GetQueueUrlCommand({ QueueName: "orders-main", QueueOwnerAWSAccountId: "111111111111" })),
    );
    expect(otherAccount.name).toBe("QueueDoesNotExist");
  });

  it("sends errors as the JSON protocol does, with the x-amzn-query-error header", async () => {
    const res = await rawSqs(aws, "SendMessage", {
      QueueUrl: `${aws.url}/000000000000/never-created`,
      MessageBody: "x",
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/x-amz-json-1.0");
    expect(res.headers.get("x-amzn-query-error")).toBe("AWS.SimpleQueueService.NonExistentQueue;Sender");
    expect(res.json).toEqual({
      __type: "com.amazonaws.sqs#QueueDoesNotExist",
      message: "The specified queue does not exist.",
    });

    const missing = await rawSqs(aws, "GetQueueUrl", {});
    expect(missing.status).toBe(400);
    expect(missing.headers.get("x-amzn-query-error")).toBe("MissingParameter;Sender");
    expect(missing.json.message).toBe("The request must contain the parameter QueueName.");

    const unknown = await rawSqs(aws, "AddPermission", {});
    expect(unknown.status).toBe(400);
    expect(unknown.json.__type).toBe("UnknownOperationException");

    const ok = await rawSqs(aws, "CreateQueue", { QueueName: "raw-created" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("application/x-amz-json-1.0");
    expect(ok.json).toEqual({ QueueUrl: `${aws.url}/000000000000/raw-created` });
  });

  it("validates ReceiveMessage's numbers with SQS's wording", async () => {
    const QueueUrl = await newQueue();
    const max = await sqsError(sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 11 })));
    expect([max.Code, max.message]).toEqual([
      "InvalidParameterValue",
      "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
    ]);
    const wait = await sqsError(sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 21 })));
    expect(wait.message).toBe(
      "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.",
    );
  });

  it("counts requests per operation, applies injected faults and forgets queues on reset", async () => {
    const QueueUrl = await newQueue();
    const before = aws.requests.get("SendMessage");
    aws.faults.inject({ operation: "SendMessage", status: 500, times: 1 });
    const err = await sqsError(sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "x" })));
    expect(err.$metadata?.httpStatusCode).toBe(500);
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "x" }));
    expect(aws.requests.get("SendMessage")).toBe(before + 2);
    expect((await attributes(QueueUrl)).ApproximateNumberOfMessages).toBe("1");

    aws.reset();
    expect(aws.requests.get("SendMessage")).toBe(0);
    expect(
      (await sqsError(sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] })))).name,
    ).toBe("QueueDoesNotExist");
  });
});
