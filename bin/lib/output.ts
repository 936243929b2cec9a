/**
 * How `pushsync plan` and `pushsync sync` print: rows grouped by store (text) or one JSON
 * document, and a progress bar on stderr while sync applies (only when stderr is a terminal).
 * Rows carry keys, PushSecrets, Vault paths and versions, 12-hex fingerprints and error
 * messages (which name keys and paths, never values): no value is ever printed.
 */
import type { Writable } from "node:stream";
import {
  shortFingerprint,
  type Plan,
  type PlanItem,
  type Report,
  type ReportEntry,
} from "../../shared/engine/index.ts";
import type { Logger, LogFields } from "../../shared/observability/logger.ts";
import type { Run } from "./run.ts";

const PLAN_ACTIONS = ["create", "update", "delete", "unchanged", "skipped", "error"] as const;
type PlanAction = (typeof PLAN_ACTIONS)[number];

/** A report row with the plan's action in place of the outcome. */
type PlanRow = Omit<ReportEntry, "outcome" | "durationMs"> & { action: PlanAction };

function actionOf(item: PlanItem): PlanAction {
  const { action } = item;
  if (action.kind === "write") return item.current ? "update" : "create";
  if (action.kind === "delete") return "delete";
  return action.outcome;
}

/** One row per entry (per remote secret for unmapped ones), as the sync report has. */
function planRows(plan: Plan): PlanRow[] {
  const rows = plan.items.flatMap((item): PlanRow[] => {
    const { action } = item;
    const common = {
      store: item.store,
      remoteKey: item.remoteKey,
      action: actionOf(item),
      ...(action.kind !== "delete" && action.reason !== undefined ? { reason: action.reason } : {}),
      ...(action.kind === "none" && action.error !== undefined ? { error: action.error } : {}),
      ...(item.fingerprint !== undefined ? { fingerprint: shortFingerprint(item.fingerprint) } : {}),
      ...(item.vault !== undefined ? { vault: item.vault } : {}),
    };
    if (item.entries.length === 0)
      return [{ ...(item.owners?.length ? { pushSecret: item.owners.join(",") } : {}), ...common }];
    return item.entries.map((e) => ({
      pushSecret: e.pushSecret,
      ...(e.property !== undefined ? { property: e.property } : {}),
      ...common,
    }));
  });
  return rows.sort(
    (a, b) =>
      a.store.localeCompare(b.store) ||
      a.remoteKey.localeCompare(b.remoteKey) ||
      (a.property ?? "").localeCompare(b.property ?? "") ||
      (a.pushSecret ?? "").localeCompare(b.pushSecret ?? ""),
  );
}

function planTotals(rows: PlanRow[]): Record<PlanAction, number> {
  const totals = Object.fromEntries(PLAN_ACTIONS.map((a) => [a, 0])) as Record<PlanAction, number>;
  for (const r of rows) totals[r.action] += 1;
  return totals;
}

type Row = { what: string; store: string; remoteKey: string; property?: string; pushSecret?: string } & Pick<
  ReportEntry,
  "fingerprint" | "vault" | "reason" | "error"
>;

/** Rows grouped under their store, in aligned columns; the reason or error ends the line. */
function table(rows: Row[]): string[] {
  const lines: string[] = [];
  const stores = [...new Set(rows.map((r) => r.store))];
  for (const store of stores) {
    const mine = rows.filter((r) => r.store === store);
    const cells = mine.map((r) => [
      r.what,
      r.property !== undefined ? `${r.remoteKey} [${r.property}]` : r.remoteKey,
      r.pushSecret ?? "-",
      r.fingerprint ?? "-",
      r.vault ?? "-",
    ]);
    const widths = cells[0]!.map((_c, i) => Math.max(...cells.map((c) => c[i]!.length)));
    lines.push(`store ${store}`);
    mine.forEach((r, n) => {
      const note = r.error ? `${r.error.code}: ${r.error.message}` : (r.reason ?? "");
      const cols = cells[n]!.map((c, i) => c.padEnd(widths[i]!)).join("  ");
      lines.push(`  ${note ? `${cols}  ${note}` : cols.trimEnd()}`);
    });
  }
  return lines;
}

