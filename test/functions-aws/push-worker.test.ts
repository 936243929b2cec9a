/**
 * The push worker as Lambda runs it: messages sent to the local SQS, received with every
 * attribute, turned into the event the SQS event source mapping delivers, and given to the real
 * middy handler, which logs in to the local Vault with Vault's AWS auth (the Lambda default)
 * and pushes to the local AWS and GCP.
 */
import { DeleteMessageCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { SqsBatchResponse, SqsEvent } from "../../functions/aws/lambda.ts";
import {
  awsValue,
  changeEvent,
  createQueues,
  invoke,
  lambdaContext,
  lambdaEnv,
  lambdaEvent,
  publish,
  publishRaw,
  receive,
  startStack,
  writeManifests,
  type Queues,
  type Stack,
} from "./helpers.ts";

let s: Stack;
let handler: (event: SqsEvent, context: never) => Promise<SqsBatchResponse>;
let queueCount = 0;
let q: Queues;

beforeAll(async () => {
  s = await startStack();
  Object.assign(process.env, lambdaEnv(s, writeManifests(s)));
  vi.resetModules();
  ({ handler } = await import("../../functions/aws/push-worker.ts"));
});
afterAll(async () => {
  await s?.close();
});
beforeEach(async () => {
  s.gcp.faults.clear();
  q = await createQueues(s, `pushsync-events-${++queueCount}`);
});

/** Receives once and invokes the handler with what was received, as the event source mapping does. */
async function deliver(): Promise<{ event: SqsEvent; failures: string[]; logs: Record<string, unknown>[] }> {
  const event = lambdaEvent(await receive(s, q), q.arn, s.aws.region);
  const { result, logs } = await invoke(() => handler(event, lambdaContext()));
  return { event, failures: result.batchItemFailures.map((f) => f.itemIdentifier), logs };
}

/** What the event source mapping does with the answer: deletes the records that did not fail. */
async function acknowledge(event: SqsEvent, failures: string[]): Promise<void> {
  for (const r of event.Records) {
    if (!failures.includes(r.messageId)) {
      await s.sqs.send(new DeleteMessageCommand({ QueueUrl: q.url, ReceiptHandle: r.receiptHandle }));
    }
  }
}

const writes = (): number => s.aws.requests.get("CreateSecret") + s.aws.requests.get("PutSecretValue");

describe("push worker", () => {
  it("pushes the secret an event names, logging in to Vault with the function's AWS role", async () => {
    const version = await s.vault.writeKv("secret", "app/a", { user: "svc-a", password: "pw-app-a-1" });
    await publish(s, q.url, changeEvent("app/a", version));
    const logins = s.vault.requests.get("aws.login");

    const { event, failures } = await deliver();
    expect(event.Records).toHaveLength(1);
    expect(event.Records[0]!.attributes.MessageGroupId).toBe("/secret/app/a");
    expect(failures).toEqual([]);
    expect(JSON.parse((await awsValue(s, "app-a"))!)).toEqual({ user: "svc-a", password: "pw-app-a-1" });
    expect(s.vault.requests.get("aws.login") - logins).toBeLessThanOrEqual(1);
    expect(s.vault.requests.get("aws.login")).toBeGreaterThanOrEqual(1);
  });

  it("coalesces a burst of writes to one path into one push of the newest version", async () => {
    let version = 0;
    for (let i = 1; i <= 6; i++) {
      version = await s.vault.writeKv("secret", "app/burst", {
        n: String(i),
        password: `burst-password-${i}`,
      });
      await publish(s, q.url, changeEvent("app/burst", version));
    }
    const before = writes();
    const { event, failures } = await deliver();
    expect(event.Records).toHaveLength(6);
    expect(failures).toEqual([]);
    expect(writes() - before).toBe(1);
    expect(JSON.parse((await awsValue(s, "app-burst"))!)).toEqual({ n: "6", password: "burst-password-6" });
  });

  it("reports exactly the records whose store failed, retryably", async () => {
    const a = await s.vault.writeKv("secret", "app/a", { password: "pw-app-a-2" });
    const b1 = await s.vault.writeKv("secret", "app/b", { password: "pw-app-b-1" });
    const b2 = await s.vault.writeKv("secret", "app/b", { password: "pw-app-b-2" });
    await publish(s, q.url, changeEvent("app/a", a));
    const idB1 = await publish(s, q.url, changeEvent("app/b", b1));
    const idB2 = await publish(s, q.url, changeEvent("app/b", b2));
    s.gcp.faults.inject({ status: 503 });

    const { event, failures, logs } = await deliver();
    expect(event.Records).toHaveLength(3);
    expect(failures.sort()).toEqual([idB1, idB2].sort());
    expect(JSON.parse((await awsValue(s, "app-a"))!)).toEqual({ password: "pw-app-a-2" });
    const failed = logs.find((l) => l.msg === "push outcome" && l.remoteKey === "app-b");
    expect(failed).toMatchObject({ outcome: "error", store: "default/gcp", error: { retryable: true } });

    // Redelivered once GCP is back: the records succeed.
    s.gcp.faults.clear();
    await acknowledge(event, failures);
    s.advance(361_000);
    const again = await deliver();
    expect(again.event.Records.map((r) => r.messageId).sort()).toEqual([idB1, idB2].sort());
    expect(again.failures).toEqual([]);
  });

  it("fails a malformed record alone, saying why without quoting it", async () => {
    const version = await s.vault.writeKv("secret", "app/y", { password: "pw-app-y-1" });
    const good = await publish(s, q.url, changeEvent("app/y", version));
    const bad = await publishRaw(s, q.url, "not-json canary-body-text", "poison", "poison-1");
    const missing = await publishRaw(
      s,
      q.url,
      JSON.stringify({ id: "e1", mount: "secret" }),
      "poison-2",
      "p2",
    );

    const { failures, logs } = await deliver();
    expect(failures.sort()).toEqual([bad, missing].sort());
    expect(failures).not.toContain(good);
    const reasons = logs.filter((l) => String(l.msg).startsWith("malformed message"));
    expect(reasons.map((l) => [l.messageId, l.receiveCount, l.reason])).toEqual(
      expect.arrayContaining([
        [bad, 1, "the body is not JSON (25 characters)"],
        [missing, 1, "path: a non-empty string is required"],
      ]),
    );
    expect(JSON.stringify(logs)).not.toContain("canary-body-text");
  });

  it("FIFO: a failed record fails the later records of its message group, not other groups", async () => {
    const x = await s.vault.writeKv("secret", "app/x", { password: "pw-app-x-1" });
    const y = await s.vault.writeKv("secret", "app/y", { password: "pw-app-y-2" });
    const poison = await publishRaw(s, q.url, "{oops", "/secret/app/x", "x-poison");
    const later = await publish(s, q.url, changeEvent("app/x", x));
    const other = await publish(s, q.url, changeEvent("app/y", y));

    const { event, failures } = await deliver();
    expect(event.Records.map((r) => r.messageId)).toEqual([poison, later, other]);
    expect(failures).toEqual([poison, later]);
    expect(JSON.parse((await awsValue(s, "app-y"))!)).toEqual({ password: "pw-app-y-2" });
  });

  it("moves a poison message to the dead-letter queue after maxReceiveCount (5) deliveries", async () => {
    const poison = await publishRaw(s, q.url, "definitely not an event", "poison", "dlq-1");
    const counts: number[] = [];
    for (let i = 0; i < 10; i++) {
      const { event, failures } = await deliver();
      if (event.Records.length === 0) break;
      expect(failures).toEqual([poison]);
      counts.push(Number(event.Records[0]!.attributes.ApproximateReceiveCount));
      await acknowledge(event, failures);
      s.advance(361_000); // past the visibility timeout
    }
    expect(counts).toEqual([1, 2, 3, 4, 5]);
    const dead = await receive(s, { url: q.dlqUrl, arn: "" });
    expect(dead.map((m) => [m.MessageId, m.Body])).toEqual([[poison, "definitely not an event"]]);
    const main = await s.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: q.url,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    expect(main.Attributes).toMatchObject({
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "0",
    });
  });
});
