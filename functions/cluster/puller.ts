/**
 * The in-cluster ExternalSecret puller (`pushsync pull`): ExternalSecrets become Kubernetes
 * Secrets, refreshed as ESO would and, for secrets read from Vault, within a second of a change.
 *
 *   informers    ExternalSecrets, SecretStores, ClusterSecretStores (external-secrets.io, each
 *                kind in v1 when the cluster serves it, else v1beta1) and the Secrets labelled
 *                reconcile.external-secrets.io/managed=true
 *   work queue   one, keyed "namespace/name" (queue.ts); fed by ExternalSecret changes (spec,
 *                labels, annotations), by changes to managed Secrets (a Secret edited by hand is
 *                repaired: its data no longer matches its data-hash), by store changes, by each
 *                ExternalSecret's next refresh, and by Vault change notifications
 *   instant      Vault's event stream (WebSocket, shared/events/subscriber.ts) and/or the
 *   updates      forwarder's signed webhooks (POST /vault-events, verified with verifyWebhook and
 *                a replay cache); the LocationIndex names the ExternalSecrets reading the changed
 *                path. After the event stream reconnects, every ExternalSecret reading Vault is
 *                refreshed (Vault keeps no backlog).
 *   leadership   a Lease (leader.ts); every replica keeps its informers warm, only the leader
 *                reconciles and writes, and a new leader starts by queueing every ExternalSecret;
 *                workers start once every informer has listed
 *   HTTP         GET /metrics, /healthz, /readyz (200 once every informer has listed), and
 *                POST /vault-events (webhooks; followers answer 503)
 *
 * `close()` stops in order: notifications, queue and workers, the Lease (released unless told
 * otherwise), informers, the HTTP server, store clients.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { CloudEventParser } from "../../shared/events/cloudevents.ts";
import { subscribeVaultEvents, type VaultEventSubscriber } from "../../shared/events/subscriber.ts";
import { isObject, type VaultChangeEvent } from "../../shared/events/types.ts";
import { ReplayCache, verifyWebhook } from "../../shared/events/webhook.ts";
import { watchFromManifests } from "../../shared/forwarder/watch.ts";
import { silentLogger, type Logger } from "../../shared/observability/logger.ts";
import { observabilityHandler } from "../../shared/observability/metrics.ts";
import type { CreateProviderOptions } from "../../shared/providers/index.ts";
import type { ExternalSecret } from "../../shared/spec/index.ts";
import { EventRecorder } from "./events.ts";
import { Informer, objectKey, type InformerOptions } from "./informer.ts";
import type { KubeClient, KubeObject } from "./kube.ts";
import { LeaderElector, type LeaderElectionOptions } from "./leader.ts";
import { LocationIndex } from "./locations.ts";
import { PullerMetrics } from "./metrics.ts";
import { WorkQueue, type WorkQueueOptions } from "./queue.ts";
import { Reconciler } from "./reconcile.ts";
import {
  controllerOf,
  isSecretValid,
  MANAGED_LABEL,
  type ExternalSecretObject,
  type KubeSecret,
} from "./secret.ts";
import { ResourceChecker, Stores } from "./stores.ts";

const GROUP = "external-secrets.io";
const LEADER_LABEL = "pushsync.io/leader";
const WEBHOOK_PATH = "/vault-events";
const MAX_WEBHOOK_BODY = 1024 * 1024;

export interface PullerOptions {
  client: KubeClient;
  /** Lease holder and Event source host; default POD_NAME, else the host name. */
  identity?: string;
  /** Where the Lease lives. */
  leaseNamespace: string;
  /** Default "pushsync-puller". */
  leaseName?: string;
  leaderElection?: Pick<LeaderElectionOptions, "leaseDurationSeconds" | "renewDeadlineMs" | "retryPeriodMs">;
  /** Key of the data-hash HMAC (see secret.ts). */
  hashKey: Buffer;
  /** "v1" or "v1beta1" for every kind; default: per kind, v1 when the cluster serves it. */
  apiVersion?: Version;
  /** Parallel reconciles; default 4. */
  concurrency?: number;
  queue?: WorkQueueOptions;
  informer?: Pick<InformerOptions, "silenceMs" | "watchTimeoutSeconds" | "initialBackoffMs" | "maxBackoffMs">;
  /** Subscribe to a Vault's event stream. */
  vaultEvents?: { address: string; token: string; namespace?: string; ca?: string };
  /**
   * Accept the forwarder's webhooks signed with this key at POST /vault-events. A follower
   * answers 503, so the forwarder retries; `leaderPod` lets a Service send them to the leader.
   */
  webhookSecret?: string;
  /**
   * This replica's own Pod: the leader labels it LEADER_LABEL=true (and a replica that stops
   * leading, or starts, removes the label), so a Service selecting the label reaches the leader.
   */
  leaderPod?: { namespace: string; name: string };
  /** Serve /metrics, /healthz, /readyz (and the webhook). */
  listen?: { host: string; port: number };
  /** Environment for aws, gcpsm and azurekv stores; default process.env. */
  providerEnv?: Record<string, string | undefined>;
  azure?: CreateProviderOptions["azure"];
  logger?: Logger;
}

