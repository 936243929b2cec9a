/**
 * AWS Lambda, SQS trigger (FIFO queue pushsync-events.fifo, ReportBatchItemFailures): pushes
 * the secrets the batch's change events name and reports the records to redeliver.
 * See sqs-batch.ts for the batch rules and lambda.ts for configuration.
 */
import middy from "@middy/core";
import {
  functionLogger,
  lambdaRuntime,
  type LambdaContext,
  type SqsBatchResponse,
  type SqsEvent,
} from "./lambda.ts";
import { processBatch } from "./sqs-batch.ts";

const logger = functionLogger("push-worker");

async function pushWorker(event: SqsEvent, context: LambdaContext): Promise<SqsBatchResponse> {
  const runtime = await lambdaRuntime(logger);
  return processBatch(
    event.Records,
    (events) => runtime.pushEvents(events),
    logger.child({ requestId: context.awsRequestId }),
  );
}

export const handler = middy<SqsEvent, SqsBatchResponse>().handler(pushWorker);
