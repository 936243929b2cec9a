/**
 * One Lambda function's execution environment for `pushsync dev` (see functions.ts): a child
 * process that loads the real handler of functions/aws/ and runs the invocations its parent
 * sends over the IPC channel, one at a time as Lambda does. What the handler writes to stdout
 * and stderr (JSON log records, EMF metrics) goes to the parent, as Lambda sends it to
 * CloudWatch Logs.
 *
 *   parent → child   { id, requestId, event }
 *   child → parent   { ready: true } once the handler is loaded; { id, result } or { id, error }
 *
 * The context carries awsRequestId, functionName and getRemainingTimeInMillis with the
 * function's timeout from serverless.yml, so middy ends an invocation that runs too long as it
 * does in Lambda. The process ignores SIGINT (Ctrl-C in a terminal reaches every process of
 * the group; the parent decides when functions stop) and exits when its parent disconnects.
 */
import type { LambdaContext } from "../../../functions/aws/lambda.ts";

type Handler = (event: unknown, context: LambdaContext) => Promise<unknown>;

const FUNCTIONS: Record<string, { load: () => Promise<{ handler: unknown }>; timeoutMs: number }> = {
  "push-worker": { load: () => import("../../../functions/aws/push-worker.ts"), timeoutMs: 60_000 },
  reconciler: { load: () => import("../../../functions/aws/reconciler.ts"), timeoutMs: 900_000 },
};

interface Invocation {
  id: number;
  requestId: string;
  event: unknown;
}

const name = process.argv[2] ?? "";
const fn = FUNCTIONS[name];
if (!fn || !process.send) {
  console.error(`function-host: unknown function "${name}" or no IPC channel`);
  process.exit(2);
}
process.on("SIGINT", () => undefined);
process.on("disconnect", () => process.exit(0));

const handler = (await fn.load()).handler as Handler;
let queue: Promise<void> = Promise.resolve();

process.on("message", (message: Invocation) => {
  queue = queue.then(async () => {
    const deadline = Date.now() + fn.timeoutMs;
    const context = {
      awsRequestId: message.requestId,
      functionName: `pushsync-dev-${name}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    try {
      const result = await handler(message.event, context);
      process.send!({ id: message.id, result });
    } catch (err) {
      process.send!({ id: message.id, error: `${(err as Error).name}: ${(err as Error).message}` });
    }
  });
});
process.send({ ready: true });
