/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.
 *
 * Defaults are client-go's: lease 15 s, renew deadline 10 s, retry period 2 s. A candidate
 * tries to take the Lease every retry period (with up to 20% jitter); it may when the Lease
 * does not exist, has no holder, or its record has not changed for leaseDurationSeconds as
 * seen on the candidate's own clock (never comparing clocks between machines). The leader
 * renews every retry period; when it cannot renew within the renew deadline, or finds another
 * holder, it stops leading at once, then becomes a candidate again. Writes use the Lease's
 * resourceVersion, so two candidates never both win.
 *
 * `isLeader()` is what guards every write: it is true only while the last renewal is younger
 * than the renew deadline, which is shorter than the lease, so a leader that is cut off stops
 * writing before anyone else may start. `release()` (at shutdown) empties holderIdentity and
 * sets leaseDurationSeconds to 1, as client-go's ReleaseOnCancel, so a successor need not wait.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { silentLogger, type Logger } from "../../shared/observability/logger.ts";
import { isConflict, isNotFound, type KubeClient, type KubeObject } from "./kube.ts";

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  /** Whole seconds, as the Lease stores it. Default 15. */
  leaseDurationSeconds?: number;
  /** Default 10 000 ms. */
  renewDeadlineMs?: number;
  /** Default 2 000 ms. */
  retryPeriodMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  logger?: Logger;
}

/** A MicroTime as the API writes it: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  private leading = false;
  private lastRenewAt = 0;
  private observed: { record: string; at: number } | undefined;
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly path: string;
  private readonly leaseSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly log: Logger;

  constructor(
    private readonly client: KubeClient,
    private readonly options: LeaderElectionOptions,
  ) {
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${options.namespace}/leases/${options.name}`;
    this.leaseSeconds = options.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryMs = options.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseSeconds * 1000 || this.retryMs >= this.renewDeadlineMs) {
      throw new RangeError("leader election needs retry period < renew deadline < lease duration");
    }
    this.log = (options.logger ?? silentLogger).child({ lease: `${options.namespace}/${options.name}` });
  }

  start(): void {
    this.loop ??= this.run();
  }

  isLeader(): boolean {
    return this.leading && Date.now() - this.lastRenewAt < this.renewDeadlineMs;
  }

  /** Stops campaigning; with `release`, a leader hands the Lease back first. */
  async close(options: { release?: boolean } = {}): Promise<void> {
    this.stop.abort();
    await this.loop;
    if (this.leading && options.release !== false) await this.release();
    this.setLeading(false);
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      let outcome: "renewed" | "held" | "failed";
      // Counted from before the request: the record written says `renewTime: started`.
      const started = Date.now();
      try {
        outcome = (await this.tryAcquireOrRenew()) ? "renewed" : "held";
      } catch (err) {
        outcome = "failed";
        if (!signal.aborted) this.log.warn("lease update failed", { err, leading: this.leading });
      }
      if (signal.aborted) break;
      if (outcome === "renewed") {
        this.lastRenewAt = started;
        if (!this.leading) this.setLeading(true);
      } else if (this.leading && (outcome === "held" || !this.isLeader())) {
        this.setLeading(false);
      }
      const wait = this.leading ? this.retryMs : this.retryMs * (1 + Math.random() * 0.2);
      await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.log.info(leading ? "became leader" : "stopped leading", { identity: this.options.identity });
    if (leading) this.options.onStartedLeading?.();
    else this.options.onStoppedLeading?.();
  }

  /** True when this candidate holds the Lease after the call. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    const desired: LeaseSpec = {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: this.leaseSeconds,
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let lease: Lease;
    try {
      lease = await this.client.request<Lease>("GET", this.path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const created = await this.client
        .request<Lease>("POST", this.path.slice(0, this.path.lastIndexOf("/")), {
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: this.options.name, namespace: this.options.namespace },
            spec: desired,
          },
        })
        .catch((e: unknown) => {
          if (isConflict(e)) return undefined; // another candidate created it first
          throw e;
        });
      if (created) this.observe(created.spec ?? {}, now);
      return created !== undefined;
    }
    const old = lease.spec ?? {};
    this.observe(old, now);
    const holder = old.holderIdentity ?? "";
    const expiresAt = this.observed!.at + (old.leaseDurationSeconds ?? this.leaseSeconds) * 1000;
    if (holder !== "" && holder !== this.options.identity && expiresAt > now) return false;
    if (holder === this.options.identity) {
      desired.acquireTime = old.acquireTime ?? desired.acquireTime;
      desired.leaseTransitions = old.leaseTransitions ?? 0;
    } else {
      desired.leaseTransitions = (old.leaseTransitions ?? 0) + 1;
    }
    try {
      const updated = await this.client.request<Lease>("PUT", this.path, {
        body: { ...lease, spec: desired },
      });
      this.observe(updated.spec ?? desired, now);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  /** Remembers when the record was last seen to change, on this machine's clock. */
  private observe(spec: LeaseSpec, now: number): void {
    const record = JSON.stringify(spec);
    if (this.observed?.record !== record) this.observed = { record, at: now };
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.client.request<Lease>("GET", this.path);
      if (lease.spec?.holderIdentity !== this.options.identity) return;
      const now = microTime(Date.now());
      await this.client.request("PUT", this.path, {
        body: {
          ...lease,
          spec: {
            holderIdentity: "",
            leaseDurationSeconds: 1,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: lease.spec.leaseTransitions ?? 0,
          },
        },
      });
      this.log.info("released the lease", { identity: this.options.identity });
    } catch (err) {
      this.log.warn("cannot release the lease", { err });
    }
  }
}
