/**
 * The one core every platform entry point calls (AWS Lambda now; GCP, Azure and the cluster
 * later). A platform handler parses its trigger, calls the runtime, and maps the outcome back.
 *
 * createRuntime (once per cold start):
 * - loads the manifests from `manifestsDir`; each error is logged with file:line and the valid
 *   rest is served;
 * - builds a provider per destination store served (env PUSHSYNC_STORES, default all; see
 *   config.ts) and a Vault source per Vault store (shared/vault/from-store.ts; env
 *   PUSHSYNC_VAULT_AUTH=aws-iam replaces every Vault store's auth with Vault's AWS auth);
 * - builds the engine with the fingerprint key (PUSHSYNC_FINGERPRINT_KEY or _FILE: required).
 *
 * pushEvents(events) pushes only the entries reading a changed secret and says which events'
 * pushes failed *retryably* (Vault unavailable, throttling, a Vault replica behind the event's
 * version...), so the platform redelivers just those. Permanent failures (a conflict, a secret
 * not owned by pushsync, a bad name) are reported and logged, but retrying would not help.
 * Events match entries by Vault namespace too: an entry reads the namespace its Vault store
 * uses (VAULT_NAMESPACE or the store's namespace, "" for the root).
 *
 * reconcile() is the full, list-based sync. When some manifests failed to load, managed secrets
 * no entry maps are kept rather than deleted: the failed manifests may still map them.
 */
import { createEngine, entriesFromPushes, loadFingerprintKey } from "../engine/index.ts";
import type { ChangedPath, Outcome, PushEntry, Report } from "../engine/index.ts";
import { PushsyncError } from "../errors/index.ts";
import { trimSlashes, type VaultChangeEvent } from "../events/types.ts";
import { silentLogger, type Logger } from "../observability/logger.ts";
import { createProvider, type CreateProviderOptions } from "../providers/index.ts";
import type { SecretStoreProvider } from "../providers/types.ts";
import { formatDiagnostic, loadManifests, resolvePushSecrets, resourceId } from "../spec/index.ts";
import { createVaultSource } from "../vault/client.ts";
import { vaultOptionsFromStore } from "../vault/from-store.ts";
import type { VaultSource } from "../vault/types.ts";
import { servedStores, STORES_ENV, vaultAuthOverride } from "./config.ts";
import { newestOf } from "./events.ts";

export { parseChangeEvent, newestOf } from "./events.ts";

export interface RuntimeOptions {
  /** Directory (or file) holding the ESO manifests. */
  manifestsDir: string;
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** The local Azure Key Vault (its URL and CA), as createProvider takes it. */
  azure?: CreateProviderOptions["azure"];
}

export interface PushEventsResult {
  report: Report;
  /** Ids of the events whose push failed in a way worth retrying. */
  failedEventIds: string[];
}

export interface Runtime {
  /** Destination store ids this deployment pushes to. */
  readonly stores: string[];
  pushEvents(events: VaultChangeEvent[]): Promise<PushEventsResult>;
  reconcile(): Promise<Report>;
  close(): Promise<void>;
}

interface VaultStore {
  source?: VaultSource;
  /** Vault namespace the store reads, without slashes; "" for the root. */
  namespace: string;
  error?: unknown;
}

const entryKey = (e: { pushSecret?: string; store: string; remoteKey: string; property?: string }): string =>
  `${e.pushSecret ?? ""}\u0000${e.store}\u0000${e.remoteKey}\u0000${e.property ?? ""}`;
