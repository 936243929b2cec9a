/**
 * The SQS runner (Lambda's event source mapping for `pushsync dev`) in this process, with the
 * real push-worker handler configured through the environment as Lambda configures it, the
 * local Vault, AWS (Secrets Manager and SQS) and GCP on free ports, and the queues `pushsync dev`
 * creates (here with a 1 s visibility timeout). GCP answers 429 to make one store's pushes fail.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createQueues } from "../../bin/lib/dev/pipeline.ts";
import { startSqsRunner } from "../../bin/lib/dev/sqs-runner.ts";
import type { SqsBatchResponse, SqsEvent, SqsRecord } from "../../functions/aws/lambda.ts";
import { startLocalAws, type LocalAws } from "../../infra/local/aws/index.ts";
import { startLocalGcp, type LocalGcp } from "../../infra/local/gcp/server.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { createSqsSink } from "../../shared/events/sqs.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import { awsStore, gcpStore, vaultStore, yamlDocs } from "../support/manifests.ts";
import { until } from "../support/until.ts";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const credentials = { accessKeyId: "test", secretAccessKey: "test" };

const MANIFESTS = (vaultUrl: string) => `
${yamlDocs(vaultStore(vaultUrl), awsStore(), gcpStore("pushsync-local"))}---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: ok, namespace: default }
spec:
  secretStoreRefs: [{ name: vault, kind: ClusterSecretStore }, { name: aws }]
  selector: { secret: { name: app/ok } }
  data:
    - match: { remoteRef: { remoteKey: runner-ok } }
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: failing, namespace: default }
spec:
  secretStoreRefs: [{ name: vault, kind: ClusterSecretStore }, { name: gcp }]
  selector: { secret: { name: app/failing } }
  data:
    - match: { remoteRef: { remoteKey: runner-failing } }
`;

let vault: LocalVault;
let aws: LocalAws;
let gcp: LocalGcp;
let sqs: SQSClient;
let sm: SecretsManagerClient;
let dir: string;
let pushWorker: (event: SqsEvent, context: never) => Promise<SqsBatchResponse>;

beforeAll(async () => {
  [vault, aws, gcp] = await Promise.all([
    startLocalVault({ port: 0 }),
    startLocalAws({ port: 0 }),
    startLocalGcp({ port: 0 }),
  ]);
  dir = mkdtempSync(path.join(tmpdir(), "pushsync-runner-"));
  writeFileSync(path.join(dir, "manifests.yaml"), MANIFESTS(vault.url));
  Object.assign(process.env, {
    VAULT_ADDR: vault.url,
    VAULT_TOKEN: vault.rootToken,
    PUSHSYNC_VAULT_AUTH: "store",
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_REGION: aws.region,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
    SECRETMANAGER_EMULATOR_HOST: gcp.host,
    PUSHSYNC_FINGERPRINT_KEY: "sqs-runner-test-fingerprint-key-0123",
    PUSHSYNC_MANIFESTS_DIR: dir,
    // The handler's JSON logs would only clutter the test output.
    PUSHSYNC_LOG_LEVEL: "error",
  });
  ({ handler: pushWorker } = await import("../../functions/aws/push-worker.ts"));
  const sdk = { region: aws.region, endpoint: aws.url, credentials };
  sqs = new SQSClient(sdk);
  sm = new SecretsManagerClient(sdk);
});

afterAll(async () => {
  sqs?.destroy();
  sm?.destroy();
  await Promise.all([vault?.close(), aws?.close(), gcp?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
/** Writes the secret and publishes its change event as the forwarder does. */
async function writeAndPublish(queueUrl: string, at: string, data: Record<string, string>): Promise<void> {
  const version = await vault.writeKv("secret", at, data);
  const event: VaultChangeEvent = {
    id: `runner-test-${++seq}`,
    mount: "secret",
    path: at,
    version,
    operation: "write",
    namespace: "",
    time: new Date().toISOString(),
    source: "audit",
  };
  const sink = createSqsSink({ queueUrl, client: sqs });
  await sink.publish([event]);
}

async function counts(queueUrl: string): Promise<Record<string, string>> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return out.Attributes ?? {};
}