export interface Puller {
  identity: string;
  /** The ExternalSecret version read and written: "external-secrets.io/v1" or ".../v1beta1". */
  apiVersion: string;
  /** Bound port of the HTTP server, when listening. */
  port: number | undefined;
  isLeader(): boolean;
  /** Every informer has listed. */
  ready(): boolean;
  /** Informers by resource, for their counters (lists, relists, watches, silentRestarts, ...). */
  informers: Record<
    "externalsecrets" | "secretstores" | "clustersecretstores" | "secrets",
    Informer<KubeObject>
  >;
  /** Connected to Vault's event stream. */
  vaultEventsConnected(): boolean;
  /** With `releaseLease: false` the Lease is left to expire, as after a crash. */
  close(options?: { releaseLease?: boolean }): Promise<void>;
}

export async function startPuller(options: PullerOptions): Promise<Puller> {
  const { client } = options;
  const log = options.logger ?? silentLogger;
  const identity = options.identity ?? process.env.POD_NAME ?? hostname();
  const versions = await servedVersions(client, options.apiVersion, log);
  const apiVersion = `${GROUP}/${versions.externalsecrets}`;

  const informerOptions = { ...options.informer, logger: log };
  const crd = (plural: Plural) => `/apis/${GROUP}/${versions[plural]}/${plural}`;
  const externalSecrets = new Informer<ExternalSecretObject>(client, {
    ...informerOptions,
    path: crd("externalsecrets"),
  });
  const secretStores = new Informer<KubeObject>(client, { ...informerOptions, path: crd("secretstores") });
  const clusterSecretStores = new Informer<KubeObject>(client, {
    ...informerOptions,
    path: crd("clustersecretstores"),
  });
  const secrets = new Informer<KubeSecret>(client, {
    ...informerOptions,
    path: "/api/v1/secrets",
    labelSelector: `${MANAGED_LABEL}=true`,
  });
  const informers = {
    externalsecrets: externalSecrets,
    secretstores: secretStores,
    clustersecretstores: clusterSecretStores,
    secrets,
  } as Puller["informers"];
  const allInformers = Object.entries(informers);
  const ready = (): boolean => allInformers.every(([, i]) => i.hasSynced());

  const queue = new WorkQueue(options.queue);
  const labelPod = async (leader: boolean): Promise<void> => {
    if (!options.leaderPod) return;
    const { namespace, name } = options.leaderPod;
    try {
      await client.request("PATCH", `/api/v1/namespaces/${namespace}/pods/${name}`, {
        body: { metadata: { labels: { [LEADER_LABEL]: leader ? "true" : null } } },
        contentType: "application/merge-patch+json",
      });
    } catch (err) {
      log.warn("cannot label the pod", { pod: `${namespace}/${name}`, leader, err });
    }
  };
  const elector = new LeaderElector(client, {
    namespace: options.leaseNamespace,
    name: options.leaseName ?? "pushsync-puller",
    identity,
    ...options.leaderElection,
    logger: log,
    onStartedLeading: () => {
      for (const obj of externalSecrets.list()) queue.add(objectKey(obj));
      void labelPod(true);
    },
    onStoppedLeading: () => void labelPod(false),
  });
  const isLeader = (): boolean => elector.isLeader();
  const metrics = new PullerMetrics({
    isLeader,
    queueDepth: () => queue.length().ready,
    informers: () =>
      allInformers.map(([resource, i]) => ({ resource, synced: i.hasSynced(), counters: i.counters })),
  });
  const checker = new ResourceChecker();
  const stores = new Stores({
    client,
    secretStores,
    clusterSecretStores,
    checker,
    apiVersions: {
      SecretStore: `${GROUP}/${versions.secretstores}`,
      ClusterSecretStore: `${GROUP}/${versions.clustersecretstores}`,
    },
    ...(options.providerEnv ? { providerEnv: options.providerEnv } : {}),
    ...(options.azure ? { azure: options.azure } : {}),
    logger: log,
  });
  const reconciler = new Reconciler({
    client,
    apiVersion,
    externalSecrets,
    ownedSecrets: (uid) =>
      [...(owned.get(uid) ?? [])].flatMap((key) => {
        const s = secrets.get(key);
        return s ? [s] : [];
      }),
    stores,
    checker,
    events: new EventRecorder(client, { component: "pushsync-puller", host: identity }, log),
    metrics,
    hashKey: options.hashKey,
    isLeader,
    logger: log,
  });

  // --- indexes kept by the informers ---------------------------------------------------------
  const locations = new LocationIndex();
  /** "namespace/secret name" → ExternalSecrets writing that Secret. */
  const targets = new Map<string, Set<string>>();
  const targetOf = new Map<string, string>();

  const checkedEs = (obj: ExternalSecretObject): ExternalSecret | undefined =>
    checker.check<ExternalSecret>(obj, apiVersion, "ExternalSecret").resource;

  const index = (key: string, obj: ExternalSecretObject | undefined): void => {
    const oldTarget = targetOf.get(key);
    const oldSet = oldTarget === undefined ? undefined : targets.get(oldTarget);
    oldSet?.delete(key);
    if (oldSet?.size === 0) targets.delete(oldTarget!);
    targetOf.delete(key);
    locations.remove(key);
    const es = obj && checkedEs(obj);
    if (!es) return;
    const target = `${es.metadata.namespace}/${es.spec.target.name}`;
    targetOf.set(key, target);
    let set = targets.get(target);
    if (!set) targets.set(target, (set = new Set()));
    set.add(key);
    const found = stores.find(es);
    if ("store" in found && found.store.providerKind === "vault") {
      const watch = watchFromManifests({
        stores: [found.store],
        externalSecrets: [es],
        pushSecrets: [],
        files: [],
      });
      locations.set(key, watch.paths);
    }
  };

  externalSecrets.on((event, obj, old) => {
    const key = objectKey(obj);
    if (event === "delete") {
      index(key, undefined);
      checker.forget(obj.metadata.uid);
      queue.add(key);
      return;
    }
    index(key, obj);
    // As ESO: status writes (ours) change neither generation, labels nor annotations.
    if (event === "update" && old && !metadataChanged(old, obj)) return;
    queue.add(key);
  });

  const storeChanged = (kind: string) => (event: string, obj: KubeObject) => {
    stores.forget({ kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace ?? "" } });
    if (event === "delete") checker.forget(obj.metadata.uid);
    for (const es of externalSecrets.list()) {
      const ref = (es as { spec?: { secretStoreRef?: { name?: string; kind?: string } } }).spec
        ?.secretStoreRef;
      const sameKind = (ref?.kind ?? "SecretStore") === kind;
      const sameNs = kind === "ClusterSecretStore" || es.metadata.namespace === obj.metadata.namespace;
      if (ref?.name !== obj.metadata.name || !sameKind || !sameNs) continue;
      const key = objectKey(es);
      index(key, es);
      queue.add(key);
    }
  };
  secretStores.on(storeChanged("SecretStore"));
  clusterSecretStores.on(storeChanged("ClusterSecretStore"));

  /** ExternalSecret uid → keys of the managed Secrets it controls. */
  const owned = new Map<string, Set<string>>();
  const ownerOf = new Map<string, string>();
  secrets.on((event, secret) => {
    const secretKey = objectKey(secret);
    const before = ownerOf.get(secretKey);
    const uid = event === "delete" ? undefined : controllerOf(secret)?.uid;
    if (before !== uid) {
      const set = before === undefined ? undefined : owned.get(before);
      set?.delete(secretKey);
      if (set?.size === 0) owned.delete(before!);
      ownerOf.delete(secretKey);
      if (uid !== undefined) {
        ownerOf.set(secretKey, uid);
        let mine = owned.get(uid);
        if (!mine) owned.set(uid, (mine = new Set()));
        mine.add(secretKey);
      }
    }

    const ns = secret.metadata.namespace ?? "";
    const keys = new Set(targets.get(`${ns}/${secret.metadata.name}`));
    for (const ref of secret.metadata.ownerReferences ?? []) {
      if (ref.controller && ref.kind === "ExternalSecret") keys.add(`${ns}/${ref.name}`);
    }
    for (const key of keys) {
      const obj = externalSecrets.get(key);
      const es = obj && checkedEs(obj);
      // Our own writes come back here too: a Secret that still matches its hash needs nothing.
      if (event !== "delete" && es && isSecretValid(es, secret, options.hashKey)) continue;
      queue.add(key);
    }
  });

  // --- instant updates ---------------------------------------------------------------------
  const vaultChanged = (event: Pick<VaultChangeEvent, "namespace" | "mount" | "path">): number => {
    const keys = locations.lookup(event);
    metrics.vaultEvents.inc({ outcome: keys.size > 0 ? "matched" : "unmatched" });
    for (const key of keys) {
      reconciler.upstreamChanged(key);
      queue.add(key);
    }
    return keys.size;
  };
  const refreshAllVault = (): void => {
    for (const key of locations.keys()) {
      reconciler.upstreamChanged(key);
      queue.add(key);
    }
  };

  let subscriber: VaultEventSubscriber | undefined;
  if (options.vaultEvents) {
    const parser = new CloudEventParser();
    const v = options.vaultEvents;
    subscriber = subscribeVaultEvents({
      address: v.address,
      token: v.token,
      ...(v.namespace ? { namespace: v.namespace } : {}),
      ...(v.ca ? { ca: v.ca } : {}),
      logger: log,
      onConnected: refreshAllVault,
      onMessage: (text) => {
        const parsed = parser.parse(text);
        if ("event" in parsed) vaultChanged(parsed.event);
        else metrics.vaultEvents.inc({ outcome: "skipped" });
      },
    });
  }

  // --- HTTP --------------------------------------------------------------------------------
  let closing = false;
  const replays = new ReplayCache();
  const observability = observabilityHandler(metrics.registry, () => ({
    ok: !closing,
    detail: { leader: isLeader(), identity },
  }));
  const handler: http.RequestListener = (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/readyz" && (req.method === "GET" || req.method === "HEAD")) {
      const body = JSON.stringify({
        status: ready() ? "ready" : "not ready",
        informers: Object.fromEntries(allInformers.map(([r, i]) => [r, i.hasSynced()])),
      });
      res.writeHead(ready() ? 200 : 503, { "content-type": "application/json" }).end(body);
    } else if (path === WEBHOOK_PATH && options.webhookSecret !== undefined) {
      if (req.method !== "POST") {
        res.writeHead(405, { allow: "POST" }).end();
        return;
      }
      if (!isLeader()) {
        res.writeHead(503, { "retry-after": "1" }).end();
        return;
      }
      void receiveWebhook(req, options.webhookSecret, replays, vaultChanged, metrics, log).then(
        (status) => res.writeHead(status).end(),
        () => res.writeHead(500).end(),
      );
    } else {
      observability(req, res);
    }
  };
  const server = options.listen ? await serve(handler, options.listen) : undefined;

  // --- start ---------------------------------------------------------------------------------
  // A container restarted in the same Pod must not keep a label from its previous life.
  await labelPod(false);
  for (const [, i] of allInformers) i.start();
  elector.start();

  const workers: Promise<void>[] = [];
  const runWorkers = (async () => {
    // Before every informer has listed, a missing store or Secret would be reported wrongly.
    while (!ready() && !closing) await new Promise((r) => setTimeout(r, 20));
    if (closing) return;
    for (const obj of externalSecrets.list()) queue.add(objectKey(obj));
    for (let i = 0; i < (options.concurrency ?? 4); i++) workers.push(work(queue, reconciler, log));
  })();

  const port = server ? (server.address() as AddressInfo).port : undefined;
  log.info("puller started", { identity, apiVersion, port });
  return {
    identity,
    apiVersion,
    port,
    isLeader,
    ready,
    informers,
    vaultEventsConnected: () => subscriber?.connected() ?? false,
    async close(closeOptions = {}) {
      if (closing) return;
      closing = true;
      await subscriber?.close();
      queue.close();
      await runWorkers;
      await Promise.all(workers);
      await elector.close({ release: closeOptions.releaseLease !== false });
      await labelPod(false);
      await Promise.all(allInformers.map(([, i]) => i.close()));
      if (server) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      await stores.close();
      log.info("puller stopped", { identity });
    },
  };
}

