/**
 * The pull side of `pushsync dev`: the example of examples/cluster/ applied to the local
 * Kubernetes API at start (created, or replaced when it exists), and the puller
 * (functions/cluster, `pushsync pull`) running in this process, subscribed to the local Vault's
 * event stream, so that a Vault write reaches the ExternalSecrets' target Secrets within a second.
 *
 * Every Vault SecretStore and ClusterSecretStore of the example is pointed at the running local
 * Vault, and every Secret named by a Vault store's tokenSecretRef carries its root token, whatever
 * the files say: the files name the default port and the default token.
 *
 * Each ExternalSecret is a row of the table (store "kubernetes", remote key "namespace/target"):
 * its state is its Ready condition ("synced", else "error: <reason>"), and when its target
 * Secret's data changes, the latency from the newest Vault write of the paths it reads.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { Informer } from "../../../functions/cluster/informer.ts";
import { isConflict, KubeClient, type KubeObject } from "../../../functions/cluster/kube.ts";
import { startPuller } from "../../../functions/cluster/puller.ts";
import {
  MANAGED_LABEL,
  type ExternalSecretObject,
  type KubeSecret,
} from "../../../functions/cluster/secret.ts";
import type { WatchedPath } from "../../../shared/events/index-paths.ts";
import { watchFromManifests } from "../../../shared/forwarder/watch.ts";
import type { Logger } from "../../../shared/observability/logger.ts";
import { loadManifests, type ManifestSet } from "../../../shared/spec/index.ts";
import type { PushOutcome } from "./pipeline.ts";

const STORE_KINDS = new Set(["SecretStore", "ClusterSecretStore"]);
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterSecretStore"]);

export interface ClusterExample {
  dir: string;
  /** The example's documents, as read. */
  objects: KubeObject[];
  /**
   * "namespace/name" of each ExternalSecret → its target Secret ("namespace/name") and the Vault
   * locations ("mount/path") it reads.
   */
  externalSecrets: Map<string, { target: string; reads: string[] }>;
  /** What the forwarder should watch too, so that the writes' times are known. */
  paths: WatchedPath[];
}

/** Reads the example's YAML files (*.yaml, *.yml) and what its ExternalSecrets read from Vault. */
export async function loadClusterExample(dir: string): Promise<ClusterExample> {
  const loaded = await loadManifests([dir]);
  if (loaded.errors.length > 0)
    throw new Error(`${dir}: ${loaded.errors.length} manifest error(s), first: ${loaded.errors[0]!.message}`);
  const objects: KubeObject[] = [];
  for (const file of loaded.manifests.files) {
    for (const doc of parseAllDocuments(await readFile(file, "utf8"))) {
      const object = doc.toJS() as KubeObject | null;
      if (object) objects.push(object);
    }
  }
  const externalSecrets: ClusterExample["externalSecrets"] = new Map();
  for (const es of loaded.manifests.externalSecrets) {
    const one: ManifestSet = { ...loaded.manifests, pushSecrets: [], externalSecrets: [es] };
    const reads = [
      ...new Set(watchFromManifests(one).paths.flatMap((p) => (p.path ? [`${p.mount}/${p.path}`] : []))),
    ];
    const namespace = es.metadata.namespace ?? "default";
    externalSecrets.set(`${namespace}/${es.metadata.name}`, {
      target: `${namespace}/${es.spec.target?.name ?? es.metadata.name}`,
      reads,
    });
  }
  return { dir, objects, externalSecrets, paths: watchFromManifests(loaded.manifests).paths };
}

export interface PullerExampleOptions {
  example: ClusterExample;
  kubeconfig: string;
  vault: { address: string; token: string };
  hashKey: Buffer;
  logger: Logger;
  /** The newest Vault write to "mount/path" seen, with its audit time. */
  lastWrite(location: string): { version?: number; at: number } | undefined;
  onOutcome(outcome: PushOutcome): void;
}

