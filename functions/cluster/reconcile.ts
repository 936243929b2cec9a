/**
 * Reconciling one ExternalSecret, following ESO's controller:
 *
 *   1. Skip, when no refresh is due and the Secret is valid (exists, labelled managed, its data
 *      matches the data-hash annotation). A refresh is due per refreshPolicy:
 *        CreatedOnce   never synced yet
 *        OnChange      never synced, or syncedResourceVersion differs (spec, labels, annotations)
 *        Periodic (or unset)
 *                      as OnChange, or refreshInterval has passed since refreshTime (an interval
 *                      of 0 means once), or Vault announced a change of a secret it reads
 *      The force-sync annotation ESO documents works through syncedResourceVersion
 *      ("<generation>-<hash of labels and annotations>", as ESO formats it).
 *   2. Fetch the data (fetch.ts). None at all: deletionPolicy Delete deletes the Secret (Owner
 *      only), Retain keeps it, Merge goes on and removes this ExternalSecret's keys.
 *   3. Write per creationPolicy: Owner and Orphan create or update (Owner first deletes Secrets
 *      it owned under another name), Merge updates an existing Secret or reports SecretMissing,
 *      CreateOrMerge creates or merges, None writes nothing. An immutable Secret only takes
 *      metadata changes. Unchanged Secrets are not written.
 *   4. Status (condition Ready with reason SecretSynced, SecretSyncedError, SecretDeleted or
 *      SecretMissing; refreshTime; syncedResourceVersion; binding) through the status
 *      subresource when it changed, Events (Created, Updated, Deleted, UpdateFailed,
 *      MissingProviderSecret) and metrics.
 *
 * Only the leader writes: every write is preceded by a leadership check, and a reconcile that
 * finds it lost the lease stops where it is, writing nothing more.
 */
import { createHash } from "node:crypto";
import { PushsyncError } from "../../shared/errors/index.ts";
import { canonicalJson } from "../../shared/engine/fingerprint.ts";
import { silentLogger, type Logger } from "../../shared/observability/logger.ts";
import { parseDuration, type ExternalSecret } from "../../shared/spec/index.ts";
import { EventRecorder, kubeTime, type EventType } from "./events.ts";
import { fetchSecretData, type SecretData } from "./fetch.ts";
import type { Informer } from "./informer.ts";
import { isConflict, isNotFound, type KubeClient, type KubeObject } from "./kube.ts";
import type { PullerMetrics } from "./metrics.ts";
import {
  desiredSecret,
  isSecretValid,
  secretChanges,
  SecretOwnedError,
  type ExternalSecretObject,
  type ExternalSecretStatus,
  type KubeSecret,
} from "./secret.ts";
import { collectCalls, type ResourceChecker, type Stores } from "./stores.ts";
import type { ReadSide } from "./vault-reader.ts";

const msg = {
  synced: "secret synced",
  syncedRetain: "secret retained due to DeletionPolicy=Retain",
  deleted: "secret deleted due to DeletionPolicy=Delete",
  missing: "secret will not be created due to CreationPolicy=Merge",
  getData: "could not get secret data from provider",
  deleteSecret: "could not delete secret",
  deleteOrphaned: "could not delete orphaned secrets",
  update: "could not update secret",
  immutable: "could not update secret, target is immutable",
  isOwned: "target is owned by another ExternalSecret",
  invalid: "invalid ExternalSecret",
};

type Reason = "SecretSynced" | "SecretSyncedError" | "SecretDeleted" | "SecretMissing";

/** What the worker does next with the key. */
export interface Outcome {
  /** Queue again after this long (the next refresh); absent: only events bring it back. */
  requeueAfterMs?: number;
  /** Failed: queue again with backoff. */
  retry?: boolean;
}

class NotLeaderError extends Error {}

export interface ReconcilerOptions {
  client: KubeClient;
  /** "external-secrets.io/v1": the version read and written. */
  apiVersion: string;
  externalSecrets: Informer<ExternalSecretObject>;
  /** The managed Secrets an ExternalSecret (by uid) controls: finds those left under an old name. */
  ownedSecrets: (uid: string) => KubeSecret[];
  stores: Stores;
  checker: ResourceChecker;
  events: EventRecorder;
  metrics: PullerMetrics;
  /** Key of the data-hash HMAC. */
  hashKey: Buffer;
  isLeader: () => boolean;
  logger?: Logger;
}