async function work(queue: WorkQueue, reconciler: Reconciler, log: Logger): Promise<void> {
  for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
    try {
      const outcome = await reconciler.reconcile(key);
      if (outcome.retry) {
        queue.addRateLimited(key);
      } else {
        queue.forget(key);
        if (outcome.requeueAfterMs !== undefined) queue.addAfter(key, outcome.requeueAfterMs);
      }
    } catch (err) {
      log.error("reconcile failed", { externalSecret: key, err });
      queue.addRateLimited(key);
    } finally {
      queue.done(key);
    }
  }
}

function metadataChanged(a: KubeObject, b: KubeObject): boolean {
  const same = (x: unknown, y: unknown) => JSON.stringify(x ?? {}) === JSON.stringify(y ?? {});
  return (
    a.metadata.generation !== b.metadata.generation ||
    !same(a.metadata.labels, b.metadata.labels) ||
    !same(a.metadata.annotations, b.metadata.annotations) ||
    a.metadata.deletionTimestamp !== b.metadata.deletionTimestamp
  );
}

type Version = "v1" | "v1beta1";
type Plural = "externalsecrets" | "secretstores" | "clustersecretstores";

/**
 * Per kind, v1 when the cluster serves it, else v1beta1 (ESO releases before v0.17 serve only
 * v1beta1). With `forced`, that version for every kind.
 */
