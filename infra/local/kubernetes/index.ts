/**
 * A local Kubernetes API server: the part of the API that the pushsync puller, kubectl and
 * @kubernetes/client-node use, in memory, in-process.
 *
 *   const k8s = await startLocalKubernetes({ port: 0, kubeconfigPath: "/tmp/kubeconfig" });
 *   // KUBECONFIG=/tmp/kubeconfig kubectl get ns; new KubeConfig().loadFromFile(k8s.kubeconfigPath)
 *   await k8s.close();
 *
 * It speaks HTTPS with a certificate authority made at every start, because kubectl (client-go)
 * sends credentials only over TLS: with an http:// server it drops the token. The kubeconfig it
 * writes (cluster, user and context "pushsync-local", current-context, namespace "default")
 * carries the server URL, the CA as certificate-authority-data and the bearer token, so kubectl
 * and client-node use it as is, without flags. The default port is 8001 (the port of
 * `kubectl proxy`), away from 6443, where a real API server (Docker Desktop, k3s, kubeadm) may
 * already listen.
 *
 * Serves: /version, /healthz, /livez, /readyz; discovery (legacy and aggregated v2) and OpenAPI v3
 * (see discovery.ts); namespaces, secrets, configmaps, events (core v1), leases
 * (coordination.k8s.io/v1), customresourcedefinitions (apiextensions.k8s.io/v1), and the kinds
 * CRDs define. The External Secrets Operator CRDs are there from the start: ExternalSecret and
 * SecretStore (v1, v1beta1), ClusterSecretStore (v1, v1beta1, cluster-scoped), PushSecret
 * (v1alpha1), each with a status subresource and printer columns; applying CRDs adds or changes
 * kinds. Verbs, metadata, garbage collection and watches behave as cluster.ts and watch.ts
 * describe; errors are Status objects (errors.ts).
 *
 * What it leaves out or simplifies:
 * - Authentication is the one bearer token (401 Unauthorized otherwise; /healthz, /livez and
 *   /readyz are open); there is no RBAC: the token may do everything, and there is no
 *   authorization API (`kubectl auth can-i` gets 404).
 * - No server-side apply (application/apply-patch+yaml is 415) and no managedFields; kubectl's
 *   client-side apply works.
 * - CRD schemas are not enforced: no pruning, defaulting or validation of custom resources;
 *   fieldValidation is accepted and ignored. Versions of a CRD convert by changing apiVersion only;
 *   deprecated versions answer with a Warning header.
 * - Deleting a CRD deletes its objects at once, finalizers or not.
 * - Garbage collection runs right after the write that calls for it, not seconds later.
 * - Replies are JSON (and Tables for kubectl get). Request bodies are JSON or YAML, and protobuf
 *   only for Secrets, ConfigMaps, Namespaces and DeleteOptions (what kubectl's typed commands
 *   send, see protobuf.ts); no CBOR. No admission, no pods or other workloads.
 * - The kubeconfig stays on disk after close(); the next start overwrites it.
 *
 * Request counts and faults use the operation names listed in http.ts. Helpers for tests:
 * `compact()` forgets the change history (older resourceVersions then get 410 Expired),
 * `expireWatchHistory()` also ends every open watch with a 410 ERROR event, and `dropWatches()`
 * ends every open watch without one, as a restarting API server would.
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import { createLocalTls } from "../azure/tls.ts";
import { Faults, listen, RequestCounter } from "../common/server.ts";
import { Cluster } from "./cluster.ts";
import { expired } from "./errors.ts";
import { createHandler } from "./http.ts";
import { Watches } from "./watch.ts";

const KUBE_CONTEXT = "pushsync-local";
const DEFAULT_KUBECONFIG = path.join(".pushsync", "kubeconfig");

export interface LocalKubernetesOptions {
  host?: string;
  /** Default 8001; 0 picks a free port (tests). */
  port?: number;
  /** Where the kubeconfig is written; default .pushsync/kubeconfig. Relative paths are resolved against the working directory. */
  kubeconfigPath?: string;
  /** The bearer token clients must send; default a random one per start. */
  token?: string;
  /** How many changes are kept for watches and consistent lists; default 10000. */
  historyLimit?: number;
  /** How often watches with allowWatchBookmarks get a BOOKMARK; default 60000 ms. */
  bookmarkIntervalMs?: number;
}

export interface LocalKubernetes {
  url: string;
  host: string;
  port: number;
  token: string;
  /** Absolute path of the kubeconfig written at start. */
  kubeconfigPath: string;
  /** The CA that signed the server's certificate (also in the kubeconfig). */
  caCertPem: string;
  /** Latency and injected statuses, per operation name (see http.ts). */
  faults: Faults;
  requests: RequestCounter;
  /** The newest resourceVersion. */
  readonly resourceVersion: number;
  /** Watches currently streaming. */
  readonly openWatches: number;
  /** Forgets all change history: lists and watches at earlier resourceVersions get 410 Expired. */
  compact(): void;
  /** Compacts, and ends every open watch with an ERROR event carrying a 410 Expired Status. */
  expireWatchHistory(): void;
  /** Ends every open watch stream (clients reconnect from their last resourceVersion). */
  dropWatches(): void;
  close(): Promise<void>;
}

function kubeconfig(server: string, caCertPem: string, token: string): string {
  const ca = Buffer.from(caCertPem).toString("base64");
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: KUBE_CONTEXT, cluster: { server, "certificate-authority-data": ca } }],
    users: [{ name: KUBE_CONTEXT, user: { token } }],
    contexts: [
      { name: KUBE_CONTEXT, context: { cluster: KUBE_CONTEXT, user: KUBE_CONTEXT, namespace: "default" } },
    ],
    "current-context": KUBE_CONTEXT,
    preferences: {},
  });
}

export async function startLocalKubernetes(options: LocalKubernetesOptions = {}): Promise<LocalKubernetes> {
  const token = options.token ?? randomBytes(24).toString("base64url");
  const kubeconfigPath = path.resolve(options.kubeconfigPath ?? DEFAULT_KUBECONFIG);
  const cluster = new Cluster(options.historyLimit ?? 10_000);
  const watches = new Watches(cluster, options.bookmarkIntervalMs ?? 60_000);
  const faults = new Faults();
  const requests = new RequestCounter();
  const ctx = { cluster, watches, token, faults, requests, address: "" };
  const tls = await createLocalTls();
  const listening = await listen(createHandler(ctx), {
    host: options.host,
    port: options.port ?? 8001,
    tls: { key: tls.key, cert: tls.cert },
  });
  ctx.address = `${listening.host}:${listening.port}`;
  try {
    await mkdir(path.dirname(kubeconfigPath), { recursive: true });
    await writeFile(kubeconfigPath, kubeconfig(listening.url, tls.caCertPem, token), { mode: 0o600 });
  } catch (err) {
    await listening.close();
    throw err;
  }
  return {
    url: listening.url,
    host: listening.host,
    port: listening.port,
    token,
    kubeconfigPath,
    caCertPem: tls.caCertPem,
    faults,
    requests,
    get resourceVersion() {
      return cluster.store.resourceVersion;
    },
    get openWatches() {
      return watches.count;
    },
    compact: () => cluster.store.compact(),
    expireWatchHistory() {
      cluster.store.compact();
      const rv = cluster.store.resourceVersion;
      watches.endAll(expired(`too old resource version: ${rv} (${rv})`));
    },
    dropWatches: () => watches.endAll(),
    async close() {
      cluster.close();
      watches.endAll();
      await listening.close();
    },
  };
}
