/**
 * A local Kubernetes API server and a local Vault, a SecretStore for that Vault whose token the
 * puller reads from a Kubernetes Secret, and pullers configured to run fast (lease 2 s, renew
 * deadline 1.5 s, retry 250 ms). Objects are written over HTTP as kubectl would write them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "vitest";
import { startLocalKubernetes, type LocalKubernetes } from "../../infra/local/kubernetes/index.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { isConflict, isNotFound, KubeClient } from "../../functions/cluster/kube.ts";
import { startPuller, type Puller, type PullerOptions } from "../../functions/cluster/puller.ts";
import { createLogger } from "../../shared/observability/logger.ts";
import { until } from "../support/until.ts";

const HASH_KEY = Buffer.from("test-data-hash-key-0123456789");

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Stack {
  k8s: LocalKubernetes;
  vault: LocalVault;
  /** The test's own client (what kubectl would do). */
  kube: KubeClient;
  dir: string;
  /** Every log line of every puller started from this stack. */
  logs: string[];
  close(): Promise<void>;
}

export async function startStack(
  options: { namespaces?: string[]; vaultToken?: string } = {},
): Promise<Stack> {
  const dir = mkdtempSync(path.join(tmpdir(), "pushsync-cluster-"));
  const k8s = await startLocalKubernetes({ port: 0, kubeconfigPath: path.join(dir, "kubeconfig") });
  const vault = await startLocalVault({
    port: 0,
    ...(options.vaultToken ? { rootToken: options.vaultToken } : {}),
  });
  const kube = KubeClient.load(k8s.kubeconfigPath);
  for (const ns of options.namespaces ?? []) {
    await kube.request("POST", "/api/v1/namespaces", { body: { metadata: { name: ns } } });
  }
  await apply(kube, secretObject("default", "vault-token", { token: vault.rootToken }));
  await apply(kube, vaultStore("default", "vault", vault.url));
  const logs: string[] = [];
  return {
    k8s,
    vault,
    kube,
    dir,
    logs,
    async close() {
      kube.close();
      await k8s.close();
      await vault.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startTestPuller(stack: Stack, options: Partial<PullerOptions> = {}): Promise<Puller> {
  const identity = options.identity ?? `puller-${Math.random().toString(36).slice(2, 8)}`;
  return startPuller({
    client: KubeClient.load(stack.k8s.kubeconfigPath),
    identity,
    leaseNamespace: "default",
    leaderElection: { leaseDurationSeconds: 2, renewDeadlineMs: 1_500, retryPeriodMs: 250 },
    hashKey: HASH_KEY,
    listen: { host: "127.0.0.1", port: 0 },
    queue: { baseDelayMs: 50, maxDelayMs: 1_000 },
    logger: createLogger({ level: "debug", sink: (line) => stack.logs.push(line), base: { identity } }),
    ...options,
  });
}

function vaultStore(namespace: string, name: string, server: string): Json {
  return {
    apiVersion: "external-secrets.io/v1",
    kind: "SecretStore",
    metadata: { name, namespace },
    spec: {
      provider: {
        vault: {
          server,
          path: "secret",
          version: "v2",
          auth: { tokenSecretRef: { name: "vault-token", key: "token" } },
        },
      },
    },
  };
}

export function secretObject(
  namespace: string,
  name: string,
  data: Record<string, string>,
  extra: Json = {},
): Json {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
    ...extra,
  };
}

/** An ExternalSecret reading the "vault" store; `spec` is merged over the defaults. */
export function externalSecret(name: string, spec: Json, metadata: Json = {}): Json {
  return {
    apiVersion: "external-secrets.io/v1",
    kind: "ExternalSecret",
    metadata: { name, namespace: "default", ...metadata },
    spec: { secretStoreRef: { name: "vault", kind: "SecretStore" }, refreshInterval: "1h", ...spec },
  };
}

/** The collection path of an object (kind inferred from apiVersion/kind). */
function collection(obj: Json): string {
  const ns = obj.metadata.namespace as string | undefined;
  const [group, version] = String(obj.apiVersion).includes("/")
    ? String(obj.apiVersion).split("/")
    : ["", obj.apiVersion];
  const plural = `${String(obj.kind).toLowerCase()}s`;
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  return ns && obj.kind !== "ClusterSecretStore" ? `${base}/namespaces/${ns}/${plural}` : `${base}/${plural}`;
}

/** Creates the object, or replaces it when it exists (again after a conflict with the puller's status writes). */
export async function apply(kube: KubeClient, obj: Json): Promise<Json> {
  for (let attempt = 1; ; attempt++) {
    const current = await get(kube, obj);
    try {
      if (!current) return await kube.request("POST", collection(obj), { body: obj });
      return await kube.request("PUT", `${collection(obj)}/${obj.metadata.name}`, {
        body: { ...obj, metadata: { ...obj.metadata, resourceVersion: current.metadata.resourceVersion } },
      });
    } catch (err) {
      if (!isConflict(err) || attempt >= 5) throw err;
    }
  }
}

/** `kubectl annotate externalsecret NAME force-sync=VALUE --overwrite`, as ESO documents it. */
export function forceSync(kube: KubeClient, name: string, value = String(Date.now())): Promise<Json> {
  return mergePatch(kube, externalSecret(name, {}), { metadata: { annotations: { "force-sync": value } } });
}

export async function get(kube: KubeClient, obj: Json): Promise<Json | undefined> {
  try {
    return await kube.request("GET", `${collection(obj)}/${obj.metadata.name}`);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function remove(kube: KubeClient, obj: Json): Promise<void> {
  await kube.request("DELETE", `${collection(obj)}/${obj.metadata.name}`).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}

export async function mergePatch(kube: KubeClient, obj: Json, patch: Json): Promise<Json> {
  return kube.request("PATCH", `${collection(obj)}/${obj.metadata.name}`, {
    body: patch,
    contentType: "application/merge-patch+json",
  });
}

export function getSecret(kube: KubeClient, name: string, namespace = "default"): Promise<Json | undefined> {
  return get(kube, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace } });
}

/** The Secret's data, decoded. */
export function decoded(secret: Json): Record<string, string> {
  return Object.fromEntries(
    Object.entries((secret?.data ?? {}) as Record<string, string>).map(([k, v]) => [
      k,
      Buffer.from(v, "base64").toString("utf8"),
    ]),
  );
}

/** Waits for the Secret to exist with data for which `check` holds. */
export function secretWith(
  kube: KubeClient,
  name: string,
  check: (data: Record<string, string>, s: Json) => boolean,
  timeoutMs = 5_000,
): Promise<Json> {
  return until(
    async () => {
      const s = await getSecret(kube, name);
      return s && check(decoded(s), s) ? s : undefined;
    },
    timeoutMs,
    `Secret ${name}`,
  );
}

/** The ExternalSecret's Ready condition, once its status has one with the given reason. */
export function readyWith(kube: KubeClient, name: string, reason: string, timeoutMs = 5_000): Promise<Json> {
  return until(
    async () => {
      const es = await get(kube, externalSecret(name, {}));
      const ready = (es?.status?.conditions ?? []).find((c: Json) => c.type === "Ready");
      return ready?.reason === reason ? es : undefined;
    },
    timeoutMs,
    `ExternalSecret ${name} ${reason}`,
  );
}

/** Events about an ExternalSecret. */
export async function eventsFor(kube: KubeClient, name: string): Promise<Json[]> {
  const list = await kube.request<Json>("GET", "/api/v1/namespaces/default/events");
  return (list.items as Json[]).filter(
    (e) => e.involvedObject?.name === name && e.involvedObject?.kind === "ExternalSecret",
  );
}

export async function metricsText(puller: Puller): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${puller.port}/metrics`);
  return res.text();
}

/** The value of one sample in the text format, e.g. metric(text, 'externalsecret_sync_calls_total{name="a",namespace="default"}'). */
export function metric(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export function expectNoValue(haystack: string, ...values: string[]): void {
  for (const v of values)
    expect(haystack.includes(v), `a secret value appeared in: ${haystack.slice(0, 200)}`).toBe(false);
}

export { until };
