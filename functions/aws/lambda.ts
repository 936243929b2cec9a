/**
 * What both AWS Lambda handlers share: the trigger shapes they read, and the runtime, created
 * once per execution environment (on the first invocation, then reused while the container
 * lives; a failed creation is retried on the next invocation).
 *
 * Lambda defaults: PUSHSYNC_VAULT_AUTH=aws-iam (the function's role logs in to Vault; set it to
 * "store" for the stores' own auth), manifests from PUSHSYNC_MANIFESTS_DIR, default "manifests"
 * in the deployment package (LAMBDA_TASK_ROOT, where serverless.yml bundles them).
 */
import { resolve } from "node:path";
import { createLogger, type Logger } from "../../shared/observability/logger.ts";
import { createRuntime, type Runtime } from "../../shared/runtime/index.ts";

/** An SQS record as the event source mapping delivers it. */
export interface SqsRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: {
    ApproximateReceiveCount: string;
    SentTimestamp: string;
    SenderId: string;
    ApproximateFirstReceiveTimestamp: string;
    /** FIFO queues only. */
    MessageGroupId?: string;
    MessageDeduplicationId?: string;
    SequenceNumber?: string;
  };
  messageAttributes: Record<string, unknown>;
  md5OfBody: string;
  eventSource: string;
  eventSourceARN: string;
  awsRegion: string;
}

export interface SqsEvent {
  Records: SqsRecord[];
}

/** With functionResponseType ReportBatchItemFailures: the records to redeliver. */
export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** The part of Lambda's context the handlers use. */
export interface LambdaContext {
  awsRequestId: string;
}

const MANIFESTS_DIR_ENV = "PUSHSYNC_MANIFESTS_DIR";

let runtime: Promise<Runtime> | undefined;

export function lambdaRuntime(logger: Logger): Promise<Runtime> {
  runtime ??= createRuntime({
    manifestsDir: resolve(
      process.env.LAMBDA_TASK_ROOT ?? process.cwd(),
      process.env[MANIFESTS_DIR_ENV] ?? "manifests",
    ),
    env: { PUSHSYNC_VAULT_AUTH: "aws-iam", ...process.env },
    logger,
  }).catch((err: unknown) => {
    runtime = undefined;
    throw err;
  });
  return runtime;
}

export function functionLogger(name: string): Logger {
  return createLogger({ base: { function: name } });
}
