/**
 * What both AWS Lambda handlers share: the trigger shapes they read, and the runtime, created
 * once per execution environment (on the first invocation, then reused while the container
 * lives; a failed creation is retried on the next invocation) by the function host every
 * platform uses (shared/runtime/function-host.ts).
 *
 * Lambda defaults: PUSHSYNC_VAULT_AUTH=aws-iam (the function's role logs in to Vault; set it to
 * "store" for the stores' own auth), manifests from PUSHSYNC_MANIFESTS_DIR, default "manifests"
 * in the deployment package (LAMBDA_TASK_ROOT, where serverless.yml bundles them).
 */
import { createLogger, type Logger } from "../../shared/observability/logger.ts";
import { createFunctionHost, type FunctionHost } from "../../shared/runtime/function-host.ts";
import type { Runtime } from "../../shared/runtime/index.ts";

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

let host: FunctionHost | undefined;

export function lambdaRuntime(logger: Logger): Promise<Runtime> {
  host ??= createFunctionHost({
    defaults: { PUSHSYNC_VAULT_AUTH: "aws-iam" },
    root: process.env.LAMBDA_TASK_ROOT,
    logger,
  });
  return host.runtime();
}

export function functionLogger(name: string): Logger {
  return createLogger({ base: { function: name } });
}
