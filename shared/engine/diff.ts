/**
 * What to do with one remote secret, decided from its desired fingerprint and its current state
 * (from listManaged() or describe(); never from its value). The rules, in order:
 *
 * 1. Every Vault source deleted: nothing to do if the remote secret is absent; a remote secret not
 *    managed by pushsync is left alone; deletionPolicy Delete (all entries) removes it (property
 *    entries remove their properties), None keeps it.
 * 2. updatePolicy IfNotExists and the remote secret exists: skipped.
 * 3. Ownership: a remote secret without the pushsync marker is never written, unless the entries
 *    opt in to adoption and it is unmarked or marked by ESO.
 * 4. Never backwards: the destination records a newer version of the same Vault path: skipped.
 * 5. Same fingerprint, the store says its current value is the marked one, and the secret still
 *    carries every tag (GCP: label) the PushSecret sets, with its value: unchanged. One of them
 *    changed or removed behind pushsync's back is written back, as a changed value is; the listing
 *    shows tags, so seeing it costs no call. Tags added by others (cost allocation, automation) do
 *    not start a write, so pushsync never fights them on every reconcile; a push replaces them.
 * 6. Otherwise write (restoring a secret pending deletion first).
 */
import { MANAGED_BY_ESO, MANAGED_BY_PUSHSYNC } from "../providers/types.ts";
import type { RemoteSecretState } from "../providers/types.ts";
import type { EntryError } from "./types.ts";

export type Decision =
  /** `reason` says what drifted when the inputs did not change (shown by plan and in the report). */
  | { kind: "write"; restore: boolean; reason?: string }
  | { kind: "delete" }
  | { kind: "none"; outcome: "unchanged" | "skipped" | "error"; reason?: string; error?: EntryError };

export interface DiffInput {
  store: string;
  remoteKey: string;
  current: RemoteSecretState | undefined;
  fingerprint: string;
  /** The entries set properties of a JSON object rather than the whole value. */
  byProperty: boolean;
  /** No entry has a live Vault source any more. */
  sourcesDeleted: boolean;
  /** Whole value: every entry has deletionPolicy Delete. Properties: some deleted entry has. */
  deleteWhenGone: boolean;
  ifNotExists: boolean;
  adopt: boolean;
  /** The user tags (GCP: labels) the PushSecret sets. */
  tags: Record<string, string>;
  /** The Vault source recorded in the marker: path and the version this push carries. */
  primary?: { path: string; version: number };
}

export function decide(d: DiffInput): Decision {
  const { current } = d;
  const exists = current !== undefined && !current.pendingDeletion;
  const owned = current?.managedBy === MANAGED_BY_PUSHSYNC;
  const upToDate = owned && current?.marker?.fingerprint === d.fingerprint && current.currentIsMarked;

  if (d.sourcesDeleted) {
    if (!exists)
      return { kind: "none", outcome: "unchanged", reason: "Vault source deleted; remote secret absent" };
    if (!owned) return skip("Vault source deleted; remote secret is not managed by pushsync");
    if (!d.deleteWhenGone) return skip("Vault source deleted; deletionPolicy None keeps the remote secret");
    // Property targets remove their properties with a read-modify-write (the secret goes when
    // nothing is left); a fingerprint match means that was done and other properties remain.
    if (upToDate) return { kind: "none", outcome: "unchanged" };
    return d.byProperty ? { kind: "write", restore: false } : { kind: "delete" };
  }
  if (exists && d.ifNotExists) return skip("remote secret exists and updatePolicy is IfNotExists");
  if (current && !owned) {
    const adoptable = d.adopt && (current.managedBy === undefined || current.managedBy === MANAGED_BY_ESO);
    if (!adoptable) {
      const by = current.managedBy ? ` (managed-by: ${current.managedBy})` : "";
      return {
        kind: "none",
        outcome: "error",
        error: {
          code: "NotOwned",
          message: `remote secret "${d.remoteKey}" in store ${d.store} exists and is not managed by pushsync${by}`,
          retryable: false,
        },
      };
    }
  }
  const marker = current?.marker;
  if (marker && d.primary && marker.vaultPath === d.primary.path && marker.vaultVersion > d.primary.version) {
    return skip(
      `destination records ${marker.vaultPath}@${marker.vaultVersion}, newer than version ${d.primary.version}`,
    );
  }
  const restore = current?.pendingDeletion ?? false;
  if (upToDate && !restore) {
    if (carriesAll(current.tags, d.tags)) return { kind: "none", outcome: "unchanged" };
    return { kind: "write", restore, reason: TAGS_DRIFTED };
  }
  const sameInputs = owned && current?.marker?.fingerprint === d.fingerprint && !restore;
  return { kind: "write", restore, ...(sameInputs ? { reason: VALUE_DRIFTED } : {}) };
}

function carriesAll(current: Record<string, string>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => current[k] === v);
}

export const VALUE_DRIFTED = "value changed outside pushsync";
export const TAGS_DRIFTED = "tags changed outside pushsync";

const skip = (reason: string): Decision => ({ kind: "none", outcome: "skipped", reason });
