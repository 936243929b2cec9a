/**
 * The three Azure Functions (Node.js v4 programming model) entry points, as plain handlers over
 * one FunctionHost (shared/runtime/function-host.ts); index.ts registers them with `app`.
 *
 *   pushsyncPush       HTTP POST /api/pushsyncPush from the forwarder's webhook sink: signature
 *                      and replay checks, then the push (shared/runtime/webhook.ts): 401 forged,
 *                      stale or replayed (counted and logged as "webhook rejected"), 400 not
 *                      events, 500 retryable failure (the forwarder retries), 200 otherwise.
 *   pushsyncQueue      Storage queue trigger: one event or {"events": [...]} per message
 *                      (shared/runtime/delivery.ts). A retryable failure throws: the host makes the
 *                      message visible again and retries it up to host.json's maxDequeueCount
 *                      (default 5), then moves it to "<queue>-poison". Each attempt logs its
 *                      dequeueCount. A malformed message is logged and completed.
 *   pushsyncReconcile  Timer: a full reconcile. Throws when an entry failed retryably, so the run
 *                      shows as failed; the next run retries.
 *
 * Defaults: PUSHSYNC_VAULT_AUTH=azure (the app's managed identity logs in to Vault's Azure
 * method; set "store" for the stores' own auth). Each invocation logs through its
 * InvocationContext (JSON lines, at the record's level), so records carry the invocation id in
 * Application Insights; the runtime's own records go to stderr.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext, Timer } from "@azure/functions";
import { PushsyncError } from "../../shared/errors/index.ts";
import { createLogger, type Logger } from "../../shared/observability/logger.ts";
import { parseDelivery, pushDelivery } from "../../shared/runtime/delivery.ts";
import {
  createFunctionHost,
  type FunctionHost,
  type FunctionHostOptions,
} from "../../shared/runtime/function-host.ts";

export interface AzureFunctions {
  push(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit>;
  queue(entry: unknown, context: InvocationContext): Promise<void>;
  reconcile(timer: Timer, context: InvocationContext): Promise<void>;
  host: FunctionHost;
}

export interface AzureFunctionsOptions {
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  /** The runtime's logger; default JSON lines on stderr. */
  logger?: Logger;
  /** The local Key Vault's URL and CA (local runs and tests). */
  azure?: FunctionHostOptions["azure"];
}

/** A logger writing through the invocation's context, at each record's level. */
export function invocationLogger(context: InvocationContext, base: Record<string, unknown>): Logger {
  return createLogger({
    base: { invocationId: context.invocationId, ...base },
    sink: (line) => {
      const level = (JSON.parse(line) as { level: string }).level;
      if (level === "error") context.error(line);
      else if (level === "warn") context.warn(line);
      else if (level === "debug") context.debug(line);
      else context.info(line);
    },
  });
}

export function createAzureFunctions(options: AzureFunctionsOptions = {}): AzureFunctions {
  const logger = options.logger ?? createLogger({ base: { platform: "azure" } });
  const host = createFunctionHost({
    env: options.env,
    defaults: { PUSHSYNC_VAULT_AUTH: "azure" },
    logger,
    azure: options.azure,
  });

  return {
    host,

    async push(request, context) {
      const log = invocationLogger(context, { function: "pushsyncPush" });
      if (request.method !== "POST")
        return { status: 405, headers: { allow: "POST" }, jsonBody: { error: "POST only" } };
      let receiver;
      try {
        receiver = host.webhook();
      } catch (err) {
        log.error("webhook endpoint not configured", { error: err });
        return { status: 500, jsonBody: { error: "not configured" } };
      }
      const answer = await receiver.receive(
        { body: Buffer.from(await request.arrayBuffer()), headers: Object.fromEntries(request.headers) },
        log,
      );
      return { status: answer.status, jsonBody: answer.body };
    },

    async queue(entry, context) {
      const meta = context.triggerMetadata ?? {};
      const log = invocationLogger(context, {
        function: "pushsyncQueue",
        messageId: meta.id,
        dequeueCount: Number(meta.dequeueCount ?? 1),
      });
      const delivery = parseDelivery(entry);
      if ("error" in delivery) {
        log.error("malformed queue message: completed, not retried", { reason: delivery.error });
        return;
      }
      const { retry, summary } = await pushDelivery(delivery.events, host.push, log);
      log.info("queue delivery", { retry, ...summary });
      if (retry) {
        throw new PushsyncError(
          "Unavailable",
          `${summary.failed} of ${summary.events} event(s) failed retryably; the host retries the message ` +
            "until maxDequeueCount, then moves it to the poison queue",
          true,
        );
      }
    },

    async reconcile(timer, context) {
      const log = invocationLogger(context, { function: "pushsyncReconcile", isPastDue: timer.isPastDue });
      const { retry, summary } = await host.reconcile(log);
      if (retry) {
        throw new PushsyncError(
          "Unavailable",
          `${summary.retryable} entries failed retryably; the next run retries`,
          true,
        );
      }
    },
  };
}
