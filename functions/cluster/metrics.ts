/**
 * The puller's Prometheus metrics, under ESO's names so its dashboards and alerts carry over:
 *
 *   externalsecret_sync_calls_total{name,namespace}        counter, every reconcile
 *   externalsecret_sync_calls_error{name,namespace}        counter, reconciles that failed
 *   externalsecret_status_condition{name,namespace,condition,status}
 *                                                          gauge: condition="Ready", one sample per
 *                                                          status (True/False), 1 for the current one
 *   externalsecret_reconcile_duration{name,namespace}      gauge, the last reconcile, in nanoseconds
 *                                                          (ESO sets a Go time.Duration)
 *   externalsecret_provider_api_calls_count{provider,call,status}
 *                                                          counter; provider as ESO names it
 *                                                          ("HashiCorp/Vault", "AWS/SecretsManager", ...),
 *                                                          call the API operation, status success|error
 * and pushsync's own:
 *   pushsync_provider_throttled_total{provider,call}       calls the store refused as rate limited
 *   pushsync_externalsecret_last_sync_timestamp_seconds{name,namespace}
 *   pushsync_externalsecret_refresh_interval_seconds{name,namespace}
 *                                                          for ExternalSecrets refreshed periodically:
 *                                                          the refresh lag alert compares the two
 *   pushsync_puller_is_leader, pushsync_puller_queue_depth, pushsync_puller_informer_synced{resource},
 *   pushsync_puller_watch_restarts_total{resource,reason}, pushsync_puller_vault_events_total{outcome}
 *
 * The per-ExternalSecret gauges (status condition, last sync, refresh interval) come from the
 * leader only: a replica that lost the lease would otherwise keep reporting what it last saw.
 * Label values are names, namespaces and API operations: never secret values.
 */
import type { Counters } from "../../shared/observability/counters.ts";
import { MetricsRegistry, type Sample } from "../../shared/observability/metrics.ts";
import type { ProviderKind } from "../../shared/providers/types.ts";

const providerLabel: Record<ProviderKind, string> = {
  vault: "HashiCorp/Vault",
  "aws-secrets-manager": "AWS/SecretsManager",
  "gcp-secret-manager": "GCP/SecretManager",
  "azure-key-vault": "Azure/KeyVault",
};

interface EsState {
  name: string;
  namespace: string;
  ready?: boolean;
  lastSync?: number;
  refreshIntervalSeconds?: number;
}

export class PullerMetrics {
  readonly registry = new MetricsRegistry();
  private readonly es = new Map<string, EsState>();
  private readonly syncCalls = this.registry.counter(
    "externalsecret_sync_calls_total",
    "Total number of the External Secret sync calls",
  );
  private readonly syncErrors = this.registry.counter(
    "externalsecret_sync_calls_error",
    "Total number of the External Secret sync errors",
  );
  private readonly duration;
  private readonly apiCalls;
  private readonly throttled;
  readonly vaultEvents;
  private readonly isLeader: () => boolean;

  constructor(read: {
    isLeader: () => boolean;
    queueDepth: () => number;
    informers: () => { resource: string; synced: boolean; counters: Counters }[];
  }) {
    this.isLeader = read.isLeader;
    const r = this.registry;
    r.collect(
      "externalsecret_status_condition",
      "The status condition of a specific External Secret",
      "gauge",
      () =>
        this.leaderStates().flatMap((s): Sample[] =>
          s.ready === undefined
            ? []
            : [true, false].map((status) => ({
                labels: {
                  name: s.name,
                  namespace: s.namespace,
                  condition: "Ready",
                  status: status ? "True" : "False",
                },
                value: status === s.ready ? 1 : 0,
              })),
        ),
    );
    this.duration = r.gauge(
      "externalsecret_reconcile_duration",
      "The duration time to reconcile the External Secret (nanoseconds)",
    );
    this.apiCalls = r.counter(
      "externalsecret_provider_api_calls_count",
      "Number of API calls towards the secret provider",
    );
    this.throttled = r.counter(
      "pushsync_provider_throttled_total",
      "Provider API calls refused as rate limited (throttling)",
    );
    r.collect(
      "pushsync_externalsecret_last_sync_timestamp_seconds",
      "When the ExternalSecret was last synced (status.refreshTime), for periodically refreshed ones",
      "gauge",
      () => this.perEs((s) => s.lastSync),
    );
    r.collect(
      "pushsync_externalsecret_refresh_interval_seconds",
      "The ExternalSecret's refreshInterval, for periodically refreshed ones",
      "gauge",
      () => this.perEs((s) => s.refreshIntervalSeconds),
    );
    r.collect("pushsync_puller_is_leader", "1 while this replica holds the lease", "gauge", () =>
      read.isLeader() ? 1 : 0,
    );
    r.collect("pushsync_puller_queue_depth", "ExternalSecrets waiting in the work queue", "gauge", () =>
      read.queueDepth(),
    );
    r.collect("pushsync_puller_informer_synced", "1 once the informer has listed", "gauge", () =>
      read.informers().map((i) => ({ labels: { resource: i.resource }, value: i.synced ? 1 : 0 })),
    );
    r.collect(
      "pushsync_puller_watch_restarts_total",
      "Watch streams started again: after 410 Gone (relist), a silent stream, or an error",
      "counter",
      () =>
        read.informers().flatMap((i) =>
          (["relists", "silentRestarts", "errors"] as const).map((reason) => ({
            labels: { resource: i.resource, reason },
            value: i.counters.get(reason),
          })),
        ),
    );
    this.vaultEvents = r.counter(
      "pushsync_puller_vault_events_total",
      "Vault change notifications received, by outcome (matched, unmatched, skipped, rejected)",
    );
  }

  reconciled(ns: string, name: string, durationMs: number, failed: boolean): void {
    const labels = { name, namespace: ns };
    this.syncCalls.inc(labels);
    if (failed) this.syncErrors.inc(labels);
    this.duration.set(labels, Math.round(durationMs * 1e6));
  }

  condition(ns: string, name: string, ready: boolean): void {
    this.state(ns, name).ready = ready;
  }

  synced(ns: string, name: string, at: number | undefined, refreshIntervalSeconds: number | undefined): void {
    const s = this.state(ns, name);
    s.lastSync = at === undefined ? undefined : Math.floor(at / 1000);
    s.refreshIntervalSeconds = refreshIntervalSeconds;
  }

  forget(ns: string, name: string): void {
    this.es.delete(`${ns}/${name}`);
  }

  apiCall(kind: ProviderKind, call: string, ok: boolean, throttled: boolean): void {
    const provider = providerLabel[kind];
    this.apiCalls.inc({ provider, call, status: ok ? "success" : "error" });
    if (throttled) this.throttled.inc({ provider, call });
  }

  private state(ns: string, name: string): EsState {
    const key = `${ns}/${name}`;
    let s = this.es.get(key);
    if (!s) this.es.set(key, (s = { name, namespace: ns }));
    return s;
  }

  private leaderStates(): EsState[] {
    return this.isLeader() ? [...this.es.values()] : [];
  }

  private perEs(value: (s: EsState) => number | undefined): Sample[] {
    return this.leaderStates().flatMap((s) => {
      const v = value(s);
      return v === undefined ? [] : [{ labels: { name: s.name, namespace: s.namespace }, value: v }];
    });
  }
}
