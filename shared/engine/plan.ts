/**
 * Planning: from PushEntries, Vault and the stores' current state to one action per remote secret.
 * No writes happen here.
 *
 * Steps:
 * 1. Group entries by (store, remote key) into targets. Conflicts are errors naming both
 *    PushSecrets: two entries writing one remote key (or one property of it) differently, a whole
 *    value and a property on one key, differing metadata/updatePolicy/adopt on one key, or two
 *    remote keys that provider.mapKey maps to the same native name.
 * 2. Read Vault *metadata* of every source (KV v2), once per path.
 * 3. Learn each store's state: listManaged() for a full plan (one listing per store, no value
 *    reads), describe() per target for an event-driven plan. A full plan then finds out whether
 *    the targets it would create, missing from the listing, exist without a marker (New keys).
 * 4. Compute the fingerprint and decide (diff.ts). Only targets that will be written read Vault
 *    data and render their value.
 * 5. Full plans also look at managed remote secrets no entry maps any more (see `orphans`).
 *
 * Concurrency. Every store is planned at the same time, each with at most `concurrency` targets
 * in flight (as apply does); Vault calls go through one limiter of their own, and each Vault
 * path is read once for all stores.
 *
 * New keys. A key missing from the managed listing may still exist, unmarked or marked by ESO,
 * and must then be described, and refused unless adopted, before anything is written to it.
 * Describing each of the m missing keys of a store costs m calls. A store that lists names
 * (listNames) answers for all of them at one call per page (AWS 100 names, GCP 25,000, Azure
 * 25 live plus 25 deleted), and only the keys it finds are described: the listing wins when
 * its pages plus the keys found stay below m. How many pages it has, no store says in advance,
 * so the rule decides while reading it:
 * - m < 2, or the store cannot list names: describe each missing key;
 * - else read the listing, narrowed to the missing names' prefixes, page by page, and give up
 *   as soon as the pages read plus the keys found reach m (it can then no longer be cheaper):
 *   every missing key is then described, as without the listing.
 * A listing read to its end thus always costs fewer calls than describing each key. One given
 * up has cost at most m extra calls; that takes a store with about (page size × m) other
 * secrets under the prefixes, or with most of the missing keys present.
 * Either way, every missing key that a complete listing has not ruled out is described before
 * anything is written to it.
 *
 * Fingerprint choice. The fingerprint is a keyed HMAC of the push's inputs (per source: Vault
 * path, KV v2 version and that version's created_time; the rendering spec; the metadata), not of
 * the rendered bytes. Because a KV v2 version is immutable, equal inputs mean an equal value, so:
 * + a steady-state reconcile decides "unchanged" from Vault metadata and the store's listing
 *   alone: no Vault data read, no provider value read, no write;
 * + a changed value always comes with a new version, hence a new fingerprint and a new
 *   idempotency token; created_time tells apart a path deleted and recreated at the same version;
 * - a new Vault version holding identical data is written once more (a new store version with
 *   the same value);
 * - KV v1 has no versions: its data is read on every plan and a keyed digest of it is fingerprinted;
 * - for property merges the fingerprint covers pushsync's properties only, not other properties
 *   of the remote JSON object.
 * A value changed at the store behind our back is detected by the store (currentIsMarked), not
 * by the fingerprint.
 *
 * The marker records one Vault path and version: the first source of the first entry (sorted by
 * property). "Never backwards" compares that path's version.
 */
import { PushsyncError } from "../errors/index.ts";
import { redact } from "../observability/logger.ts";
import type { Logger } from "../observability/logger.ts";
import { MANAGED_BY_PUSHSYNC } from "../providers/types.ts";
import type { PushMarker, RemoteSecretState, SecretStoreProvider } from "../providers/types.ts";
import type { VaultSource } from "../vault/types.ts";
import { decide } from "./diff.ts";
import type { Decision } from "./diff.ts";
import { canonicalJson, fingerprint } from "./fingerprint.ts";
import { renderEntry, SecretValue } from "./render.ts";
import { mapLimit } from "./resilience.ts";
import type { KeyedLock, Limiter, RetryOptions } from "./resilience.ts";
import { locationName, registerSecret, SourceReader } from "./sources.ts";
import type { SourceState } from "./sources.ts";
import type { ChangedPath, EntryError, PushEntry } from "./types.ts";

