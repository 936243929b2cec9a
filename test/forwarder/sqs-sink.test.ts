import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PushsyncError } from "../../shared/errors/index.ts";
import { createSqsSink, deduplicationId, messageGroupId } from "../../shared/events/sqs.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import { credentials, receive, startStack, type Stack } from "./helpers.ts";

let seq = 0;
const event = (path: string, fields: Partial<VaultChangeEvent> = {}): VaultChangeEvent => ({
  id: `req-${++seq}`,
  mount: "secret",
  path,
  version: 1,
  operation: "write",
  namespace: "",
  time: new Date().toISOString(),
  source: "audit",
  ...fields,
});

let s: Stack;
beforeAll(async () => {
  s = await startStack();
});
afterAll(() => s.close());

describe("SQS sink", () => {
  it("sends FIFO messages with per-secret group and version deduplication ids", async () => {
    const url = await s.queue("ids.fifo");
    const sink = createSqsSink({ queueUrl: url, client: s.sqs });
    const longPath = `deep/${"x".repeat(140)}`;
    const events = [
      event("app/db", { version: 7 }),
      event("svc/api", { namespace: "team-a", mount: "kv", version: 2 }),
      event(longPath, { version: 3 }),
      event("café/ünïcode", { version: 1 }),
      event("app/gone", { operation: "delete", version: 4 }),
    ];
    await sink.publish(events);
    const got = await receive(s, url, events.length);
    const sha = (text: string) => `sha256:${createHash("sha256").update(text).digest("hex")}`;
    expect(got.map((m) => [m.event.path, m.groupId, m.dedupId])).toEqual([
      ["app/db", "/secret/app/db", "/secret/app/db@7"],
      ["svc/api", "team-a/kv/svc/api", "team-a/kv/svc/api@2"],
      [longPath, sha(`/secret/${longPath}`), sha(`/secret/${longPath}@3`)],
      ["café/ünïcode", sha("/secret/café/ünïcode"), sha("/secret/café/ünïcode@1")],
      ["app/gone", "/secret/app/gone", `/secret/app/gone@${events[4]!.id}`],
    ]);
    expect(got.map((m) => m.event)).toEqual(events);
    expect(messageGroupId(event(longPath))).toBe(messageGroupId(event(longPath, { version: 9 })));
  });

  it("queues one write once however often it is sent, but a later delete of that version again", async () => {
    const url = await s.queue("dedup.fifo");
    const sink = createSqsSink({ queueUrl: url, client: s.sqs });
    const fromAudit = event("app/db", { version: 5 });
    const fromEvents = event("app/db", { version: 5, source: "events" });
    expect(deduplicationId(fromAudit)).toBe(deduplicationId(fromEvents));
    await sink.publish([fromAudit]);
    await sink.publish([fromEvents]);
    await sink.publish([event("app/db", { version: 5, operation: "delete" })]);
    const got = await receive(s, url, 2);
    expect(got.map((m) => [m.event.operation, m.event.source])).toEqual([
      ["write", "audit"],
      ["delete", "audit"],
    ]);
  });

  it("sends standard-queue messages without ids, 10 per call", async () => {
    const url = await s.queue("standard");
    const sink = createSqsSink({ queueUrl: url, client: s.sqs });
    const events = Array.from({ length: 25 }, (_, i) => event(`bulk/${i}`));
    const before = s.aws.requests.get("SendMessageBatch");
    await sink.publish(events);
    expect(s.aws.requests.get("SendMessageBatch") - before).toBe(3);
    const got = await receive(s, url, 25);
    expect(got).toHaveLength(25);
    expect(got.every((m) => m.groupId === undefined && m.dedupId === undefined)).toBe(true);
    expect(new Set(got.map((m) => m.event.path))).toEqual(new Set(events.map((e) => e.path)));
  });

  it("sends failed entries again alone, then rejects; the next publish skips what was accepted", async () => {
    // A body over the queue's 1 KiB limit fails its entry; the others are accepted.
    const url = await s.queue("small", { MaximumMessageSize: "1024" });
    const sink = createSqsSink({ queueUrl: url, client: s.sqs, maxAttempts: 3, baseDelayMs: 5 });
    const events = [event("ok/1"), event(`big/${"y".repeat(1100)}`), event("ok/2"), event("ok/3")];
    const before = s.aws.requests.get("SendMessageBatch");
    const err = await sink.publish(events).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushsyncError);
    expect((err as PushsyncError).message).toBe(
      "sqs sqs: 1 of 4 message(s) not accepted (InvalidParameterValue)",
    );
    expect((err as PushsyncError).retryable).toBe(false); // SQS blames the sender
    expect(s.aws.requests.get("SendMessageBatch") - before).toBe(3);
    await expect(sink.publish(events)).rejects.toThrow(PushsyncError);
    expect(s.aws.requests.get("SendMessageBatch") - before).toBe(6);
    // Standard queues keep duplicates, so each accepted message shows up exactly once.
    const got = await receive(s, url, 3);
    expect(got.map((m) => m.event.path).sort()).toEqual(["ok/1", "ok/2", "ok/3"]);
  });

  it("reports a failed call as retryable and names the queue's error", async () => {
    const url = await s.queue("outage");
    const sink = createSqsSink({ queueUrl: url, client: s.noRetryClient() });
    s.aws.faults.inject({ operation: "SendMessageBatch", status: 500, times: 1 });
    const err = (await sink.publish([event("x")]).catch((e: unknown) => e)) as PushsyncError;
    expect(err).toBeInstanceOf(PushsyncError);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^sqs sqs: SendMessageBatch failed \(InternalServiceError: /);
    await sink.publish([event("x")]);
    expect(await receive(s, url, 1)).toHaveLength(1);
  });

  it("takes the endpoint from AWS_ENDPOINT_URL_SQS and the region from a real queue URL", async () => {
    await s.queue("by-env");
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SQS: s.aws.url,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    });
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    const sink = createSqsSink({ queueUrl: "https://sqs.eu-west-1.amazonaws.com/000000000000/by-env" });
    try {
      await sink.publish([event("env/1")]);
    } finally {
      await sink.close?.();
      process.env = saved;
    }
    const got = await receive(s, `${s.aws.url}/000000000000/by-env`, 1);
    expect(got.map((m) => m.event.path)).toEqual(["env/1"]);
  });
});
