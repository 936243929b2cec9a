/**
 * Which ExternalSecrets read a Vault location: the index that turns a change notification into
 * work queue keys. Each ExternalSecret's locations are what the forwarder would watch for it
 * (shared/forwarder/watch.ts): exact paths for remoteRef / extract keys, a prefix for each
 * dataFrom.find (the whole mount when it has no path). Vault namespaces are part of the key;
 * Vault servers are not (an extra refresh is harmless, a missed one is not).
 *
 * Per namespace and mount, exact paths are a map lookup; prefixes are scanned (a mount holds
 * few find prefixes).
 */
import type { WatchedPath } from "../../shared/events/index-paths.ts";
import { secretKey, trimSlashes, type VaultChangeEvent } from "../../shared/events/types.ts";

interface MountEntries {
  exact: Map<string, Set<string>>;
  prefixes: Map<string, Set<string>>;
}

export class LocationIndex {
  private readonly mounts = new Map<string, MountEntries>();
  private readonly byKey = new Map<string, WatchedPath[]>();

  /** Replaces what `key` reads. */
  set(key: string, paths: WatchedPath[]): void {
    this.remove(key);
    if (paths.length === 0) return;
    this.byKey.set(key, paths);
    for (const p of paths) {
      const m = this.mount(p, true)!;
      const [map, at] =
        p.path !== undefined && trimSlashes(p.path) !== ""
          ? [m.exact, trimSlashes(p.path)]
          : [m.prefixes, (p.prefix ?? "").replace(/^\/+/, "")];
      let keys = map.get(at);
      if (!keys) map.set(at, (keys = new Set()));
      keys.add(key);
    }
  }

  remove(key: string): void {
    for (const p of this.byKey.get(key) ?? []) {
      const m = this.mount(p, false);
      if (!m) continue;
      for (const map of [m.exact, m.prefixes]) {
        for (const [at, keys] of map) {
          keys.delete(key);
          if (keys.size === 0) map.delete(at);
        }
      }
    }
    this.byKey.delete(key);
  }

  /** Keys of every ExternalSecret reading the changed secret. */
  lookup(event: Pick<VaultChangeEvent, "namespace" | "mount" | "path">): Set<string> {
    const out = new Set<string>();
    const m = this.mounts.get(secretKey(event.namespace, event.mount, ""));
    if (!m) return out;
    for (const k of m.exact.get(event.path) ?? []) out.add(k);
    for (const [prefix, keys] of m.prefixes) {
      if (event.path.startsWith(prefix)) for (const k of keys) out.add(k);
    }
    return out;
  }

  /** Every key with at least one Vault location. */
  keys(): string[] {
    return [...this.byKey.keys()];
  }

  private mount(p: WatchedPath, create: boolean): MountEntries | undefined {
    const id = secretKey(trimSlashes(p.namespace ?? ""), trimSlashes(p.mount), "");
    let m = this.mounts.get(id);
    if (!m && create) this.mounts.set(id, (m = { exact: new Map(), prefixes: new Map() }));
    return m;
  }
}
