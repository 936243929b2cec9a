/**
 * Cloud Functions (2nd gen) entry points, registered with the Functions Framework under the names
 * `gcloud functions deploy --entry-point` uses (infra/gcp/deploy.sh). Settings are read from the
 * environment when this module loads; the runtime is built on the first invocation. See handlers.ts.
 */
import functions from "@google-cloud/functions-framework";
import { createGcpFunctions } from "./handlers.ts";

const gcp = createGcpFunctions();

functions.http("pushsyncPush", gcp.push);
functions.cloudEvent("pushsyncPubSub", gcp.pubsub);
functions.http("pushsyncReconcile", gcp.reconcile);
