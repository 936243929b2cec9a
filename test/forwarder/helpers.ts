/**
 * What the forwarder tests share: a local Vault and a local AWS on free ports, queues, an SDK
 * client, receiving every message of a queue, Vault calls over HTTP, metrics parsing and the
 * manifests the tests watch.
 */
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startLocalAws, type LocalAws } from "../../infra/local/aws/index.ts";
import { startLocalVault, type LocalVault, type LocalVaultOptions } from "../../infra/local/vault/index.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import { watchFromManifests, type WatchSet } from "../../shared/forwarder/watch.ts";
import { loadManifests } from "../../shared/spec/index.ts";
import { awsStore, vaultStore, yamlDocs } from "../support/manifests.ts";

// Node 20 is this project's runtime; the SDK's notice about Node 22 is not under test.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export const credentials = { accessKeyId: "test", secretAccessKey: "test" };

/**
 * The watched locations: PushSecret push-db reads secret/app/db; ExternalSecret team-find reads
 * everything below secret/team/; ExternalSecret lat-find everything below secret/lat/.
 */
export const MANIFESTS = `
${yamlDocs(vaultStore(), awsStore())}---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: push-db, namespace: default }
spec:
  secretStoreRefs: [{ name: vault, kind: ClusterSecretStore }, { name: aws }]
  selector: { secret: { name: app/db } }
  data:
    - match: { secretKey: password, remoteRef: { remoteKey: /app/db } }
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: { name: team-find, namespace: default }
spec:
  secretStoreRef: { name: vault, kind: ClusterSecretStore }
  target: { name: team }
  dataFrom:
    - find: { path: team, name: { regexp: ".*" } }
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: { name: lat-find, namespace: default }
spec:
  secretStoreRef: { name: vault, kind: ClusterSecretStore }
  target: { name: lat }
  dataFrom:
    - find: { path: lat }
`;

/** A directory holding the given YAML files (name → text). */
export function manifestDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), "pushsync-forward-manifests-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

/** Loads YAML text the way the CLI does and derives what to watch. */
export async function watchOf(yaml: string): Promise<WatchSet & { errors: string[] }> {
  const loaded = await loadManifests([manifestDir({ "m.yaml": yaml })]);
  return { ...watchFromManifests(loaded.manifests), errors: loaded.errors.map((e) => e.message) };
}

export { until } from "../support/until.ts";

export interface Stack {
  vault: LocalVault;
  aws: LocalAws;
  /** Default retries; for receiving and queue set-up. */
  sqs: SQSClient;
  /** A new queue (FIFO when the name ends in .fifo) with the given attributes; returns its URL. */
  queue(name: string, attributes?: Record<string, string>): Promise<string>;
  /** An SDK client that does not retry, for sinks whose failures a test counts. */
  noRetryClient(): SQSClient;
  close(): Promise<void>;
}

export async function startStack(vaultOptions: LocalVaultOptions = {}): Promise<Stack> {
  const [vault, aws] = await Promise.all([
    startLocalVault({ port: 0, ...vaultOptions }),
    startLocalAws({ port: 0 }),
  ]);
  const clients: SQSClient[] = [];
  const client = (maxAttempts?: number): SQSClient => {
    const c = new SQSClient({
      region: aws.region,
      endpoint: aws.url,
      credentials,
      ...(maxAttempts ? { maxAttempts } : {}),
    });
    clients.push(c);
    return c;
  };
  const sqs = client();
  return {
    vault,
    aws,
    sqs,
    async queue(name, attributes = {}) {
      const fifo = name.endsWith(".fifo") ? { FifoQueue: "true" } : {};
      const out = await sqs.send(
        new CreateQueueCommand({ QueueName: name, Attributes: { ...fifo, ...attributes } }),
      );
      return out.QueueUrl!;
    },
    noRetryClient: () => client(1),
    async close() {
      for (const c of clients) c.destroy();
      await Promise.all([vault.close(), aws.close()]);
    },
  };
}

export interface Received {
  event: VaultChangeEvent;
  groupId?: string;
  dedupId?: string;
}

/**
 * Receives and deletes messages until `count` have come (then waits `settleMs` more to catch
 * extra ones) or `timeoutMs` passes. FIFO groups come out in order.
 */
export async function receive(
  s: Stack,
  queueUrl: string,
  count: number,
  { timeoutMs = 5_000, settleMs = 150 } = {},
): Promise<Received[]> {
  const out: Received[] = [];
  const deadline = Date.now() + timeoutMs;
  let settleUntil: number | undefined;
  while (Date.now() < (settleUntil ?? deadline)) {
    const res = await s.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["All"],
      }),
    );
    for (const m of res.Messages ?? []) {
      out.push(received(m));
      await s.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
    if (out.length >= count) settleUntil ??= Date.now() + settleMs;
    if ((res.Messages ?? []).length === 0) await new Promise((r) => setTimeout(r, 10));
  }
  return out;
}

export function received(m: Message): Received {
  return {
    event: JSON.parse(m.Body!) as VaultChangeEvent,
    ...(m.Attributes?.MessageGroupId ? { groupId: m.Attributes.MessageGroupId } : {}),
    ...(m.Attributes?.MessageDeduplicationId ? { dedupId: m.Attributes.MessageDeduplicationId } : {}),
  };
}

/** One Vault API call as any HTTP client makes it; fails on a non-2xx answer. */
export async function vaultCall(
  vault: LocalVault,
  method: string,
  apiPath: string,
  body?: unknown,
): Promise<unknown> {
  const res = await fetch(`${vault.url}/v1/${apiPath}`, {
    method,
    headers: { "X-Vault-Token": vault.rootToken, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${apiPath}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Writes a KV v2 secret; returns the new version. */
export async function writeSecret(
  vault: LocalVault,
  secretPath: string,
  data: Record<string, string>,
): Promise<number> {
  const out = (await vaultCall(vault, "POST", `secret/data/${secretPath}`, { data })) as {
    data: { version: number };
  };
  return out.data.version;
}

/** The value of one sample in Prometheus text, or undefined when absent. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(",");
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? "").split(",").filter(Boolean).sort().join(",");
    if (have === want) return Number(m[3]);
  }
  return undefined;
}