/** Applies the example and starts the puller; resolves once it has been applied. */
export async function startPullerExample(options: PullerExampleOptions): Promise<{ close(): Promise<void> }> {
  const { example, logger: log } = options;
  const client = KubeClient.load(options.kubeconfig);
  const closers: (() => Promise<void>)[] = [async () => client.close()];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse())
      await c().catch((err: unknown) => log.warn("stopping: a step failed", { err }));
  };
  try {
    for (const object of localized(example.objects, options.vault)) await apply(client, object);

    // When each example ExternalSecret's target Secret last changed.
    const lastChange = new Map<string, number>();
    const report = (key: string, changed: boolean): void => {
      const known = example.externalSecrets.get(key);
      const ready = externalSecrets.get(key)?.status?.conditions?.find((c) => c.type === "Ready");
      if (!known || !ready) return;
      const { target, reads } = known;
      const writes = reads.map((r) => options.lastWrite(r));
      const newest = Math.max(...writes.map((w) => w?.at ?? -Infinity));
      const at = Date.now();
      // A change after a write seen since the previous change: its latency.
      const latencyMs = changed && newest > (lastChange.get(key) ?? -Infinity) ? at - newest : undefined;
      if (changed) lastChange.set(key, at);
      options.onOutcome({
        function: "puller",
        store: "kubernetes",
        remoteKey: target,
        outcome: ready.status === "True" ? (changed ? "updated" : "unchanged") : "error",
        state: ready.status === "True" ? "synced" : `error: ${ready.reason ?? "unknown"}`,
        vault: reads.map((r, i) => `${r}@${writes[i]?.version ?? "-"}`).join(","),
        at,
        ...(latencyMs !== undefined ? { latencyMs } : {}),
      });
    };
    const externalSecrets = new Informer<ExternalSecretObject>(client, {
      path: "/apis/external-secrets.io/v1/externalsecrets",
    });
    const secrets = new Informer<KubeSecret>(client, {
      path: "/api/v1/secrets",
      labelSelector: `${MANAGED_LABEL}=true`,
    });
    externalSecrets.on((event, es) => {
      if (event !== "delete") report(`${es.metadata.namespace}/${es.metadata.name}`, false);
    });
    secrets.on((event, secret, old) => {
      if (event === "delete" || JSON.stringify(secret.data) === JSON.stringify(old?.data)) return;
      const target = `${secret.metadata.namespace}/${secret.metadata.name}`;
      for (const [key, es] of example.externalSecrets) if (es.target === target) report(key, true);
    });
    externalSecrets.start();
    secrets.start();
    closers.push(async () => void (await Promise.all([externalSecrets.close(), secrets.close()])));

    const puller = await startPuller({
      client,
      leaseNamespace: "default",
      hashKey: options.hashKey,
      vaultEvents: options.vault,
      logger: log.child({ component: "puller" }),
    });
    closers.push(() => puller.close());
    return { close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The example's objects with every Vault store on the local Vault and its token Secrets holding its token. */
function localized(objects: KubeObject[], vault: { address: string; token: string }): KubeObject[] {
  const tokenSecrets = new Set<string>();
  const out = objects.map((object) => {
    const spec = (object as { spec?: { provider?: { vault?: Record<string, unknown> } } }).spec;
    const provider = spec?.provider?.vault;
    if (!STORE_KINDS.has(object.kind ?? "") || !provider) return object;
    const ref = (provider.auth as { tokenSecretRef?: { name: string; namespace?: string } } | undefined)
      ?.tokenSecretRef;
    if (ref) tokenSecrets.add(`${ref.namespace ?? object.metadata.namespace}/${ref.name}`);
    return { ...object, spec: { ...spec, provider: { vault: { ...provider, server: vault.address } } } };
  });
  return out.map((object) =>
    object.kind === "Secret" && tokenSecrets.has(`${object.metadata.namespace}/${object.metadata.name}`)
      ? { ...object, stringData: undefined, data: { token: Buffer.from(vault.token).toString("base64") } }
      : object,
  );
}

/** Creates the object, or replaces it when it exists (Namespaces are left as they are). */
async function apply(client: KubeClient, object: KubeObject): Promise<void> {
  const kind = object.kind ?? "";
  const base = object.apiVersion === "v1" ? "/api/v1" : `/apis/${object.apiVersion}`;
  const scope = CLUSTER_SCOPED.has(kind) ? "" : `/namespaces/${object.metadata.namespace ?? "default"}`;
  const collection = `${base}${scope}/${kind.toLowerCase()}s`;
  try {
    await client.request("POST", collection, { body: object });
  } catch (err) {
    if (!isConflict(err)) throw new Error(`${kind} ${object.metadata.name}: ${(err as Error).message}`);
    if (kind === "Namespace") return;
    const at = `${collection}/${object.metadata.name}`;
    const current = await client.request<KubeObject>("GET", at);
    const replaced = {
      ...object,
      metadata: { ...object.metadata, resourceVersion: current.metadata.resourceVersion },
    };
    await client.request("PUT", at, { body: replaced });
  }
}

export const CLUSTER_EXAMPLE_DIR = path.join("examples", "cluster");
