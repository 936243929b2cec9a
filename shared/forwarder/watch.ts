/**
 * What the forwarder watches, from the manifests: every Vault location that a PushSecret (its
 * Vault path, or the keys of the ExternalSecret it pushes) or any ExternalSecret reads.
 *
 *   remoteRef.key, dataFrom.extract.key    an exact path (normalised as everywhere, vault-path.ts)
 *   dataFrom.find.path                     a prefix: "<path>/", as ESO lists below it
 *   dataFrom.find without path             the whole mount
 *
 * As in ESO, a find path is relative to the store's mount; when the store has no `path`, the
 * find path starts with the mount (then "data/" on KV v2). The Vault namespace is the store's
 * `namespace` (root when absent). The mount table gives the audit parser each watched mount's KV
 * version (from the stores' `version`), keyed as seen from the root namespace ("team-a/kv").
 */
import type { WatchedPath } from "../events/index-paths.ts";
import { trimSlashes } from "../events/types.ts";
import {
  describeResource,
  findStores,
  normalizeVaultPath,
  resolvePushSecrets,
  type ManifestSet,
  type SecretStore,
} from "../spec/index.ts";

export interface WatchSet {
  paths: WatchedPath[];
  /** KV mount ("team-a/kv" inside a namespace) → KV version. */
  mounts: Record<string, 1 | 2>;
  /** Locations that could not be watched, and stores that disagree on a mount's version. */
  warnings: string[];
}

export function watchFromManifests(set: ManifestSet): WatchSet {
  const watch: WatchSet = { paths: [], mounts: {}, warnings: [] };

  const add = (store: SecretStore, where: { mount: string; path?: string; prefix?: string }): void => {
    const vault = store.spec.provider.vault!;
    const namespace = trimSlashes(vault.namespace ?? "");
    watch.paths.push({ namespace, ...where });
    const key = namespace ? `${namespace}/${where.mount}` : where.mount;
    const version = vault.version === "v1" ? 1 : 2;
    const known = watch.mounts[key];
    if (known === undefined) watch.mounts[key] = version;
    else if (known !== version) {
      watch.warnings.push(
        `${describeResource(store)}: mount ${key} is KV v${version} here but v${known} in another store; reading it as v${known}`,
      );
    }
  };

  for (const push of resolvePushSecrets(set).pushes) {
    for (const loc of push.source.locations) add(push.source.store, loc);
  }

  for (const es of set.externalSecrets) {
    const store = findStores(set, es.spec.secretStoreRef, es.metadata.namespace)[0];
    if (store?.providerKind !== "vault") continue;
    const keys = [
      ...(es.spec.data ?? []).map((d) => d.remoteRef.key),
      ...(es.spec.dataFrom ?? []).flatMap((d) => (d.extract ? [d.extract.key] : [])),
    ];
    for (const key of keys) add(store, normalizeVaultPath(store, key));
    for (const d of es.spec.dataFrom ?? []) {
      if (!d.find) continue;
      const found = findLocation(store, d.find.path);
      if (typeof found === "string") watch.warnings.push(`${describeResource(es)}: ${found}`);
      else add(store, found);
    }
  }
  return watch;
}

/**
 * The Vault locations read by the PushSecrets that push to at least one of `stores` (ids as in
 * PUSHSYNC_STORES: "namespace/name", or "name" for a ClusterSecretStore): what a webhook endpoint
 * serving only those stores needs. ExternalSecrets push to no store and are left out.
 */
export function pathsForStores(set: ManifestSet, stores: ReadonlySet<string>): WatchedPath[] {
  return resolvePushSecrets(set)
    .pushes.filter((push) => push.destinations.some((d) => stores.has(d.id)))
    .flatMap((push) => {
      const namespace = trimSlashes(push.source.store.spec.provider.vault!.namespace ?? "");
      return push.source.locations.map((loc) => ({ namespace, mount: loc.mount, path: loc.path }));
    });
}

/** Where a `dataFrom.find` searches: a mount and a prefix in it ("" for the whole mount). */
export function findLocation(
  store: SecretStore,
  findPath: string | undefined,
): { mount: string; prefix: string } | string {
  const vault = store.spec.provider.vault!;
  const v2 = vault.version !== "v1";
  const path = trimSlashes(findPath ?? "");
  const storeMount = trimSlashes(vault.path ?? "")
    .split("/")
    .filter((s) => s !== "");
  if (v2 && storeMount.length > 1 && storeMount[storeMount.length - 1] === "data") storeMount.pop();
  if (storeMount.length > 0) return { mount: storeMount.join("/"), prefix: path ? `${path}/` : "" };

  const segments = path.split("/").filter((s) => s !== "");
  const mount = segments.shift();
  if (mount === undefined)
    return "dataFrom.find needs a path starting with the mount when the store has no path";
  if (v2 && segments[0] === "data") segments.shift();
  return { mount, prefix: segments.length > 0 ? `${segments.join("/")}/` : "" };
}
