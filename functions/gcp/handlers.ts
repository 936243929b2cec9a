/**
 * The three Cloud Functions (2nd gen) entry points, as plain handlers over one FunctionHost
 * (shared/runtime/function-host.ts); index.ts registers them with the Functions Framework.
 *
 *   pushsyncPush       HTTP, POST from the forwarder's webhook sink: signature and replay checks,
 *                      then the push (shared/runtime/webhook.ts): 401 forged, stale or replayed
 *                      (counted and logged as "webhook rejected"), 400 not events, 500 retryable
 *                      failure (the forwarder retries), 200 otherwise; JSON summaries, no values.
 *   pushsyncPubSub     CloudEvent google.cloud.pubsub.topic.v1.messagePublished: message.data is
 *                      base64 of one event or {"events": [...]} (shared/runtime/delivery.ts).
 *                      A retryable failure throws, so Pub/Sub delivers the message again (deploy
 *                      with --retry); a malformed message is logged and acknowledged.
 *   pushsyncReconcile  HTTP, from Cloud Scheduler: a full reconcile; 200, or 500 when an entry
 *                      failed retryably. Deployed --no-allow-unauthenticated: Cloud Run checks the
 *                      scheduler's OIDC token (audience, signature, roles/run.invoker) before the
 *                      request reaches this code, which therefore does no check of its own.
 *
 * Defaults: PUSHSYNC_VAULT_AUTH=gcp-iam (the function's service account logs in to Vault's GCP
 * method; set "store" for the stores' own auth). Logs are JSON lines on stdout with Cloud
 * Logging's `severity` and `message` fields.
 */
import type { CloudEvent, HttpFunction } from "@google-cloud/functions-framework";
import { PushsyncError } from "../../shared/errors/index.ts";
import { createLogger, type Logger } from "../../shared/observability/logger.ts";
import { parseDelivery, pushDelivery } from "../../shared/runtime/delivery.ts";
import { createFunctionHost, type FunctionHost } from "../../shared/runtime/function-host.ts";

/** The data of a Pub/Sub messagePublished CloudEvent. */
export interface PubSubMessagePublished {
  message?: { data?: string; messageId?: string; attributes?: Record<string, string>; publishTime?: string };
  subscription?: string;
}

export interface GcpFunctions {
  push: HttpFunction;
  pubsub: (event: CloudEvent<PubSubMessagePublished>) => Promise<void>;
  reconcile: HttpFunction;
  host: FunctionHost;
}

export interface GcpFunctionsOptions {
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  logger?: Logger;
}

const SEVERITY: Record<string, string> = { debug: "DEBUG", info: "INFO", warn: "WARNING", error: "ERROR" };

/** Our JSON log lines as Cloud Logging reads them: `severity` sets the level, `message` the summary. */
export function gcpLogger(base: Record<string, unknown> = {}): Logger {
  return createLogger({
    base,
    sink: (line) => {
      const { level, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
      process.stdout.write(
        JSON.stringify({ severity: SEVERITY[String(level)], message: msg, ...rest }) + "\n",
      );
    },
  });
}

export function createGcpFunctions(options: GcpFunctionsOptions = {}): GcpFunctions {
  const logger = options.logger ?? gcpLogger({ platform: "gcp" });
  const host = createFunctionHost({ env: options.env, defaults: { PUSHSYNC_VAULT_AUTH: "gcp-iam" }, logger });

  const push: HttpFunction = async (req, res) => {
    if (req.method !== "POST") {
      res.set("allow", "POST").status(405).json({ error: "POST only" });
      return;
    }
    let receiver;
    try {
      receiver = host.webhook();
    } catch (err) {
      logger.error("webhook endpoint not configured", { error: err });
      res.status(500).json({ error: "not configured" });
      return;
    }
    const answer = await receiver.receive({ body: req.rawBody ?? "", headers: req.headers });
    res.status(answer.status).json(answer.body);
  };

  const pubsub = async (event: CloudEvent<PubSubMessagePublished>): Promise<void> => {
    const message = event.data?.message;
    const log = logger.child({ function: "pushsyncPubSub", messageId: message?.messageId ?? event.id });
    const delivery = parseDelivery(Buffer.from(message?.data ?? "", "base64").toString("utf8"));
    if ("error" in delivery) {
      log.error("malformed Pub/Sub message: acknowledged, not retried", { reason: delivery.error });
      return;
    }
    const { retry, summary } = await pushDelivery(delivery.events, host.push, log);
    log.info("pubsub delivery", { retry, ...summary });
    if (retry) {
      throw new PushsyncError(
        "Unavailable",
        `${summary.failed} of ${summary.events} event(s) failed retryably; Pub/Sub delivers the message again`,
        true,
      );
    }
  };

  const reconcile: HttpFunction = async (req, res) => {
    if (req.method !== "POST" && req.method !== "GET") {
      res.set("allow", "GET, POST").status(405).json({ error: "GET or POST only" });
      return;
    }
    try {
      const { retry, summary } = await host.reconcile();
      res.status(retry ? 500 : 200).json(summary);
    } catch (err) {
      logger.error("reconcile failed", { error: err });
      res.status(500).json({ error: "reconcile failed" });
    }
  };

  return { push, pubsub, reconcile, host };
}
