/**
 * From cluster objects to checked resources, and from a store to the client that reads it.
 *
 * Objects read from the cluster are checked by the manifest loader (shared/spec), as if they
 * had been written in a file, so the puller accepts exactly what `pushsync validate` accepts.
 * Results are cached per uid and resourceVersion.
 *
 * One read client per store (and, for a ClusterSecretStore, per namespace using it, since its
 * references without a namespace mean that namespace), rebuilt when the store changes:
 *   vault                     VaultReadSide over the store's VaultSource (server, namespace, CA,
 *                             auth as the store says; the environment plays no part in a cluster)
 *   aws, gcpsm, azurekv       createProvider, with the environment given to the puller
 * Secret references (tokenSecretRef, appRole.secretRef, auth.secretRef, authSecretRef, ...) are
 * read from the referenced Kubernetes Secret through the API, when the client first needs them.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { ProviderError } from "../../shared/errors/index.ts";
import { registerSecret } from "../../shared/engine/sources.ts";
import type { Logger } from "../../shared/observability/logger.ts";
import { createProvider, type CreateProviderOptions } from "../../shared/providers/index.ts";
import { readResources } from "../../shared/spec/loader.ts";
import { usableFrom } from "../../shared/spec/resolve.ts";
import type { SecretRefReader } from "../../shared/spec/secret-refs.ts";
import { resourceId, type ExternalSecret, type SecretStore } from "../../shared/spec/index.ts";
import { vaultSourceFromStore } from "../../shared/vault/from-store.ts";
import type { Informer } from "./informer.ts";
import { isNotFound, type KubeClient, type KubeObject } from "./kube.ts";
import type { KubeSecret } from "./secret.ts";
import { VaultReadSide, type ReadSide } from "./vault-reader.ts";

type Checked<T> = { resource: T; problems?: undefined } | { resource?: undefined; problems: string[] };

/** Closing a replaced client waits this long, for reads still using it. */
const CLOSE_DELAY_MS = 60_000;

const callLog = new AsyncLocalStorage<string[]>();

/**
 * Runs `run`, appending to `calls` the name of every store API call it makes, in order (read
 * clients count their calls; concurrent reconciles sharing a client each see their own).
 */
export function collectCalls<T>(calls: string[], run: () => Promise<T>): Promise<T> {
  return callLog.run(calls, run);
}

export class ResourceChecker {
  private readonly cache = new Map<string, { rv: string | undefined; result: Checked<unknown> }>();

  check<T>(obj: KubeObject, apiVersion: string, kind: string): Checked<T> {
    const id = obj.metadata.uid ?? `${kind}/${obj.metadata.namespace ?? ""}/${obj.metadata.name}`;
    const hit = this.cache.get(id);
    if (hit && hit.rv === obj.metadata.resourceVersion) return hit.result as Checked<T>;
    const origin = `${kind} ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ""}${obj.metadata.name}`;
    const read = readResources(origin, JSON.stringify({ ...obj, apiVersion, kind }));
    const result: Checked<unknown> =
      read.errors.length > 0 || read.resources.length !== 1
        ? { problems: read.errors.map((d) => (d.field ? `${d.field}: ${d.message}` : d.message)) }
        : { resource: read.resources[0]! };
    this.cache.set(id, { rv: obj.metadata.resourceVersion, result });
    return result as Checked<T>;
  }

  forget(uid: string | undefined): void {
    if (uid) this.cache.delete(uid);
  }
}

export interface StoresOptions {
  client: KubeClient;
  secretStores: Informer<KubeObject>;
  clusterSecretStores: Informer<KubeObject>;
  checker: ResourceChecker;
  /** "external-secrets.io/v1" or ".../v1beta1", per kind: the versions the informers read. */
  apiVersions: Record<"SecretStore" | "ClusterSecretStore", string>;
  /** For aws, gcpsm and azurekv stores (endpoints, credentials that win over the store's). */
  providerEnv?: Record<string, string | undefined>;
  azure?: CreateProviderOptions["azure"];
  logger: Logger;
}

export class Stores {
  private readonly readers = new Map<string, ReadSide>();

  constructor(private readonly options: StoresOptions) {}

