/**
 * The push engine: makes every destination hold what Vault holds, with the fewest provider calls,
 * never touching what pushsync does not own and never going backwards.
 *
 *   plan(entries)              full plan, no writes (for `pushsync plan`)
 *   apply(plan)                performs it and reports
 *   reconcile(entries)         plan + apply: the scheduled, list-based full sync
 *   pushPaths(entries, changed) event-driven: only entries reading a changed Vault path, describe() instead of listing
 *
 * Every provider is wrapped with resilience.ts (quotas, retries) here, so callers pass plain ones.
 *
 * A full plan treats managed remote secrets that no entry maps as unmapped, and deletes those
 * whose owners (derived from the Vault path, see plan.ts) all say deletionPolicy Delete. So give
 * plan/reconcile every entry: entries of a PushSecret left out (e.g. because its manifest failed
 * to resolve) look unmapped, and are deleted when another PushSecret reading the same Vault path
 * with deletionPolicy Delete claims them.
 */
import { silentLogger } from "../observability/logger.ts";
import type { Logger } from "../observability/logger.ts";
import type { SecretStoreProvider } from "../providers/types.ts";
import type { VaultSource } from "../vault/types.ts";
import { applyPlan } from "./apply.ts";
import { buildPlan } from "./plan.ts";
import type { EngineContext, Plan } from "./plan.ts";
import { KeyedLock, Limiter, withResilience } from "./resilience.ts";
import type { RetryOptions } from "./resilience.ts";
import type { ChangedPath, PushEntry, Report } from "./types.ts";

export interface EngineOptions {
  /** One Vault source, or one per Vault store name. */
  vault: VaultSource | ((storeName: string) => VaultSource);
  /** Destination providers by store name. */
  providers: Map<string, SecretStoreProvider>;
  /** Fingerprint HMAC key (see fingerprint.ts loadFingerprintKey). */
  fingerprintKey: Buffer | string;
  logger?: Logger;
  /** Provider operations in flight per store, in plan and in apply. Default 16. */
  concurrency?: number;
  /** Vault calls in flight, over all stores. Default 16. */
  vaultConcurrency?: number;
  retry?: RetryOptions;
}

export interface Engine {
  plan(entries: PushEntry[]): Promise<Plan>;
  apply(plan: Plan): Promise<Report>;
  reconcile(entries: PushEntry[]): Promise<Report>;
  pushPaths(entries: PushEntry[], changed: ChangedPath[]): Promise<Report>;
}

export function createEngine(options: EngineOptions): Engine {
  const { vault } = options;
  const retry = options.retry ?? {};
  const ctx: EngineContext = {
    vaultFor: typeof vault === "function" ? vault : () => vault,
    providers: new Map([...options.providers].map(([name, p]) => [name, withResilience(p, retry)])),
    key: Buffer.isBuffer(options.fingerprintKey)
      ? options.fingerprintKey
      : Buffer.from(options.fingerprintKey),
    logger: options.logger ?? silentLogger,
    concurrency: options.concurrency ?? 16,
    vaultLimiter: new Limiter(options.vaultConcurrency ?? 16),
    retry,
    lock: new KeyedLock(),
  };
  return {
    plan: (entries) => buildPlan(ctx, entries),
    apply: (plan) => applyPlan(ctx, plan),
    reconcile: async (entries) => applyPlan(ctx, await buildPlan(ctx, entries)),
    pushPaths: async (entries, changed) => applyPlan(ctx, await buildPlan(ctx, entries, changed)),
  };
}