describe("SQS runner", () => {
  it("deletes what the push worker pushed, redelivers what failed, and dead-letters it after 5 receives", async () => {
    const queue = await createQueues(sqs, 1, "dead-letter");
    const delivered: SqsRecord[][] = [];
    const runner = startSqsRunner({
      client: sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      region: aws.region,
      handler: async (event, context) => {
        delivered.push(event.Records);
        return pushWorker(event, context as never);
      },
    });
    // Throttled with a Retry-After beyond what the engine waits for: each push fails at once.
    gcp.faults.inject({ status: 429, retryAfterSeconds: 60 });
    try {
      await writeAndPublish(queue.url, "app/ok", { password: "runner-ok-1" });
      await writeAndPublish(queue.url, "app/failing", { password: "runner-failing-1" });
      await until(
        async () => (await counts(queue.dlqUrl)).ApproximateNumberOfMessages === "1",
        25_000,
        "the dead-letter queue",
      );
    } finally {
      await runner.stop();
      gcp.faults.clear();
    }

    const receipts = (p: string) =>
      delivered.flat().filter((r) => (JSON.parse(r.body) as VaultChangeEvent).path === p);
    expect(receipts("app/ok").map((r) => r.attributes.ApproximateReceiveCount)).toEqual(["1"]);
    const failing = receipts("app/failing");
    expect(failing.map((r) => r.attributes.ApproximateReceiveCount)).toEqual(["1", "2", "3", "4", "5"]);
    expect(new Set(failing.map((r) => r.messageId)).size).toBe(1);

    const value = await sm.send(new GetSecretValueCommand({ SecretId: "runner-ok" }));
    expect(JSON.parse(value.SecretString!)).toEqual({ password: "runner-ok-1" });
    expect(await counts(queue.url)).toEqual({
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "0",
    });
    const dead = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queue.dlqUrl, MaxNumberOfMessages: 10 }),
    );
    expect(dead.Messages?.map((m) => m.MessageId)).toEqual([failing[0]!.messageId]);
  }, 30_000);

  it("builds each record as the event source mapping does", async () => {
    const queue = await createQueues(sqs, 30, "records");
    const delivered: SqsRecord[] = [];
    const runner = startSqsRunner({
      client: sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      region: aws.region,
      handler: async (event, context) => {
        delivered.push(...event.Records);
        return pushWorker(event, context as never);
      },
    });
    try {
      await writeAndPublish(queue.url, "app/ok", { password: "runner-ok-2" });
      await until(() => delivered.length === 1, 5_000, "a delivery");
    } finally {
      await runner.stop();
    }
    const r = delivered[0]!;
    expect(r).toMatchObject({
      eventSource: "aws:sqs",
      eventSourceARN: queue.arn,
      awsRegion: aws.region,
      md5OfBody: createHash("md5").update(r.body).digest("hex"),
      messageAttributes: {},
      attributes: {
        ApproximateReceiveCount: "1",
        MessageGroupId: "/secret/app/ok",
        MessageDeduplicationId: expect.stringMatching(/^\/secret\/app\/ok@\d+$/),
      },
    });
    expect(Number(r.attributes.SentTimestamp)).toBeGreaterThan(Date.now() - 10_000);
    expect(r.attributes.SequenceNumber).toMatch(/^\d+$/);
    expect(r.receiptHandle).not.toBe("");
    expect(await counts(queue.url)).toMatchObject({ ApproximateNumberOfMessagesNotVisible: "0" });
  });

  it("fails the whole batch when the function throws or names a record not in the batch", async () => {
    const queue = await createQueues(sqs, 1, "whole-batch");
    const answers = [
      async (): Promise<SqsBatchResponse> => {
        throw new Error("function crashed");
      },
      async (): Promise<SqsBatchResponse> => ({ batchItemFailures: [{ itemIdentifier: "not-in-batch" }] }),
      async (): Promise<SqsBatchResponse> => ({ batchItemFailures: [] }),
    ];
    const counted: string[] = [];
    const runner = startSqsRunner({
      client: sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      region: aws.region,
      handler: async (event) => {
        counted.push(event.Records[0]!.attributes.ApproximateReceiveCount);
        return answers[counted.length - 1]!();
      },
    });
    try {
      await writeAndPublish(queue.url, "app/ok", { password: "runner-ok-3" });
      await until(() => counted.length === 3, 10_000, "three deliveries");
      await until(
        async () => (await counts(queue.url)).ApproximateNumberOfMessagesNotVisible === "0",
        5_000,
        "the deletion",
      );
    } finally {
      await runner.stop();
    }
    expect(counted).toEqual(["1", "2", "3"]);
    expect(await counts(queue.url)).toEqual({
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "0",
    });
  });
});
