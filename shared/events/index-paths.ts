/**
 * Which Vault secrets anyone reads: events for other paths are dropped before they are queued.
 *
 * Built from a plain list (one entry per PushSecret/ExternalSecret source): an exact `path`
 * (`remoteRef.key`), a `prefix` (`dataFrom.find.path`), or neither for a whole mount. A prefix
 * is a plain string prefix: "team/" matches "team/db" only, "team" also matches "teamwork/db"
 * (an extra event is harmless, a missed one is not).
 *
 * Per namespace and mount: a Set of exact paths and a sorted, prefix-free array of prefixes.
 * In a prefix-free sorted array, the only prefix that can match a path is the greatest one
 * that sorts at or before it, so a lookup is one hash probe plus one binary search.
 */
import type { VaultChangeEvent } from "./types.ts";
import { secretKey, trimSlashes } from "./types.ts";

export interface WatchedPath {
  /** Vault namespace; omitted or "" for root. */
  namespace?: string;
  mount: string;
  path?: string;
  prefix?: string;
}

interface MountIndex {
  exact: Set<string>;
  /** Sorted; no element is a prefix of another. An empty string means the whole mount. */
  prefixes: string[];
}

export class PathIndex {
  private readonly mounts = new Map<string, MountIndex>();

  constructor(entries: readonly WatchedPath[]) {
    const prefixes = new Map<string, string[]>();
    for (const e of entries) {
      const key = secretKey(trimSlashes(e.namespace ?? ""), trimSlashes(e.mount), "");
      const idx = this.mounts.get(key) ?? { exact: new Set<string>(), prefixes: [] };
      this.mounts.set(key, idx);
      if (e.path !== undefined && trimSlashes(e.path) !== "") idx.exact.add(trimSlashes(e.path));
      else {
        const list = prefixes.get(key) ?? [];
        list.push((e.prefix ?? "").replace(/^\/+/, ""));
        prefixes.set(key, list);
      }
    }
    for (const [key, list] of prefixes) this.mounts.get(key)!.prefixes = prefixFree(list);
  }

  matches(event: Pick<VaultChangeEvent, "namespace" | "mount" | "path">): boolean {
    const idx = this.mounts.get(secretKey(event.namespace, event.mount, ""));
    if (!idx) return false;
    if (idx.exact.has(event.path)) return true;
    const p = greatestAtOrBefore(idx.prefixes, event.path);
    return p !== undefined && event.path.startsWith(p);
  }
}

function prefixFree(list: string[]): string[] {
  const sorted = [...new Set(list)].sort(compare);
  const out: string[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last === undefined || !p.startsWith(last)) out.push(p);
  }
  return out;
}

function greatestAtOrBefore(sorted: string[], s: string): string | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  let found: string | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid]!;
    if (compare(v, s) <= 0) {
      found = v;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Code-unit order, the order in which a string's prefixes sort before it. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