  /** The store an ExternalSecret reads from, or why there is none it may use. */
  find(es: ExternalSecret): { store: SecretStore; object: KubeObject } | { problem: string } {
    const ref = es.spec.secretStoreRef;
    const ns = es.metadata.namespace;
    const cluster = ref.kind === "ClusterSecretStore";
    const informer = cluster ? this.options.clusterSecretStores : this.options.secretStores;
    const object = informer.get(cluster ? ref.name : `${ns}/${ref.name}`);
    if (!object)
      return { problem: `${ref.kind} "${ref.name}" not found${cluster ? "" : ` in namespace ${ns}`}` };
    const checked = this.options.checker.check<SecretStore>(
      object,
      this.options.apiVersions[ref.kind],
      ref.kind,
    );
    if (!checked.resource)
      return { problem: `${ref.kind} "${ref.name}" is invalid: ${checked.problems.join("; ")}` };
    if (!usableFrom(checked.resource, ns)) {
      return { problem: `ClusterSecretStore "${ref.name}" does not allow namespace ${ns}` };
    }
    return { store: checked.resource, object };
  }

  /** The read client for a store, as used from `namespace`. Throws for unusable store settings. */
  reader(store: SecretStore, object: KubeObject, namespace: string): ReadSide {
    const cluster = store.kind === "ClusterSecretStore";
    const key = `${this.prefix(store)}${object.metadata.resourceVersion ?? ""}#${cluster ? namespace : ""}`;
    let reader = this.readers.get(key);
    if (reader) return reader;
    this.forget(store);
    const readSecretRef = this.refReader(store, namespace);
    const logger = this.options.logger;
    if (store.providerKind === "vault") {
      // An empty environment: VAULT_ADDR, VAULT_TOKEN and friends must not replace the store's settings.
      const source = vaultSourceFromStore(store, { env: {}, namespace, readSecretRef, logger });
      reader = new VaultReadSide(source, store);
    } else {
      reader = createProvider(store, {
        env: this.options.providerEnv ?? process.env,
        logger,
        readSecretRef,
        ...(this.options.azure ? { azure: this.options.azure } : {}),
      });
    }
    reader.calls.onAdd = (name, n) => callLog.getStore()?.push(...Array<string>(n).fill(name));
    this.readers.set(key, reader);
    return reader;
  }

  /** Drops the clients of a store that changed or went away (closed once in-flight reads are done). */
  forget(store: { kind: string; metadata: { name: string; namespace: string } }): void {
    const prefix = this.prefix(store);
    for (const [key, reader] of this.readers) {
      if (!key.startsWith(prefix)) continue;
      this.readers.delete(key);
      setTimeout(() => void reader.close?.().catch(() => undefined), CLOSE_DELAY_MS).unref();
    }
  }

  async close(): Promise<void> {
    const all = [...this.readers.values()];
    this.readers.clear();
    await Promise.all(all.map((r) => r.close?.().catch(() => undefined)));
  }

  private prefix(store: { kind: string; metadata: { name: string; namespace: string } }): string {
    return `${store.kind}/${resourceId(store)}@`;
  }

  /** Reads a store's secret reference from the Secret in the cluster. */
  private refReader(store: SecretStore, usedFrom: string): SecretRefReader {
    const { client } = this.options;
    const storeId = `${store.kind} ${resourceId(store)}`;
    return async (ref, namespace) => {
      const ns = ref.namespace ?? (store.kind === "ClusterSecretStore" ? usedFrom : namespace);
      const where = `Secret ${ns}/${ref.name}`;
      if (ref.key === undefined)
        throw new ProviderError("Invalid", `${storeId}: the reference to ${where} names no key`);
      let secret: KubeSecret;
      try {
        secret = await client.request<KubeSecret>("GET", `/api/v1/namespaces/${ns}/secrets/${ref.name}`);
      } catch (err) {
        // Never NotFound: that code means "the remote secret is gone" to the reconciler.
        if (isNotFound(err))
          throw new ProviderError("Invalid", `${storeId}: ${where} (referenced by the store) does not exist`);
        throw err;
      }
      const b64 = secret.data?.[ref.key];
      if (b64 === undefined)
        throw new ProviderError("Invalid", `${storeId}: ${where} has no key "${ref.key}"`);
      const value = Buffer.from(b64, "base64").toString("utf8");
      registerSecret(value);
      return value;
    };
  }
}
