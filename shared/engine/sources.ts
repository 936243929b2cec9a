/**
 * What Vault holds for each source location, read metadata first and data only when a value is
 * actually needed. One instance per plan: every location is read at most once, whichever stores
 * it is pushed to, and Vault calls go through one Limiter for the whole plan.
 *
 * A source counts as deleted when its metadata is gone, it has no version, or its current
 * version is soft-deleted or destroyed (Vault then answers 404 for the latest version, as ESO sees it).
 */
import { PushsyncError } from "../errors/index.ts";
import { registerSecretValue } from "../observability/logger.ts";
import { VaultNotFoundError } from "../vault/types.ts";
import type { KvLocation, VaultSource } from "../vault/types.ts";
import { dataDigest } from "./fingerprint.ts";
import { withRetries } from "./resilience.ts";
import type { Limiter, RetryOptions } from "./resilience.ts";
import type { ChangedPath } from "./types.ts";

export interface SourceState {
  kv: 1 | 2;
  deleted: boolean;
  /** KV v2 current_version; 0 for KV v1. */
  version: number;
  /** What identifies the data without reading it: created_time of the version (v2), or a keyed digest of the data (v1). */
  identity: string;
}

export const locationName = (loc: KvLocation): string => `${loc.mount}/${loc.path}`;
const cacheKey = (vaultStore: string, loc: KvLocation): string => `${vaultStore}\u0000${locationName(loc)}`;

export class SourceReader {
  readonly reads = { metadata: 0, data: 0 };
  private states = new Map<string, Promise<SourceState>>();
  private data = new Map<string, Record<string, unknown>>();
  private reading = new Map<string, Promise<void>>();

  constructor(
    private readonly vaultFor: (store: string) => VaultSource,
    private readonly key: Buffer,
    private readonly retry: RetryOptions,
    private readonly limiter: Limiter,
    /** Event-driven pushes: Vault must be at least at the version an event names. */
    private readonly changed: ChangedPath[] = [],
  ) {}

  state(vaultStore: string, loc: KvLocation): Promise<SourceState> {
    const k = cacheKey(vaultStore, loc);
    let s = this.states.get(k);
    if (!s) {
      s = this.load(vaultStore, loc);
      this.states.set(k, s);
    }
    return s;
  }

  /** Data of the version `state()` reported; read once. */
  loadData(vaultStore: string, loc: KvLocation): Promise<void> {
    const k = cacheKey(vaultStore, loc);
    if (this.data.has(k)) return Promise.resolve();
    let pending = this.reading.get(k);
    if (!pending) {
      pending = (async () => {
        const state = await this.state(vaultStore, loc);
        const vault = this.vaultFor(vaultStore);
        this.reads.data += 1;
        const secret = await this.call(() => vault.read(loc, { version: state.version }));
        this.remember(k, secret.data);
      })();
      this.reading.set(k, pending);
    }
    return pending;
  }

  /** Data loaded by loadData (or by state() for KV v1). */
  dataOf(vaultStore: string, loc: KvLocation): Record<string, unknown> {
    const d = this.data.get(cacheKey(vaultStore, loc));
    if (!d) throw new PushsyncError("Invalid", `Vault secret ${locationName(loc)} was not read`);
    return d;
  }

  private async load(vaultStore: string, loc: KvLocation): Promise<SourceState> {
    const vault = this.vaultFor(vaultStore);
    const kv = await this.call(() => vault.kvVersion(loc.mount));
    try {
      if (kv === 1) {
        this.reads.data += 1;
        const secret = await this.call(() => vault.read(loc));
        this.remember(cacheKey(vaultStore, loc), secret.data);
        return { kv, deleted: false, version: 0, identity: dataDigest(this.key, secret.data) };
      }
      this.reads.metadata += 1;
      const meta = await this.call(() => vault.readMetadata(loc));
      const current = meta.versions[String(meta.currentVersion)];
      const deleted =
        meta.currentVersion === 0 || !current || current.destroyed || current.deletionTime !== "";
      const event = this.changed.find((c) => c.mount === loc.mount && c.path === loc.path);
      if (event?.version !== undefined && event.version > meta.currentVersion) {
        throw new PushsyncError(
          "Unavailable",
          `Vault reports version ${meta.currentVersion} of ${locationName(loc)}, older than the changed version ${event.version}`,
          true,
        );
      }
      return { kv, deleted, version: meta.currentVersion, identity: current?.createdTime ?? "" };
    } catch (err) {
      if (err instanceof VaultNotFoundError) return { kv, deleted: true, version: 0, identity: "" };
      throw err;
    }
  }

  /** One Vault call: limited, and retried (each attempt takes its own turn). */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withRetries(() => this.limiter.run(fn), this.retry);
  }

  private remember(k: string, data: Record<string, unknown>): void {
    registerLeaves(data);
    this.data.set(k, data);
  }
}

/**
 * Registers a value with the logger's redactor (second line of defence). Strings under 8
 * characters are left out: values such as "prod" or "true" would otherwise be redacted from
 * every path and key name in the logs. Values are kept out of messages by construction.
 */
export function registerSecret(text: string): void {
  if (text.length >= 8) registerSecretValue(text);
}

function registerLeaves(value: unknown): void {
  if (typeof value === "string") registerSecret(value);
  else if (value && typeof value === "object") for (const v of Object.values(value)) registerLeaves(v);
}
