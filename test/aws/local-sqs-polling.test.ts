/**
 * Long polling on the local SQS, in real time: a waiting receive answers as soon as a message
 * arrives or becomes visible again, and answers empty when its wait runs out.
 */
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  type SQSClient,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalAws, startLocalAws } from "../../infra/local/aws/index.ts";
import { sqsClient } from "./local-sqs-helpers.ts";

let aws: LocalAws;
let sqs: SQSClient;
let queueCount = 0;

beforeAll(async () => {
  aws = await startLocalAws({ port: 0 });
  sqs = sqsClient(aws);
});
afterAll(async () => {
  sqs?.destroy();
  await aws?.close();
});

async function newQueue(attributes: Record<string, string> = {}): Promise<string> {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: `poll-${++queueCount}`, Attributes: attributes }),
  );
  return QueueUrl!;
}

/** Runs a receive and measures how long it took. */
async function timedReceive(
  input: ConstructorParameters<typeof ReceiveMessageCommand>[0],
): Promise<{ ms: number; bodies: string[]; counts: string[] }> {
  const started = performance.now();
  const out = await sqs.send(new ReceiveMessageCommand({ MessageSystemAttributeNames: ["All"], ...input }));
  return {
    ms: performance.now() - started,
    bodies: (out.Messages ?? []).map((m) => m.Body!),
    counts: (out.Messages ?? []).map((m) => m.Attributes!.ApproximateReceiveCount!),
  };
}

describe("long polling", () => {
  it("answers as soon as a message is sent", async () => {
    const QueueUrl = await newQueue();
    const waiting = timedReceive({ QueueUrl, WaitTimeSeconds: 10 });
    await new Promise((r) => setTimeout(r, 300));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "arrived" }));
    const { ms, bodies } = await waiting;
    expect(bodies).toEqual(["arrived"]);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2_000);
  });

  it("answers empty when the wait runs out, and at once without a wait", async () => {
    const QueueUrl = await newQueue();
    const waited = await timedReceive({ QueueUrl, WaitTimeSeconds: 1 });
    expect(waited.bodies).toEqual([]);
    expect(waited.ms).toBeGreaterThanOrEqual(950);
    expect(waited.ms).toBeLessThan(2_500);

    const short = await timedReceive({ QueueUrl, WaitTimeSeconds: 0 });
    expect(short.bodies).toEqual([]);
    expect(short.ms).toBeLessThan(500);
  });

  it("waits for the queue's ReceiveMessageWaitTimeSeconds when the receive names no wait", async () => {
    const QueueUrl = await newQueue({ ReceiveMessageWaitTimeSeconds: "1" });
    const { ms, bodies } = await timedReceive({ QueueUrl });
    expect(bodies).toEqual([]);
    expect(ms).toBeGreaterThanOrEqual(950);
  });

  it("answers when a received message's visibility timeout runs out", async () => {
    const QueueUrl = await newQueue();
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "retry me" }));
    const first = await timedReceive({ QueueUrl, VisibilityTimeout: 1 });
    expect(first.counts).toEqual(["1"]);
    const again = await timedReceive({ QueueUrl, WaitTimeSeconds: 5 });
    expect(again.bodies).toEqual(["retry me"]);
    expect(again.counts).toEqual(["2"]);
    expect(again.ms).toBeGreaterThanOrEqual(700);
    expect(again.ms).toBeLessThan(2_500);
  });

  it("gives one message to only one of several waiting receives", async () => {
    const QueueUrl = await newQueue();
    const waiting = [1, 2, 3].map(() => timedReceive({ QueueUrl, WaitTimeSeconds: 1 }));
    await new Promise((r) => setTimeout(r, 200));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "only once" }));
    const results = await Promise.all(waiting);
    expect(results.flatMap((r) => r.bodies)).toEqual(["only once"]);
  });

  it("ends a waiting receive when its queue is deleted", async () => {
    const QueueUrl = await newQueue();
    const waiting = timedReceive({ QueueUrl, WaitTimeSeconds: 10 });
    await new Promise((r) => setTimeout(r, 200));
    await sqs.send(new DeleteQueueCommand({ QueueUrl }));
    const { ms, bodies } = await waiting;
    expect(bodies).toEqual([]);
    expect(ms).toBeLessThan(2_000);
  });
});
