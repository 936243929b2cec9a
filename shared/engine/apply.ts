/**
 * Applying a plan: the writes and deletes it decided, at most `concurrency` in flight per store.
 * A failure on one remote secret or one store never stops the others: it becomes that entry's
 * `error` outcome. Property targets are read-modify-write under a per-remote-key lock, so two
 * pushes setting different properties of one remote secret never lose each other's update.
 *
 * Every entry gets one report row and one log record (key names, path, version, short
 * fingerprint, never values).
 */
import { randomUUID } from "node:crypto";
import { PushsyncError } from "../errors/index.ts";
import type { Logger } from "../observability/logger.ts";
import { MANAGED_BY_PUSHSYNC } from "../providers/types.ts";
import type { PushRequest, RemoteSecretState, SecretStoreProvider } from "../providers/types.ts";
import { fingerprint, idempotencyToken, shortFingerprint } from "./fingerprint.ts";
import type { Action, EngineContext, Plan, PlanItem } from "./plan.ts";
import { toEntryError } from "./plan.ts";
import { mergeProperties } from "./render.ts";
import type { SecretValue } from "./render.ts";
import { mapLimit } from "./resilience.ts";
import type { EntryError, Outcome, Report, ReportEntry } from "./types.ts";

interface Result {
  outcome: Outcome;
  reason?: string;
  error?: EntryError;
}

/**
 * The idempotency token. A retried or repeated push of the same inputs carries the same token,
 * so the store makes no new version for it:
 * - whole values: derived from the fingerprint (equal fingerprints mean equal bytes);
 * - property merges: derived from the fingerprint and the merged bytes, since the other
 *   properties of the remote object are not in the fingerprint (same token with other bytes
 *   would be refused by AWS).
 * A repair (same fingerprint, but the store's current value is not the marked one: changed
 * behind our back) carries a fresh token: the derived one names the version that was replaced,
 * and the store would take the write for a repeat of it.
 */
function tokenFor(
  ctx: EngineContext,
  item: PlanItem,
  current: RemoteSecretState | undefined,
  merged?: SecretValue,
): string {
  const fp = item.fingerprint!;
  if (current?.marker?.fingerprint === fp && !current.currentIsMarked) return randomUUID();
  if (!merged) return idempotencyToken(fp);
  return idempotencyToken(fingerprint(ctx.key, { fingerprint: fp, merged: merged.bytes.toString("base64") }));
}

function request(
  item: PlanItem,
  value: SecretValue,
  current: RemoteSecretState | undefined,
  restore: boolean,
  token: string,
): PushRequest {
  return {
    key: item.remoteKey,
    value: value.bytes,
    metadata: item.entries[0]!.metadata,
    marker: item.marker!,
    idempotencyToken: token,
    restore,
    current,
  };
}

async function mergeAndPush(
  ctx: EngineContext,
  provider: SecretStoreProvider,
  item: PlanItem,
  action: Extract<Action, { kind: "write" }>,
): Promise<Result> {
  let current = item.current;
  let existing: Buffer | undefined;
  if (!action.restore) {
    try {
      existing = await provider.getSecret({ key: item.remoteKey });
    } catch (err) {
      if (!(err instanceof PushsyncError && err.code === "NotFound")) throw err;
    }
    if (existing && !current) {
      // Created since the plan was made (by a concurrent push, or by someone else).
      current = await provider.describe(item.remoteKey);
      if (current && current.managedBy !== MANAGED_BY_PUSHSYNC && !item.entries[0]!.adopt) {
        throw new PushsyncError(
          "NotOwned",
          `remote secret "${item.remoteKey}" in store ${item.store} exists and is not managed by pushsync`,
        );
      }
    }
  }
  const merged = mergeProperties(
    existing,
    action.set!,
    action.remove!,
    `"${item.remoteKey}" in store ${item.store}`,
  );
  if (!merged) {
    if (!existing) return { outcome: "unchanged", reason: "no property left to write" };
    await provider.delete(item.remoteKey);
    return { outcome: "deleted" };
  }
  const token = tokenFor(ctx, item, current, merged);
  const result = await provider.push(request(item, merged, current, action.restore, token));
  return pushed(result.action, action);
}