/** ESO's syncedResourceVersion: "<generation>-<hash of labels and annotations>". */
function syncedResourceVersion(obj: KubeObject): string {
  const meta = { annotations: obj.metadata.annotations ?? {}, labels: obj.metadata.labels ?? {} };
  return `${obj.metadata.generation ?? 0}-${createHash("sha3-224").update(canonicalJson(meta)).digest("hex")}`;
}

export class Reconciler {
  /**
   * ExternalSecrets whose Vault data changed since their last sync (instant updates), with a
   * count, so a notification that arrives during a reconcile is not forgotten when it ends.
   */
  private readonly upstream = new Map<string, number>();
  private readonly log: Logger;

  constructor(private readonly o: ReconcilerOptions) {
    this.log = (o.logger ?? silentLogger).child({ component: "reconciler" });
  }

  /** Vault announced a change of a secret the ExternalSecret reads. */
  upstreamChanged(key: string): void {
    this.upstream.set(key, (this.upstream.get(key) ?? 0) + 1);
  }

  async reconcile(key: string): Promise<Outcome> {
    const [namespace, name] = key.split("/") as [string, string];
    if (!this.o.externalSecrets.get(key)) {
      this.o.metrics.forget(namespace, name);
      this.upstream.delete(key);
      return {};
    }
    if (!this.o.isLeader()) return {};
    // Read afresh: the informer may not have seen the status written by the previous reconcile.
    let obj: ExternalSecretObject;
    try {
      const [group, version] = this.o.apiVersion.split("/") as [string, string];
      obj = await this.o.client.request(
        "GET",
        `/apis/${group}/${version}/namespaces/${namespace}/externalsecrets/${name}`,
      );
    } catch (err) {
      if (isNotFound(err)) return {};
      throw err;
    }
    const run = new Run(this.o, { ...obj, apiVersion: this.o.apiVersion, kind: "ExternalSecret" }, this.log);
    const started = Date.now();
    const notified = this.upstream.get(key);
    let outcome: Outcome;
    try {
      outcome = await run.sync(notified !== undefined, started);
    } catch (err) {
      if (err instanceof NotLeaderError) return {};
      run.fail(msg.update, err);
      outcome = { retry: true };
    }
    try {
      await run.writeStatus();
    } catch (err) {
      if (err instanceof NotLeaderError) return {};
      if (!isNotFound(err)) {
        this.log.warn("cannot update the status", { externalSecret: key, err });
        outcome = { retry: true };
      }
    }
    if (run.ready && !outcome.retry && this.upstream.get(key) === notified) this.upstream.delete(key);
    this.o.metrics.reconciled(namespace, name, Date.now() - started, run.failed);
    return outcome;
  }
}

/** One reconcile of one ExternalSecret. */
class Run {
  failed = false;
  ready = false;
  private readonly status: ExternalSecretStatus;
  private readonly ns: string;

  constructor(
    private readonly o: ReconcilerOptions,
    private readonly obj: ExternalSecretObject,
    private readonly log: Logger,
  ) {
    this.status = structuredClone(obj.status ?? {});
    this.ns = obj.metadata.namespace ?? "default";
  }