/** What plan and apply share; built by createEngine. */
export interface EngineContext {
  vaultFor(store: string): VaultSource;
  /** Providers already wrapped with resilience. */
  providers: Map<string, SecretStoreProvider>;
  key: Buffer;
  logger: Logger;
  /** Provider operations (and targets being planned) in flight per store. */
  concurrency: number;
  /** Vault calls in flight, over all stores and plans. */
  vaultLimiter: Limiter;
  retry: RetryOptions;
  lock: KeyedLock;
}

export type Action =
  | {
      kind: "write";
      restore: boolean;
      /** What drifted, when the inputs did not change. */
      reason?: string;
      /** Whole-value targets. */
      value?: SecretValue;
      /** Property targets: properties to set and to remove (read-modify-write in apply). */
      set?: Map<string, SecretValue>;
      remove?: string[];
    }
  | { kind: "delete" }
  | { kind: "none"; outcome: "unchanged" | "skipped" | "error"; reason?: string; error?: EntryError };

export interface PlanItem {
  store: string;
  remoteKey: string;
  /** Entries writing this remote secret; empty for a managed remote secret no entry maps. */
  entries: PushEntry[];
  /** For a remote secret no entry maps: the PushSecrets that own it through its Vault path. */
  owners?: string[];
  action: Action;
  current?: RemoteSecretState;
  fingerprint?: string;
  marker?: PushMarker;
  /** Vault sources as "mount/path@version". */
  vault?: string;
  /** Time spent on this item while planning (Vault data, rendering, describe). */
  planMs: number;
}

export interface Plan {
  items: PlanItem[];
  startedAt: number;
  callsAtStart: Map<string, Record<string, number>>;
  vaultReads: { metadata: number; data: number };
}

interface Target {
  store: string;
  remoteKey: string;
  /** Native name from provider.mapKey. */
  name: string;
  entries: PushEntry[];
}

export function toEntryError(err: unknown): EntryError {
  if (err instanceof PushsyncError)
    return { code: err.code, message: redact(err.message), retryable: err.retryable };
  const message = err instanceof Error ? `${err.name}: ${err.message}` : "unexpected failure";
  return { code: "Invalid", message: redact(message), retryable: false };
}

const failure = (code: EntryError["code"], message: string): Action => ({
  kind: "none",
  outcome: "error",
  error: { code, message, retryable: false },
});

/** The parts of an entry that decide the value (entries equal in this write the same thing). */
const valueSpec = (e: PushEntry): string =>
  canonicalJson({
    source: e.source,
    property: e.property,
    secretKey: e.secretKey,
    template: e.template?.text,
    conversion: e.conversionStrategy,
  });
const settingsSpec = (e: PushEntry): string =>
  canonicalJson({ metadata: e.metadata, updatePolicy: e.updatePolicy, adopt: e.adopt });

function findConflict(list: PushEntry[]): string | undefined {
  const first = list[0]!;
  const where = `remote key "${first.remoteKey}" in store ${first.store}`;
  const other = list.find((e) => settingsSpec(e) !== settingsSpec(first));
  if (other)
    return `${where}: ${first.pushSecret} and ${other.pushSecret} differ in metadata, updatePolicy or adopt`;
  const whole = list.find((e) => e.property === undefined);
  const prop = list.find((e) => e.property !== undefined);
  if (whole && prop) {
    return `${where}: ${whole.pushSecret} writes the whole value and ${prop.pushSecret} sets property "${prop.property}"`;
  }
  const byProperty = new Map<string | undefined, PushEntry>();
  for (const e of list) {
    const seen = byProperty.get(e.property);
    if (!seen) byProperty.set(e.property, e);
    else if (valueSpec(seen) !== valueSpec(e)) {
      const what = e.property === undefined ? where : `property "${e.property}" of ${where}`;
      return `${what} is written differently by ${seen.pushSecret} and ${e.pushSecret}`;
    }
  }
  return undefined;
}

