/**
 * How pushsync marks the GCP secrets it writes.
 *
 * Label    managed-by=pushsync                 ownership; filterable (`labels.managed-by:*`)
 * Annotations (free-form, returned by ListSecrets, so the state of every secret is known from a list):
 *   pushsync-fingerprint     keyed HMAC of the value and metadata
 *   pushsync-vault-path      Vault "mount/path" the value came from
 *   pushsync-vault-version   KV v2 version
 *   pushsync-secret-version  the GCP version number pushsync added with that value
 *   pushsync-versions        GCP versions pushsync added and has not destroyed yet, oldest first
 *                            ("4,5"): version retention destroys these and never anyone else's
 *
 * Each push sets labels and annotations to exactly the PushSecret's plus pushsync's own: the
 * secret is pushsync's, so labels or annotations others added are replaced.
 *
 * The annotations are written only after the version they name exists, in one UpdateSecret, so they
 * never claim a version that is not there. GCP has no "latest version" field on a secret: a version
 * added by someone else does not change the annotations, so `pushsync-secret-version` tells what
 * pushsync last wrote, and only a GetSecretVersion(latest) (as `describe` does) tells whether it is
 * still the latest.
 */
import { ProviderError } from "../../errors/index.ts";
import { MANAGED_BY_KEY, MANAGED_BY_PUSHSYNC, type PushMarker } from "../types.ts";

const PREFIX = "pushsync-";
export const ANNOTATIONS = {
  fingerprint: `${PREFIX}fingerprint`,
  vaultPath: `${PREFIX}vault-path`,
  vaultVersion: `${PREFIX}vault-version`,
  secretVersion: `${PREFIX}secret-version`,
  versions: `${PREFIX}versions`,
} as const;

export interface RecordedPush {
  marker?: PushMarker;
  /** GCP version number the marker describes. */
  secretVersion?: number;
  /** GCP versions pushsync added and still keeps, oldest first. */
  ownVersions: number[];
}

/** What pushsync recorded on a secret, from its annotations. */
export function readRecordedPush(annotations: Record<string, string>): RecordedPush {
  const fingerprint = annotations[ANNOTATIONS.fingerprint];
  const vaultPath = annotations[ANNOTATIONS.vaultPath];
  const vaultVersion = Number(annotations[ANNOTATIONS.vaultVersion]);
  const secretVersion = Number(annotations[ANNOTATIONS.secretVersion]);
  const ownVersions = (annotations[ANNOTATIONS.versions] ?? "")
    .split(",")
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
  const complete = fingerprint && vaultPath !== undefined && Number.isInteger(vaultVersion);
  return {
    ...(complete ? { marker: { fingerprint, vaultPath, vaultVersion } } : {}),
    ...(Number.isInteger(secretVersion) && secretVersion > 0 ? { secretVersion } : {}),
    ownVersions,
  };
}

/** Annotations recording a push of `secretVersion`, plus the user's own annotations. */
export function pushAnnotations(
  user: Record<string, string>,
  marker: PushMarker,
  secretVersion: number,
  ownVersions: number[],
): Record<string, string> {
  return {
    ...user,
    [ANNOTATIONS.fingerprint]: marker.fingerprint,
    [ANNOTATIONS.vaultPath]: marker.vaultPath,
    [ANNOTATIONS.vaultVersion]: String(marker.vaultVersion),
    [ANNOTATIONS.secretVersion]: String(secretVersion),
    [ANNOTATIONS.versions]: ownVersions.join(","),
  };
}

/** Labels pushsync writes: the PushSecret's labels and the managed-by label. */
export function pushLabels(key: string, labels: Record<string, string> = {}): Record<string, string> {
  if (MANAGED_BY_KEY in labels) {
    throw new ProviderError(
      "Invalid",
      `GCP key '${key}': label '${MANAGED_BY_KEY}' is set by pushsync, not the manifest`,
    );
  }
  return { ...labels, [MANAGED_BY_KEY]: MANAGED_BY_PUSHSYNC };
}

/** The PushSecret's annotations, refusing keys in pushsync's own namespace. */
export function userAnnotations(
  key: string,
  annotations: Record<string, string> = {},
): Record<string, string> {
  const reserved = Object.keys(annotations).find((k) => k.startsWith(PREFIX));
  if (reserved) {
    throw new ProviderError(
      "Invalid",
      `GCP key '${key}': annotation '${reserved}' is reserved for pushsync (prefix '${PREFIX}')`,
    );
  }
  return annotations;
}

/** Labels on a secret other than pushsync's own (RemoteSecretState.tags). */
export function foreignLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([k]) => k !== MANAGED_BY_KEY));
}
