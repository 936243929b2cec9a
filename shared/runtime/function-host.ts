/**
 * What a serverless instance (a Cloud Functions instance, an Azure Functions worker) keeps
 * between invocations: its settings, the runtime, created on first use and reused (a failed
 * creation is retried on the next invocation), and the webhook receiver with its replay cache.
 * The platform entry points (functions/gcp, functions/azure) only translate their triggers into
 * calls to `webhook()`, `push()` and `reconcile()` and map the outcome back.
 *
 * Settings: `env` (default process.env); the platform's `defaults` fill what it leaves unset or
 * empty (e.g. which Vault auth method the platform's identity uses). Manifests come from
 * PUSHSYNC_MANIFESTS_DIR, default "manifests", relative to `root` (default the working directory:
 * where the platform unpacks the deployed source). The webhook key is PUSHSYNC_WEBHOOK_SECRET.
 */
import { resolve } from "node:path";
import type { Outcome, Report } from "../engine/index.ts";
import { PushsyncError } from "../errors/index.ts";
import type { VaultChangeEvent } from "../events/types.ts";
import type { Logger } from "../observability/logger.ts";
import { createRuntime, type PushEventsResult, type Runtime, type RuntimeOptions } from "./index.ts";
import { createWebhookReceiver, WEBHOOK_SECRET_ENV, type WebhookReceiver } from "./webhook.ts";

type Env = Record<string, string | undefined>;

export const MANIFESTS_DIR_ENV = "PUSHSYNC_MANIFESTS_DIR";

export interface FunctionHostOptions {
  /** Default process.env. */
  env?: Env;
  /** Platform defaults, for variables `env` leaves unset or empty. */
  defaults?: Env;
  /** Where a relative PUSHSYNC_MANIFESTS_DIR resolves; default process.cwd(). */
  root?: string;
  logger: Logger;
  /** Passed to createRuntime: the local Key Vault's URL and CA. */
  azure?: RuntimeOptions["azure"];
}

/** A full reconcile in numbers: no names of secrets, no values. */
export interface ReconcileSummary {
  totals: Record<Outcome, number>;
  /** Entries that failed in a way worth retrying. */
  retryable: number;
  /** Per destination store: outcomes and provider calls by operation. */
  stores: Record<string, { totals: Record<Outcome, number>; calls: Record<string, number> }>;
  durationMs: number;
}

export interface FunctionHost {
  runtime(): Promise<Runtime>;
  /** The runtime's pushEvents, creating the runtime on first use. */
  push(events: VaultChangeEvent[]): Promise<PushEventsResult>;
  /** Throws PushsyncError("Invalid") when PUSHSYNC_WEBHOOK_SECRET is not set. */
  webhook(): WebhookReceiver;
  /**
   * A full reconcile, logged as one "reconcile finished" record (to `log`, default the host's);
   * `retry` when an entry failed retryably.
   */
  reconcile(log?: Logger): Promise<{ retry: boolean; summary: ReconcileSummary }>;
  close(): Promise<void>;
}

const OUTCOMES: Outcome[] = ["created", "updated", "unchanged", "skipped", "deleted", "error"];

export function createFunctionHost(options: FunctionHostOptions): FunctionHost {
  const env: Env = { ...(options.env ?? process.env) };
  for (const [name, value] of Object.entries(options.defaults ?? {})) if (!env[name]) env[name] = value;
  const { logger } = options;
  let runtime: Promise<Runtime> | undefined;
  let receiver: WebhookReceiver | undefined;

  const getRuntime = (): Promise<Runtime> => {
    runtime ??= createRuntime({
      manifestsDir: resolve(options.root ?? process.cwd(), env[MANIFESTS_DIR_ENV] || "manifests"),
      env,
      logger,
      azure: options.azure,
    }).catch((err: unknown) => {
      runtime = undefined;
      throw err;
    });
    return runtime;
  };
  const push = async (events: VaultChangeEvent[]) => (await getRuntime()).pushEvents(events);

  return {
    runtime: getRuntime,
    push,
    webhook() {
      const secret = env[WEBHOOK_SECRET_ENV];
      if (!secret) throw new PushsyncError("Invalid", `${WEBHOOK_SECRET_ENV} is not set`);
      receiver ??= createWebhookReceiver({ secret, logger, push });
      return receiver;
    },
    async reconcile(log = logger) {
      const rt = await getRuntime();
      const report = await rt.reconcile();
      const summary = summarize(report, rt.stores);
      log.info("reconcile finished", { ...summary });
      return { retry: summary.retryable > 0, summary };
    },
    async close() {
      const current = runtime;
      runtime = undefined;
      await (await current?.catch(() => undefined))?.close();
    },
  };
}

function summarize(report: Report, served: string[]): ReconcileSummary {
  const stores: ReconcileSummary["stores"] = {};
  const names = new Set([...served, ...report.entries.map((e) => e.store), ...Object.keys(report.calls)]);
  for (const store of [...names].sort()) {
    const rows = report.entries.filter((e) => e.store === store);
    stores[store] = {
      totals: Object.fromEntries(
        OUTCOMES.map((o) => [o, rows.filter((r) => r.outcome === o).length]),
      ) as Record<Outcome, number>,
      calls: report.calls[store] ?? {},
    };
  }
  return {
    totals: report.totals,
    retryable: report.entries.filter((e) => e.outcome === "error" && e.error?.retryable).length,
    stores,
    durationMs: report.durationMs,
  };
}