const targetKey = (e: PushEntry): string => `${e.store}\u0000${e.remoteKey}`;
const pathKey = (mount: string, path: string): string => `${mount}\u0000${path}`;

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger;
  const fingerprintKey = loadFingerprintKey(env);
  const authOverride = vaultAuthOverride(env);

  const loaded = await loadManifests([options.manifestsDir]);
  for (const d of loaded.warnings) logger.warn("manifest warning", { at: formatDiagnostic(d) });
  for (const d of loaded.errors) logger.error("manifest error", { at: formatDiagnostic(d) });
  // loadManifests has already left out (and reported) the PushSecrets that do not resolve.
  const fromPushes = entriesFromPushes(resolvePushSecrets(loaded.manifests).pushes);
  for (const message of fromPushes.errors) logger.error("manifest error", { message });
  const incomplete = loaded.errors.length + fromPushes.errors.length > 0;

  const served = servedStores(env);
  const entries = fromPushes.entries.filter((e) => !served || served.has(e.store));
  const destinations = [...new Set(entries.map((e) => e.store))].sort();
  for (const name of served ?? []) {
    if (!destinations.includes(name))
      logger.warn(`${STORES_ENV} names a store no PushSecret pushes to`, { store: name });
  }
  const storeById = new Map(loaded.manifests.stores.map((s) => [resourceId(s), s]));

  const providers = new Map<string, SecretStoreProvider>();
  for (const id of destinations) {
    try {
      providers.set(id, createProvider(storeById.get(id)!, { env, logger, azure: options.azure }));
    } catch (err) {
      logger.error("store not usable; its entries fail", { store: id, error: err });
    }
  }

  const vaultStores = new Map<string, VaultStore>();
  for (const id of new Set(entries.map((e) => e.source.vaultStore))) {
    try {
      const opts = vaultOptionsFromStore(storeById.get(id)!, { env, logger });
      if (authOverride) opts.auth = authOverride;
      vaultStores.set(id, { source: createVaultSource(opts), namespace: trimSlashes(opts.namespace ?? "") });
    } catch (err) {
      logger.error("Vault store not usable; entries reading it fail", { store: id, error: err });
      vaultStores.set(id, { namespace: "", error: err });
    }
  }

  const engine = createEngine({
    vault: (id) => {
      const store = vaultStores.get(id);
      if (store?.source) return store.source;
      throw store?.error ?? new PushsyncError("Invalid", `Vault store ${id} is not configured`);
    },
    providers,
    fingerprintKey,
    logger,
  });
  logger.info("runtime ready", {
    manifests: options.manifestsDir,
    stores: destinations,
    entries: entries.length,
    manifestErrors: incomplete,
  });

  /** Events of one Vault namespace: the targets they touch, pushed together. */
  async function pushNamespace(namespace: string, events: VaultChangeEvent[]): Promise<PushEventsResult> {
    const byPath = new Map<string, VaultChangeEvent[]>();
    for (const e of events) {
      const k = pathKey(e.mount, e.path);
      byPath.set(k, [...(byPath.get(k) ?? []), e]);
    }
    const changed: ChangedPath[] = [...byPath.values()].map((list) => {
      const { mount, path, version } = newestOf(list);
      return { mount, path, ...(version !== undefined ? { version } : {}) };
    });
    const reads = (e: PushEntry): boolean =>
      vaultStores.get(e.source.vaultStore)?.namespace === namespace &&
      e.source.parts.some((p) => byPath.has(pathKey(p.location.mount, p.location.path)));
    const touched = new Set(entries.filter(reads).map(targetKey));
    const selected = entries.filter((e) => touched.has(targetKey(e)));
    if (selected.length === 0) return { report: emptyReport(), failedEventIds: [] };

    let report: Report;
    try {
      report = await engine.pushPaths(selected, changed);
    } catch (err) {
      logger.error("push failed", { namespace, events: events.length, error: err });
      return { report: emptyReport(), failedEventIds: events.map((e) => e.id) };
    }
    const byEntry = new Map(selected.map((e) => [entryKey(e), e]));
    const failedPaths = new Set<string>();
    for (const row of report.entries) {
      if (row.outcome !== "error" || !row.error?.retryable) continue;
      for (const p of byEntry.get(entryKey(row))?.source.parts ?? []) {
        failedPaths.add(pathKey(p.location.mount, p.location.path));
      }
    }
    return {
      report,
      failedEventIds: events.filter((e) => failedPaths.has(pathKey(e.mount, e.path))).map((e) => e.id),
    };
  }

  return {
    stores: destinations,
    async pushEvents(events) {
      const started = performance.now();
      const byNamespace = new Map<string, VaultChangeEvent[]>();
      for (const e of events) {
        const ns = trimSlashes(e.namespace);
        byNamespace.set(ns, [...(byNamespace.get(ns) ?? []), e]);
      }
      const results = await Promise.all([...byNamespace].map(([ns, list]) => pushNamespace(ns, list)));
      return {
        report: mergeReports(
          results.map((r) => r.report),
          performance.now() - started,
        ),
        failedEventIds: results.flatMap((r) => r.failedEventIds),
      };
    },
    async reconcile() {
      const plan = await engine.plan(entries);
      if (incomplete) {
        for (const item of plan.items) {
          if (item.entries.length === 0 && item.action.kind === "delete") {
            item.action = {
              kind: "none",
              outcome: "skipped",
              reason: "not deleted: some manifests failed to load and may still map it",
            };
          }
        }
      }
      return engine.apply(plan);
    },
    async close() {
      for (const p of providers.values()) await p.close?.();
      for (const v of vaultStores.values()) await v.source?.close();
    },
  };
}

const OUTCOMES: Outcome[] = ["created", "updated", "unchanged", "skipped", "deleted", "error"];

function emptyReport(): Report {
  return {
    entries: [],
    totals: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>,
    calls: {},
    vaultReads: { metadata: 0, data: 0 },
    durationMs: 0,
  };
}

function mergeReports(reports: Report[], durationMs: number): Report {
  const out = emptyReport();
  for (const r of reports) {
    out.entries.push(...r.entries);
    for (const o of OUTCOMES) out.totals[o] += r.totals[o];
    for (const [store, ops] of Object.entries(r.calls)) {
      const merged = (out.calls[store] ??= {});
      for (const [op, n] of Object.entries(ops)) merged[op] = (merged[op] ?? 0) + n;
    }
    out.vaultReads.metadata += r.vaultReads.metadata;
    out.vaultReads.data += r.vaultReads.data;
  }
  out.durationMs = Math.round(durationMs);
  return out;
}