  async sync(upstreamChanged: boolean, started: number): Promise<Outcome> {
    const checked = this.o.checker.check<ExternalSecret>(this.obj, this.o.apiVersion, "ExternalSecret");
    if (!checked.resource) {
      this.fail(msg.invalid, new PushsyncError("Invalid", checked.problems.join("; ")));
      return {};
    }
    const es = checked.resource;
    const found = this.o.stores.find(es);
    if ("problem" in found) {
      this.fail(msg.getData, new PushsyncError("Invalid", found.problem));
      return { retry: true };
    }
    const target = es.spec.target.name;
    const existing = await this.getSecret(target);

    if (!this.refreshDue(es, upstreamChanged, started) && isSecretValid(es, existing, this.o.hashKey)) {
      return this.requeue(es, started);
    }

    let data: SecretData;
    try {
      const reader = this.o.stores.reader(found.store, found.object, this.ns);
      data = await fetchSecretData(es, {
        reader,
        call: (run) => this.observe(reader, run),
        onMissing: (what) =>
          void this.event(
            "Normal",
            "MissingProviderSecret",
            `secret does not exist at provider using ${what}`,
          ),
      });
    } catch (err) {
      this.fail(msg.getData, err);
      return { retry: true };
    }

    if (data.size === 0) {
      const { deletionPolicy, creationPolicy } = es.spec.target;
      if (deletionPolicy === "Delete") {
        if (creationPolicy !== "Owner") {
          this.fail(
            msg.deleteSecret,
            new PushsyncError(
              "Invalid",
              `unable to delete secret ${target}: creationPolicy=${creationPolicy} is not Owner`,
            ),
          );
          return {};
        }
        if (existing) {
          try {
            await this.write("DELETE", `/api/v1/namespaces/${this.ns}/secrets/${target}`);
          } catch (err) {
            if (err instanceof NotLeaderError) throw err;
            if (!isNotFound(err)) {
              this.fail(msg.deleteSecret, err);
              return { retry: true };
            }
          }
          await this.event("Normal", "Deleted", msg.deleted);
        }
        this.done(es, "SecretDeleted", msg.deleted, started);
        return this.requeue(es, started);
      }
      if (deletionPolicy === "Retain") {
        this.done(es, "SecretSynced", msg.syncedRetain, started);
        return this.requeue(es, started);
      }
    }

    const policy = es.spec.target.creationPolicy;
    if (policy === "Merge" && !existing) {
      this.done(es, "SecretMissing", msg.missing, started);
      return this.requeue(es, started);
    }
    if (policy !== "None") {
      if (policy === "Owner") {
        try {
          await this.deleteOrphans(target);
        } catch (err) {
          if (err instanceof NotLeaderError) throw err;
          this.fail(msg.deleteOrphaned, err);
          return { retry: true };
        }
      }
      try {
        await this.writeSecret(es, existing, data);
      } catch (err) {
        if (err instanceof NotLeaderError) throw err;
        if (isConflict(err)) return { retry: true };
        if (err instanceof SecretOwnedError) {
          this.fail(msg.isOwned, err);
          return {};
        }
        if (err instanceof ImmutableError) {
          this.fail(msg.immutable, err);
          return {};
        }
        this.fail(msg.update, err);
        return { retry: true };
      }
    }
    this.done(es, "SecretSynced", msg.synced, started);
    return this.requeue(es, started);
  }

  /** ESO's shouldRefresh, plus Vault change notifications for periodically refreshed ones. */
  private refreshDue(es: ExternalSecret, upstreamChanged: boolean, now: number): boolean {
    const synced = this.status.syncedResourceVersion ?? "";
    const refreshed = this.status.refreshTime ? Date.parse(this.status.refreshTime) : undefined;
    const changed = synced !== syncedResourceVersion(this.obj);
    const interval = intervalMs(es);
    switch (es.spec.refreshPolicy) {
      case "CreatedOnce":
        return synced === "" || refreshed === undefined;
      case "OnChange":
        return synced === "" || refreshed === undefined || changed;
      default:
        if (interval <= 0 && synced !== "") return false;
        if (changed || refreshed === undefined || refreshed > now) return true;
        return upstreamChanged || refreshed + interval < now;
    }
  }

  private requeue(es: ExternalSecret, now: number): Outcome {
    const interval = intervalMs(es);
    if (interval <= 0) return {};
    const refreshed = this.status.refreshTime ? Date.parse(this.status.refreshTime) : now;
    // refreshTime is in whole seconds: one more millisecond and the refresh is surely due.
    return { requeueAfterMs: Math.max(0, refreshed + interval - Date.now()) + 1 };
  }

