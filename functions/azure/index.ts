/**
 * Azure Functions (Node.js v4 programming model) registrations; the handlers are in handlers.ts.
 * Settings are read from the app settings (the environment) when this module loads; the runtime
 * is built on the first invocation.
 *
 *   pushsyncPush       POST /api/pushsyncPush, authLevel anonymous: the webhook signature is the
 *                      authentication (a function key would be one more long-lived secret)
 *   pushsyncQueue      queue "pushsync-events" of the storage account AzureWebJobsStorage names
 *                      (identity-based: AzureWebJobsStorage__accountName); poison queue
 *                      "pushsync-events-poison"
 *   pushsyncReconcile  every 15 minutes
 */
import { app } from "@azure/functions";
import { createAzureFunctions } from "./handlers.ts";

const QUEUE_NAME = "pushsync-events";
const RECONCILE_SCHEDULE = "0 */15 * * * *";

export const pushsync = createAzureFunctions();

app.http("pushsyncPush", { methods: ["POST"], authLevel: "anonymous", handler: pushsync.push });
app.storageQueue("pushsyncQueue", {
  queueName: QUEUE_NAME,
  connection: "AzureWebJobsStorage",
  handler: pushsync.queue,
});
app.timer("pushsyncReconcile", { schedule: RECONCILE_SCHEDULE, handler: pushsync.reconcile });
