/**
 * The stack the Lambda handlers are tested on: the local Vault (with Vault's AWS auth method,
 * which the Lambda runtime uses by default), the local AWS (Secrets Manager and SQS) and the
 * local GCP, all on port 0. The handlers are the real middy handlers, configured through the
 * environment exactly as in Lambda; SQS events are built from messages received from the local
 * SQS, the way the event source mapping builds them.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { startLocalAws, type LocalAws } from "../../infra/local/aws/index.ts";
import { startLocalGcp, type LocalGcp } from "../../infra/local/gcp/server.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { awsStore, gcpStore, vaultStore, yamlDocs } from "../support/manifests.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";

/** The function's role credentials, as Lambda puts them in the environment. */
export const ROLE_CREDENTIALS = {
  accessKeyId: "ASIAPUSHSYNCLAMBDA01",
  secretAccessKey: "lambda-role-secret-access-key-for-tests",
  sessionToken: "lambda-role-session-token-for-tests",
};
export const ROLE_ARN = "arn:aws:sts::000000000000:assumed-role/pushsync-lambda/pushsync-test-pushWorker";
export const SERVER_ID = "vault.pushsync.test";
export const FINGERPRINT_KEY = "functions-aws-test-fingerprint-key-0123";

/** Enables Vault's AWS auth method with a role for the function's IAM role. */
export async function configureAwsAuth(
  vault: LocalVault,
  options: { serverId?: string } = {},
): Promise<void> {
  const ok = async (path: string, body: Record<string, unknown>) => {
    const reply = await vault.request("POST", path, body);
    if (reply.status >= 300) throw new Error(`${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
  };
  await ok("sys/auth/aws", { type: "aws" });
  if (options.serverId) await ok("auth/aws/config/client", { iam_server_id_header_value: options.serverId });
  await ok("auth/aws/role/pushsync", {
    auth_type: "iam",
    bound_iam_principal_arn: ["arn:aws:iam::000000000000:role/pushsync-lambda"],
    token_ttl: "1h",
  });
  await ok(`auth/aws/local/caller/${ROLE_CREDENTIALS.accessKeyId}`, {
    arn: ROLE_ARN,
    secret_access_key: ROLE_CREDENTIALS.secretAccessKey,
    session_token: ROLE_CREDENTIALS.sessionToken,
  });
}

/** PushSecrets used by the handler tests: Vault path → (store, remote key). */
export const PUSHES = [
  { name: "app-a", path: "app/a", store: "aws", remoteKey: "app-a" },
  { name: "app-b", path: "app/b", store: "gcp", remoteKey: "app-b" },
  { name: "burst", path: "app/burst", store: "aws", remoteKey: "app-burst" },
  { name: "fifo-x", path: "app/x", store: "aws", remoteKey: "app-x" },
  { name: "fifo-y", path: "app/y", store: "aws", remoteKey: "app-y" },
  { name: "repair", path: "app/repair", store: "aws", remoteKey: "app-repaired-value" },
] as const;

/** Writes the handler tests' manifests (stores pointing at the stack) into a directory removed by close(). */
export function writeManifests(s: Stack): string {
  const { vault } = s;
  const dir = mkdtempSync(join(tmpdir(), "pushsync-lambda-manifests-"));
  s.scratch.push(dir);
  const stores = yamlDocs(
    vaultStore(vault.url),
    awsStore("recoveryWindowInDays: 7"),
    gcpStore("pushsync-local"),
  );
  const pushes = PUSHES.map(
    (p) => `apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: ${p.name}, namespace: default }
spec:
  secretStoreRefs:
    - { name: vault, kind: ClusterSecretStore }
    - { name: ${p.store}, kind: SecretStore }
  selector: { secret: { name: ${p.path} } }
  data:
    - match: { remoteRef: { remoteKey: ${p.remoteKey} } }
`,
  ).join("---\n");
  writeFileSync(join(dir, "stores.yaml"), stores);
  writeFileSync(join(dir, "pushes.yaml"), pushes);
  return dir;
}

export interface Stack {
  vault: LocalVault;
  aws: LocalAws;
  gcp: LocalGcp;
  sqs: SQSClient;
  sm: SecretsManagerClient;
  /** Moves the local SQS's clock forward (visibility timeouts without waiting). */
  advance(ms: number): void;
  /** Temporary directories removed by close(). */
  scratch: string[];
  close(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  let offset = 0;
  const vault = await startLocalVault({ port: 0 });
  const aws = await startLocalAws({ port: 0, sqsClock: () => Date.now() + offset });
  const gcp = await startLocalGcp({ port: 0 });
  await configureAwsAuth(vault, { serverId: SERVER_ID });
  const sdk = { region: aws.region, endpoint: aws.url, credentials: ROLE_CREDENTIALS, maxAttempts: 1 };
  const sqs = new SQSClient(sdk);
  const sm = new SecretsManagerClient(sdk);
  const scratch: string[] = [];
  return {
    vault,
    aws,
    gcp,
    sqs,
    sm,
    advance: (ms) => void (offset += ms),
    scratch,
    close: async () => {
      for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
      sqs.destroy();
      sm.destroy();
      await gcp.close();
      await aws.close();
      await vault.close();
    },
  };
}

/** The Lambda environment the handlers read (as serverless.yml sets it, pointed at the local clouds). */
export function lambdaEnv(s: Stack, manifestsDir: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: ROLE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ROLE_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: ROLE_CREDENTIALS.sessionToken,
    AWS_REGION: s.aws.region,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: s.aws.url,
    SECRETMANAGER_EMULATOR_HOST: s.gcp.host,
    PUSHSYNC_VAULT_ROLE: "pushsync",
    PUSHSYNC_VAULT_AWS_SERVER_ID: SERVER_ID,
    PUSHSYNC_FINGERPRINT_KEY: FINGERPRINT_KEY,
    PUSHSYNC_MANIFESTS_DIR: manifestsDir,
    PUSHSYNC_LOG_LEVEL: "debug",
  };
}

export interface Queues {
  url: string;
  arn: string;
  dlqUrl: string;
}

/** A FIFO queue with a FIFO dead-letter queue, as serverless.yml declares them. */
export async function createQueues(s: Stack, name: string, visibilityTimeout = 360): Promise<Queues> {
  const dlq = await s.sqs.send(
    new CreateQueueCommand({ QueueName: `${name}-dlq.fifo`, Attributes: { FifoQueue: "true" } }),
  );
  const dlqArn = await queueArn(s, dlq.QueueUrl!);
  const main = await s.sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}.fifo`,
      Attributes: {
        FifoQueue: "true",
        ContentBasedDeduplication: "false",
        VisibilityTimeout: String(visibilityTimeout),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }),
      },
    }),
  );
  return { url: main.QueueUrl!, arn: await queueArn(s, main.QueueUrl!), dlqUrl: dlq.QueueUrl! };
}