async function servedVersions(
  client: KubeClient,
  forced: Version | undefined,
  log: Logger,
): Promise<Record<Plural, Version>> {
  const plurals: Plural[] = ["externalsecrets", "secretstores", "clustersecretstores"];
  if (forced) return Object.fromEntries(plurals.map((p) => [p, forced])) as Record<Plural, Version>;
  const served = async (version: Version): Promise<Set<string>> => {
    try {
      const list = await client.request<{ resources?: { name?: string }[] }>(
        "GET",
        `/apis/${GROUP}/${version}`,
      );
      return new Set((list.resources ?? []).map((r) => r.name ?? ""));
    } catch (err) {
      log.warn(`cannot discover ${GROUP}/${version}`, { err });
      return new Set();
    }
  };
  const [v1, v1beta1] = await Promise.all([served("v1"), served("v1beta1")]);
  return Object.fromEntries(
    plurals.map((p) => [p, !v1.has(p) && v1beta1.has(p) ? "v1beta1" : "v1"]),
  ) as Record<Plural, Version>;
}

function serve(handler: http.RequestListener, at: { host: string; port: number }): Promise<http.Server> {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

/** Verifies a forwarder webhook and takes its events; answers with the HTTP status to send. */
async function receiveWebhook(
  req: http.IncomingMessage,
  secret: string,
  replays: ReplayCache,
  changed: (event: Pick<VaultChangeEvent, "namespace" | "mount" | "path">) => number,
  metrics: PullerMetrics,
  log: Logger,
): Promise<number> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_WEBHOOK_BODY) return 413;
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  const verdict = verifyWebhook({ secret, body, headers: req.headers, replayCache: replays });
  if (!verdict.ok) {
    metrics.vaultEvents.inc({ outcome: "rejected" });
    log.warn("webhook refused", { reason: verdict.reason });
    return 401;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return 400;
  }
  const events = isObject(parsed) && Array.isArray(parsed.events) ? parsed.events : undefined;
  if (!events) return 400;
  for (const e of events) {
    if (isObject(e) && typeof e.mount === "string" && typeof e.path === "string") {
      changed({
        namespace: typeof e.namespace === "string" ? e.namespace : "",
        mount: e.mount,
        path: e.path,
      });
    } else {
      metrics.vaultEvents.inc({ outcome: "skipped" });
    }
  }
  return 204;
}
