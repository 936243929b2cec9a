/**
 * AWS Lambda, schedule trigger: a full reconcile of every served store. Each entry's outcome is
 * one structured log record (the engine's "push outcome"; unchanged entries at debug level), and
 * the run ends with one CloudWatch Embedded Metric Format record per store on stdout: counts per
 * outcome and provider calls (namespace "pushsync", dimension Store), with the calls per
 * operation as a plain field.
 */
import middy from "@middy/core";
import type { Outcome, Report } from "../../shared/engine/index.ts";
import { emfRecord, type EmfMetric } from "../../shared/observability/emf.ts";
import { functionLogger, lambdaRuntime, type LambdaContext } from "./lambda.ts";

const logger = functionLogger("reconciler");

const METRIC_NAMES: Record<Outcome, string> = {
  created: "Created",
  updated: "Updated",
  unchanged: "Unchanged",
  skipped: "Skipped",
  deleted: "Deleted",
  error: "Errors",
};

/** The EMF records of one run, one per store. */
function reconcileMetrics(report: Report, stores: string[], requestId: string): Record<string, unknown>[] {
  const all = new Set([...stores, ...report.entries.map((e) => e.store), ...Object.keys(report.calls)]);
  return [...all].sort().map((store) => {
    const rows = report.entries.filter((e) => e.store === store);
    const calls = report.calls[store] ?? {};
    const metrics: EmfMetric[] = (Object.keys(METRIC_NAMES) as Outcome[]).map((o) => ({
      name: METRIC_NAMES[o],
      value: rows.filter((r) => r.outcome === o).length,
      unit: "Count",
    }));
    metrics.push({
      name: "ProviderCalls",
      value: Object.values(calls).reduce((a, b) => a + b, 0),
      unit: "Count",
    });
    return emfRecord({
      namespace: "pushsync",
      dimensions: { Store: store },
      metrics,
      properties: { function: "reconciler", requestId, calls, durationMs: report.durationMs },
    });
  });
}

async function reconciler(
  _event: unknown,
  context: LambdaContext,
): Promise<{ totals: Report["totals"]; durationMs: number }> {
  const runtime = await lambdaRuntime(logger);
  const report = await runtime.reconcile();
  for (const record of reconcileMetrics(report, runtime.stores, context.awsRequestId)) {
    process.stdout.write(JSON.stringify(record) + "\n");
  }
  return { totals: report.totals, durationMs: report.durationMs };
}

export const handler = middy<unknown, { totals: Report["totals"]; durationMs: number }>().handler(reconciler);