async function queueArn(s: Stack, url: string): Promise<string> {
  const out = await s.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
  );
  return out.Attributes!.QueueArn!;
}

let eventSeq = 0;

/** A change event as the forwarder publishes it. */
export function changeEvent(path: string, version: number, mount = "secret"): VaultChangeEvent {
  return {
    id: `evt-${++eventSeq}`,
    mount,
    path,
    version,
    operation: "write",
    namespace: "",
    time: new Date().toISOString(),
    source: "events",
  };
}

/** Publishes as the forwarder does: group "<namespace>/<mount>/<path>", deduplication "<group>@<version>". */
export async function publish(s: Stack, queueUrl: string, event: VaultChangeEvent): Promise<string> {
  const out = await s.sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify(event),
      MessageGroupId: `${event.namespace}/${event.mount}/${event.path}`,
      MessageDeduplicationId: `${event.namespace}/${event.mount}/${event.path}@${event.version}`,
    }),
  );
  return out.MessageId!;
}

/** A message whose body is not an event, in its own group unless one is given. */
export async function publishRaw(
  s: Stack,
  queueUrl: string,
  body: string,
  group: string,
  dedup: string,
): Promise<string> {
  const out = await s.sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      MessageGroupId: group,
      MessageDeduplicationId: dedup,
    }),
  );
  return out.MessageId!;
}

/** One receive as the event source mapping makes it (up to 10 messages, every attribute). */
export async function receive(s: Stack, queue: { url: string; arn: string }): Promise<Message[]> {
  const out = await s.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queue.url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ["All"],
      MessageAttributeNames: ["All"],
    }),
  );
  return out.Messages ?? [];
}

/** The Lambda event for received messages, as the SQS event source mapping sends it. */
export { sqsEvent as lambdaEvent } from "../../functions/aws/sqs-event.ts";

export async function awsValue(s: Stack, name: string): Promise<string | undefined> {
  return (await s.sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString;
}

/**
 * Runs a handler invocation and keeps what it writes: the JSON log records (stderr) and the
 * EMF records (stdout), parsed, instead of printing them.
 */
export async function invoke<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; logs: LogRecord[]; stdout: LogRecord[] }> {
  const logs: LogRecord[] = [];
  const stdout: LogRecord[] = [];
  const keep = (stream: NodeJS.WriteStream, into: LogRecord[]) => {
    const original = stream.write;
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = String(chunk);
      if (!text.startsWith("{")) return original.call(stream, chunk, ...(rest as []));
      for (const line of text.split("\n")) if (line !== "") into.push(JSON.parse(line) as LogRecord);
      return true;
    }) as typeof stream.write;
    return () => void (stream.write = original);
  };
  const restoreErr = keep(process.stderr, logs);
  const restoreOut = keep(process.stdout, stdout);
  try {
    return { result: await fn(), logs, stdout };
  } finally {
    restoreErr();
    restoreOut();
  }
}

export type LogRecord = Record<string, unknown>;

/** The slice of Lambda's context object the handlers read. */
export const lambdaContext = (awsRequestId = "req-test") => ({ awsRequestId }) as never;