  private async getSecret(name: string): Promise<KubeSecret | undefined> {
    try {
      return await this.o.client.request<KubeSecret>("GET", `/api/v1/namespaces/${this.ns}/secrets/${name}`);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async writeSecret(
    es: ExternalSecret,
    existing: KubeSecret | undefined,
    data: SecretData,
  ): Promise<void> {
    const desired = desiredSecret(es, this.obj, existing, data, this.o.hashKey);
    const name = desired.metadata.name;
    this.status.binding = { name };
    if (!existing) {
      await this.write("POST", `/api/v1/namespaces/${this.ns}/secrets`, desired);
      await this.event("Normal", "Created", "secret created");
      return;
    }
    const changes = secretChanges(existing, desired);
    if (!changes.data && !changes.metadata) return;
    const path = `/api/v1/namespaces/${this.ns}/secrets/${name}`;
    if (existing.immutable && changes.data) {
      // Labels and annotations still say whose the Secret is; the data stays as it is.
      if (changes.metadata)
        await this.write("PUT", path, { ...desired, data: existing.data, type: existing.type });
      throw new ImmutableError("Invalid", `unable to update secret ${name}: secret is immutable`);
    }
    await this.write("PUT", path, desired);
    await this.event("Normal", "Updated", "secret updated");
  }

  /** Secrets this ExternalSecret controls under another name (its target was renamed). */
  private async deleteOrphans(target: string): Promise<void> {
    for (const s of this.o.ownedSecrets(this.obj.metadata.uid ?? "")) {
      if (s.metadata.namespace !== this.ns || s.metadata.name === target) continue;
      try {
        await this.write("DELETE", `/api/v1/namespaces/${this.ns}/secrets/${s.metadata.name}`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      await this.event("Normal", "Deleted", "secret deleted because it was orphaned");
    }
  }

  private async write(method: string, path: string, body?: unknown, contentType?: string): Promise<void> {
    if (!this.o.isLeader()) throw new NotLeaderError();
    await this.o.client.request(method, path, {
      ...(body === undefined ? {} : { body }),
      ...(contentType ? { contentType } : {}),
    });
  }

  /** Counts the store API calls `run` makes; when it fails, its last call is the one that failed. */
  private async observe<T>(reader: ReadSide, run: () => Promise<T>): Promise<T> {
    const calls: string[] = [];
    const record = (err: unknown): void =>
      calls.forEach((call, i) => {
        const failedHere = err !== undefined && i === calls.length - 1;
        const throttled = failedHere && err instanceof PushsyncError && err.code === "Throttled";
        this.o.metrics.apiCall(reader.kind, call, !failedHere, throttled);
      });
    try {
      const out = await collectCalls(calls, run);
      record(undefined);
      return out;
    } catch (err) {
      record(err);
      throw err;
    }
  }

  fail(message: string, err: unknown): void {
    this.failed = true;
    const text = err instanceof Error ? err.message : String(err);
    this.log.warn("sync failed", {
      externalSecret: `${this.ns}/${this.obj.metadata.name}`,
      reason: message,
      err,
    });
    void this.event("Warning", "UpdateFailed", text);
    this.setCondition(false, "SecretSyncedError", message);
  }

  private done(es: ExternalSecret, reason: Reason, message: string, started: number): void {
    this.ready = true;
    this.setCondition(true, reason, message);
    this.status.refreshTime = kubeTime(started);
    this.status.syncedResourceVersion = syncedResourceVersion(this.obj);
    const interval = intervalMs(es);
    const periodic = (es.spec.refreshPolicy ?? "Periodic") === "Periodic" && interval > 0;
    this.o.metrics.synced(
      this.ns,
      this.obj.metadata.name,
      periodic ? started : undefined,
      periodic ? interval / 1000 : undefined,
    );
  }

  private setCondition(ok: boolean, reason: Reason, message: string): void {
    const status = ok ? "True" : "False";
    const conditions = this.status.conditions ?? [];
    const current = conditions.find((c) => c.type === "Ready");
    this.o.metrics.condition(this.ns, this.obj.metadata.name, ok);
    if (current && current.status === status && current.reason === reason && current.message === message)
      return;
    const lastTransitionTime =
      current && current.status === status && current.lastTransitionTime
        ? current.lastTransitionTime
        : kubeTime(Date.now());
    this.status.conditions = [
      ...conditions.filter((c) => c.type !== "Ready"),
      { type: "Ready", status, reason, message, lastTransitionTime },
    ];
  }

  async writeStatus(): Promise<void> {
    if (canonicalJson(this.status) === canonicalJson(this.obj.status ?? {})) return;
    const [group, version] = this.o.apiVersion.split("/") as [string, string];
    await this.write(
      "PATCH",
      `/apis/${group}/${version}/namespaces/${this.ns}/externalsecrets/${this.obj.metadata.name}/status`,
      { status: this.status },
      "application/merge-patch+json",
    );
  }

  private event(type: EventType, reason: string, message: string): Promise<void> {
    if (!this.o.isLeader()) return Promise.resolve();
    return this.o.events.record(this.obj, type, reason, message);
  }
}

class ImmutableError extends PushsyncError {
  override name = "ImmutableError";
}

function intervalMs(es: ExternalSecret): number {
  try {
    return parseDuration(es.spec.refreshInterval);
  } catch {
    return 0;
  }
}