/** Step 1: targets, and the entries that fail before any I/O. */
function groupTargets(
  entries: PushEntry[],
  providers: Map<string, SecretStoreProvider>,
): { targets: Target[]; failed: PlanItem[] } {
  const groups = new Map<string, PushEntry[]>();
  for (const e of entries) {
    const k = `${e.store}\u0000${e.remoteKey}`;
    groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  const failed: PlanItem[] = [];
  const fail = (list: PushEntry[], action: Action): void => {
    failed.push({ store: list[0]!.store, remoteKey: list[0]!.remoteKey, entries: list, action, planMs: 0 });
  };
  const byName = new Map<string, Target>();
  const collided = new Set<Target>();
  for (const list of groups.values()) {
    const { store, remoteKey } = list[0]!;
    const provider = providers.get(store);
    if (!provider) {
      fail(list, failure("Invalid", `no provider is configured for store ${store}`));
      continue;
    }
    const conflict = findConflict(list);
    if (conflict) {
      fail(list, failure("Conflict", conflict));
      continue;
    }
    let name: string;
    try {
      name = provider.mapKey(remoteKey);
    } catch (err) {
      fail(list, { kind: "none", outcome: "error", error: toEntryError(err) });
      continue;
    }
    const target: Target = { store, remoteKey, name, entries: list };
    const clash = byName.get(`${store}\u0000${name}`);
    if (clash) {
      const message =
        `remote keys "${clash.remoteKey}" (${clash.entries[0]!.pushSecret}) and "${remoteKey}" ` +
        `(${list[0]!.pushSecret}) both map to "${name}" in store ${store}`;
      for (const t of [clash, target]) if (!collided.has(t)) fail(t.entries, failure("Conflict", message));
      collided.add(clash).add(target);
      continue;
    }
    byName.set(`${store}\u0000${name}`, target);
  }
  return { targets: [...byName.values()].filter((t) => !collided.has(t)), failed };
}

interface Contribution {
  entry: PushEntry;
  status: "live" | "removed" | "kept";
  states: SourceState[];
}

async function contributions(target: Target, sources: SourceReader): Promise<Contribution[]> {
  const unique = new Map<string | undefined, PushEntry>();
  for (const e of target.entries) if (!unique.has(e.property)) unique.set(e.property, e);
  const sorted = [...unique.values()].sort((a, b) => (a.property ?? "").localeCompare(b.property ?? ""));
  return Promise.all(
    sorted.map(async (entry) => {
      const states = await Promise.all(
        entry.source.parts.map((p) => sources.state(entry.source.vaultStore, p.location)),
      );
      const gone = entry.source.parts.filter((_p, i) => states[i]!.deleted);
      if (gone.length > 0 && gone.length < states.length) {
        const paths = gone.map((p) => locationName(p.location)).join(", ");
        throw new PushsyncError("NotFound", `Vault secret ${paths} used by ${entry.pushSecret} is deleted`);
      }
      if (gone.length === 0) return { entry, status: "live" as const, states };
      return {
        entry,
        status: entry.deletionPolicy === "Delete" ? ("removed" as const) : ("kept" as const),
        states,
      };
    }),
  );
}

function fingerprintOf(key: Buffer, target: Target, list: Contribution[]): string {
  return fingerprint(key, {
    metadata: target.entries[0]!.metadata,
    contributions: list.map(({ entry: e, status, states }) =>
      status !== "live"
        ? { property: e.property, status }
        : {
            property: e.property,
            secretKey: e.secretKey,
            conversion: e.conversionStrategy,
            template: e.template?.text,
            sources: e.source.parts.map((p, i) => ({
              vaultStore: e.source.vaultStore,
              path: locationName(p.location),
              secretKey: p.secretKey,
              property: p.property,
              version: states[i]!.version,
              identity: states[i]!.identity,
            })),
          },
    ),
  });
}

function describeSources(list: Contribution[]): string {
  const seen = new Set<string>();
  for (const { entry, states } of list) {
    entry.source.parts.forEach((p, i) => {
      const s = states[i]!;
      seen.add(`${locationName(p.location)}@${s.deleted ? "deleted" : s.version}`);
    });
  }
  return [...seen].join(",");
}

type StoreState = { states: Map<string, RemoteSecretState> } | { error: unknown };

async function listStore(provider: SecretStoreProvider): Promise<StoreState> {
  const states = new Map<string, RemoteSecretState>();
  try {
    for await (const s of provider.listManaged()) states.set(s.name, s);
    return { states };
  } catch (err) {
    return { error: err };
  }
}

/** A target on its way to a plan item. */
interface Draft {
  target: Target;
  item: PlanItem;
  list: Contribution[];
  /** Decides from `item.current`; absent when the item already failed. */
  decide?: () => Decision;
}

/** Runs one planning step of a draft, adding its time to planMs; a failure fails the item. */
async function step(d: Draft, work: () => Promise<void>): Promise<void> {
  const started = performance.now();
  try {
    await work();
  } catch (err) {
    d.decide = undefined;
    d.item.action = { kind: "none", outcome: "error", error: toEntryError(err) };
  } finally {
    d.item.planMs += performance.now() - started;
  }
}

/** Vault state, fingerprint and current state (from the listing, else describe) of one target. */
async function draftTarget(
  ctx: EngineContext,
  target: Target,
  sources: SourceReader,
  listed: Promise<StoreState> | undefined,
): Promise<Draft> {
  const item: PlanItem = {
    store: target.store,
    remoteKey: target.remoteKey,
    entries: target.entries,
    action: { kind: "none", outcome: "unchanged" },
    planMs: 0,
  };
  const d: Draft = { target, item, list: [] };
  await step(d, async () => {
    const list = await contributions(target, sources);
    const first = target.entries[0]!;
    const byProperty = first.property !== undefined;
    const live = list.filter((c) => c.status === "live");
    const fp = fingerprintOf(ctx.key, target, list);
    const head = live[0] ?? list[0]!;
    const primary = {
      path: locationName(head.entry.source.parts[0]!.location),
      version: head.states[0]!.version,
    };
    d.list = list;
    item.fingerprint = fp;
    item.marker = { vaultPath: primary.path, vaultVersion: primary.version, fingerprint: fp };
    item.vault = describeSources(list);

    if (listed) {
      const store = await listed;
      if ("error" in store) throw store.error;
      item.current = store.states.get(target.name);
    } else {
      item.current = await ctx.providers.get(target.store)!.describe(target.remoteKey);
    }
    d.decide = () =>
      decide({
        store: target.store,
        remoteKey: target.remoteKey,
        current: item.current,
        fingerprint: fp,
        byProperty,
        sourcesDeleted: live.length === 0,
        deleteWhenGone: byProperty
          ? list.some((c) => c.status === "removed")
          : target.entries.every((e) => e.deletionPolicy === "Delete"),
        ifNotExists: first.updatePolicy === "IfNotExists",
        adopt: first.adopt,
        tags: first.metadata.tags ?? first.metadata.labels ?? {},
        primary: live.length > 0 ? primary : undefined,
      });
  });
  return d;
}

/** Longest common prefix of some names. */
function commonPrefix(names: string[]): string {
  let prefix = names[0] ?? "";
  for (const n of names) while (!n.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

/**
 * Prefixes narrowing a names listing to the given names: one per top-level folder ("/prod/",
 * "team/"), each as long as its names share, or their one common prefix when that makes more than 10.
 */
function prefixesOf(names: string[]): string[] | undefined {
  const folders = new Map<string, string[]>();
  for (const n of names) {
    const cut = n.indexOf("/", 1);
    const folder = cut < 0 ? n : n.slice(0, cut + 1);
    const group = folders.get(folder);
    if (group) group.push(n);
    else folders.set(folder, [n]);
  }
  if (folders.size <= 10) return [...folders.values()].map(commonPrefix);
  const common = commonPrefix(names);
  return common === "" ? undefined : [common];
}

/**
 * Of the names missing from a store's listing, those to describe: the ones the names listing
 * finds, or all of them when listing is not worth it (the rule is in the file comment) or fails.
 */
async function toDescribe(ctx: EngineContext, store: string, missing: string[]): Promise<Set<string>> {
  const all = new Set(missing);
  const provider = ctx.providers.get(store)!;
  if (!provider.listNames || missing.length < 2) return all;
  const found = new Set<string>();
  let pages = 0;
  try {
    for await (const page of provider.listNames(prefixesOf(missing))) {
      pages += 1;
      for (const name of page) if (all.has(name)) found.add(name);
      if (pages + found.size >= missing.length) return all;
    }
  } catch (err) {
    ctx.logger.warn("listing names failed; describing each new key instead", { store, error: err });
    return all;
  }
  return found;
}

/** The value of a target that will be written: Vault data read (once per path) and rendered. */
async function render(d: Draft, sources: SourceReader): Promise<void> {
  const decision = d.decide?.();
  if (!decision) return;
  if (decision.kind !== "write") {
    d.item.action = decision;
    return;
  }
  const live = d.list.filter((c) => c.status === "live");
  for (const { entry } of live) {
    for (const p of entry.source.parts) await sources.loadData(entry.source.vaultStore, p.location);
  }
  const value = (e: PushEntry): SecretValue => {
    const v = renderEntry(e, (loc) => sources.dataOf(e.source.vaultStore, loc));
    registerSecret(v.bytes.toString("utf8"));
    return v;
  };
  const first = d.target.entries[0]!;
  const write = {
    kind: "write" as const,
    restore: decision.restore,
    ...(decision.reason !== undefined ? { reason: decision.reason } : {}),
  };
  d.item.action =
    first.property !== undefined
      ? {
          ...write,
          set: new Map(live.map((c) => [c.entry.property!, value(c.entry)])),
          remove: d.list.filter((c) => c.status === "removed").map((c) => c.entry.property!),
        }
      : { ...write, value: value(first) };
}

/**
 * The plan items of one store's targets, at most `concurrency` targets at a time: state and
 * decision, then (full plans) whether the ones to create exist unlisted, then the values to write.
 */
async function planStore(
  ctx: EngineContext,
  store: string,
  targets: Target[],
  sources: SourceReader,
  listed: Promise<StoreState> | undefined,
): Promise<PlanItem[]> {
  const drafts = await mapLimit(targets, ctx.concurrency, (t) => draftTarget(ctx, t, sources, listed));
  if (listed) {
    const missing = drafts.filter((d) => d.item.current === undefined && d.decide?.().kind === "write");
    const names = await toDescribe(
      ctx,
      store,
      missing.map((d) => d.target.name),
    );
    const provider = ctx.providers.get(store)!;
    await mapLimit(
      missing.filter((d) => names.has(d.target.name)),
      ctx.concurrency,
      (d) =>
        step(d, async () => {
          d.item.current = await provider.describe(d.target.remoteKey);
        }),
    );
  }
  await mapLimit(drafts, ctx.concurrency, (d) => step(d, () => render(d, sources)));
  return drafts.map((d) => d.item);
}

/**
 * Managed remote secrets that no entry maps. Ownership is derived from the marker's Vault path:
 * the PushSecrets with an entry for the same store reading that path own it. They are deleted
 * when every owner has deletionPolicy Delete; kept (and reported as skipped) otherwise, or when
 * no PushSecret owns them (e.g. the PushSecret itself was removed: its deletionPolicy is unknown).
 * This assumes one pushsync deployment per store, as ESO assumes one controller per PushSecret.
 */
function orphans(ctx: EngineContext, entries: PushEntry[], listed: Map<string, StoreState>): PlanItem[] {
  const mapped = new Set<string>();
  for (const e of entries) {
    mapped.add(`${e.store}\u0000key\u0000${e.remoteKey}`);
    try {
      mapped.add(`${e.store}\u0000name\u0000${ctx.providers.get(e.store)?.mapKey(e.remoteKey)}`);
    } catch {
      // An unmappable key fails its own entry; the key comparison above still applies.
    }
  }
  const items: PlanItem[] = [];
  for (const [store, state] of listed) {
    if ("error" in state) continue;
    for (const s of state.states.values()) {
      if (s.managedBy !== MANAGED_BY_PUSHSYNC || !s.marker || s.pendingDeletion) continue;
      if (mapped.has(`${store}\u0000name\u0000${s.name}`) || mapped.has(`${store}\u0000key\u0000${s.key}`))
        continue;
      const vaultPath = s.marker.vaultPath;
      const claimants = entries.filter(
        (e) => e.store === store && e.source.parts.some((p) => locationName(p.location) === vaultPath),
      );
      const owners = [...new Set(claimants.map((e) => e.pushSecret))].sort();
      const action: Action =
        owners.length === 0
          ? {
              kind: "none",
              outcome: "skipped",
              reason: "managed by pushsync but mapped by no PushSecret; kept",
            }
          : claimants.every((e) => e.deletionPolicy === "Delete")
            ? { kind: "delete" }
            : { kind: "none", outcome: "skipped", reason: "no longer mapped; deletionPolicy None keeps it" };
      items.push({
        store,
        remoteKey: s.key,
        entries: [],
        owners,
        action,
        current: s,
        fingerprint: s.marker.fingerprint,
        vault: `${vaultPath}@${s.marker.vaultVersion}`,
        planMs: 0,
      });
    }
  }
  return items;
}

const touches = (list: PushEntry[], changed: ChangedPath[]): boolean =>
  list.some((e) =>
    e.source.parts.some((p) =>
      changed.some((c) => c.mount === p.location.mount && c.path === p.location.path),
    ),
  );

/**
 * Full plan (changed undefined): every entry, state from listings, unmapped managed secrets included.
 * Event-driven plan: only the targets with an entry reading one of the changed paths (and every
 * entry of those targets, for property merges), state from describe().
 */
export async function buildPlan(
  ctx: EngineContext,
  entries: PushEntry[],
  changed?: ChangedPath[],
): Promise<Plan> {
  const startedAt = performance.now();
  const callsAtStart = new Map([...ctx.providers].map(([name, p]) => [name, p.calls.snapshot()]));
  const sources = new SourceReader(ctx.vaultFor, ctx.key, ctx.retry, ctx.vaultLimiter, changed);
  let { targets, failed } = groupTargets(entries, ctx.providers);
  if (changed) {
    targets = targets.filter((t) => touches(t.entries, changed));
    failed = failed.filter((i) => touches(i.entries, changed));
  }
  const stores = [...new Set(entries.map((e) => e.store))].filter((s) => ctx.providers.has(s));
  const listings = new Map(changed ? [] : stores.map((s) => [s, listStore(ctx.providers.get(s)!)] as const));
  const planned = new Map<Target, PlanItem>();
  await Promise.all(
    stores.map(async (store) => {
      const mine = targets.filter((t) => t.store === store);
      const items = await planStore(ctx, store, mine, sources, listings.get(store));
      mine.forEach((t, i) => planned.set(t, items[i]!));
    }),
  );
  const items = targets.map((t) => planned.get(t)!);
  const listed = new Map(await Promise.all([...listings].map(async ([s, l]) => [s, await l] as const)));
  const unmapped = changed ? [] : orphans(ctx, entries, listed);
  return { items: [...failed, ...items, ...unmapped], startedAt, callsAtStart, vaultReads: sources.reads };
}