const counts = (totals: Record<string, number>): string =>
  Object.entries(totals)
    .map(([k, n]) => `${n} ${k}`)
    .join(", ");

function problems(run: Run): string[] {
  return [...run.errors, ...run.warnings.map((w) => `warning: ${w}`)];
}

/** Prints the plan; returns the exit code (1 when anything failed). */
export function printPlan(run: Run, plan: Plan): number {
  const rows = planRows(plan);
  const totals = planTotals(rows);
  const ok = run.errors.length === 0 && totals.error === 0;
  if (run.options.output === "json") {
    console.log(JSON.stringify({ ok, errors: run.errors, warnings: run.warnings, rows, totals }, null, 2));
  } else {
    const lines = [...problems(run), ...table(rows.map((r) => ({ ...r, what: r.action })))];
    lines.push(
      `Plan: ${counts(totals)}${run.errors.length ? `; ${run.errors.length} manifest or store error(s)` : ""}`,
    );
    console.log(lines.join("\n"));
  }
  return ok ? 0 : 1;
}

/** Prints what sync did: the rows that are not unchanged, counts, provider calls. */
export function printReport(run: Run, report: Report): number {
  const ok = run.errors.length === 0 && report.totals.error === 0;
  if (run.options.output === "json") {
    console.log(JSON.stringify({ ok, errors: run.errors, warnings: run.warnings, ...report }, null, 2));
    return ok ? 0 : 1;
  }
  const changed = report.entries.filter((e) => e.outcome !== "unchanged");
  const lines = [...problems(run), ...table(changed.map((e) => ({ ...e, what: e.outcome })))];
  const errors = run.errors.length ? `; ${run.errors.length} manifest or store error(s)` : "";
  lines.push(`Sync: ${counts(report.totals)}${errors} in ${(report.durationMs / 1000).toFixed(1)} s`);
  lines.push(`Vault reads: ${report.vaultReads.metadata} metadata, ${report.vaultReads.data} data`);
  const stores = Object.entries(report.calls);
  lines.push(stores.length ? "Provider calls:" : "Provider calls: none");
  for (const [store, ops] of stores) {
    const list = Object.entries(ops).map(([op, n]) => `${op} ${n}`);
    lines.push(`  ${store}  ${list.join(", ")}`);
  }
  console.log(lines.join("\n"));
  return ok ? 0 : 1;
}

/**
 * Counts the engine's "push outcome" log records (one per report row, see shared/engine/apply.ts)
 * and draws a bar on `stream` when it is a terminal. Other records go to `next`.
 */
export class Progress {
  private total = 0;
  private done = 0;
  private drawnAt = 0;

  constructor(
    private readonly stream: Writable & { isTTY?: boolean },
    private readonly next: Logger,
  ) {}

  /** Rows the apply will report: one per entry, one per unmapped remote secret. */
  start(plan: Plan): void {
    this.total = plan.items.reduce((n, i) => n + Math.max(1, i.entries.length), 0);
    this.done = 0;
    this.draw(true);
  }

  finish(): void {
    if (this.stream.isTTY && this.total > 0) this.stream.write("\r\x1b[K");
    this.total = 0;
  }

  logger(next: Logger = this.next): Logger {
    const tick = (msg: string) => {
      if (msg !== "push outcome" || this.total === 0) return;
      this.done += 1;
      this.draw(this.done === this.total);
    };
    const wrap = (level: "debug" | "info" | "warn" | "error") => (msg: string, fields?: LogFields) => {
      tick(msg);
      next[level](msg, fields);
    };
    return {
      debug: wrap("debug"),
      info: wrap("info"),
      warn: wrap("warn"),
      error: wrap("error"),
      child: (fields) => this.logger(next.child(fields)),
    };
  }

  private draw(force: boolean): void {
    if (!this.stream.isTTY || this.total === 0) return;
    const now = Date.now();
    if (!force && now - this.drawnAt < 100) return;
    this.drawnAt = now;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    this.stream.write(
      `\rsync [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${this.done}/${this.total}`,
    );
  }
}