async function execute(ctx: EngineContext, item: PlanItem): Promise<Result> {
  const { action } = item;
  if (action.kind === "none") return action;
  const provider = ctx.providers.get(item.store)!;
  try {
    if (action.kind === "delete") {
      await provider.delete(item.remoteKey);
      return { outcome: "deleted" };
    }
    if (action.value) {
      const token = tokenFor(ctx, item, item.current);
      const result = await provider.push(request(item, action.value, item.current, action.restore, token));
      return pushed(result.action, action);
    }
    return await ctx.lock.run(`${item.store}\u0000${item.remoteKey}`, () =>
      mergeAndPush(ctx, provider, item, action),
    );
  } catch (err) {
    return { outcome: "error", error: toEntryError(err) };
  }
}

const pushed = (outcome: "created" | "updated", action: { reason?: string }): Result => ({
  outcome,
  ...(action.reason !== undefined && { reason: action.reason }),
});

function rowsOf(item: PlanItem, result: Result, durationMs: number): ReportEntry[] {
  const common = {
    store: item.store,
    remoteKey: item.remoteKey,
    outcome: result.outcome,
    ...(result.reason !== undefined && { reason: result.reason }),
    ...(result.error !== undefined && { error: result.error }),
    ...(item.fingerprint !== undefined && { fingerprint: shortFingerprint(item.fingerprint) }),
    ...(item.vault !== undefined && { vault: item.vault }),
    durationMs,
  };
  if (item.entries.length === 0) {
    return [{ ...(item.owners?.length ? { pushSecret: item.owners.join(",") } : {}), ...common }];
  }
  return item.entries.map((e) => ({
    pushSecret: e.pushSecret,
    ...(e.property !== undefined && { property: e.property }),
    ...common,
  }));
}

function log(logger: Logger, row: ReportEntry): void {
  if (row.outcome === "error") logger.warn("push outcome", { ...row });
  else if (row.outcome === "unchanged") logger.debug("push outcome", { ...row });
  else logger.info("push outcome", { ...row });
}

function callsSince(ctx: EngineContext, before: Map<string, Record<string, number>>): Report["calls"] {
  const out: Report["calls"] = {};
  for (const [store, provider] of ctx.providers) {
    const start = before.get(store) ?? {};
    const delta: Record<string, number> = {};
    for (const [op, n] of Object.entries(provider.calls.snapshot())) {
      if (n - (start[op] ?? 0) > 0) delta[op] = n - (start[op] ?? 0);
    }
    if (Object.keys(delta).length > 0) out[store] = delta;
  }
  return out;
}

export async function applyPlan(ctx: EngineContext, plan: Plan): Promise<Report> {
  const rows: ReportEntry[] = [];
  const byStore = new Map<string, PlanItem[]>();
  for (const item of plan.items) {
    const items = byStore.get(item.store);
    if (items) items.push(item);
    else byStore.set(item.store, [item]);
  }
  await Promise.all(
    [...byStore.values()].map((items) =>
      mapLimit(items, ctx.concurrency, async (item) => {
        const started = performance.now();
        const result = await execute(ctx, item);
        const durationMs = Math.round(item.planMs + performance.now() - started);
        for (const row of rowsOf(item, result, durationMs)) {
          rows.push(row);
          log(ctx.logger, row);
        }
      }),
    ),
  );
  rows.sort(
    (a, b) =>
      a.store.localeCompare(b.store) ||
      a.remoteKey.localeCompare(b.remoteKey) ||
      (a.property ?? "").localeCompare(b.property ?? "") ||
      (a.pushSecret ?? "").localeCompare(b.pushSecret ?? ""),
  );
  const totals: Record<Outcome, number> = {
    created: 0,
    updated: 0,
    unchanged: 0,
    skipped: 0,
    deleted: 0,
    error: 0,
  };
  for (const row of rows) totals[row.outcome] += 1;
  const report: Report = {
    entries: rows,
    totals,
    calls: callsSince(ctx, plan.callsAtStart),
    vaultReads: { ...plan.vaultReads },
    durationMs: Math.round(performance.now() - plan.startedAt),
  };
  const { entries: _rows, ...summary } = report;
  ctx.logger.info("push run", summary);
  return report;
}
