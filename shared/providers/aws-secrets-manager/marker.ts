/**
 * pushsync's marker on an AWS secret, kept in tags:
 *   managed-by                 "pushsync" (ESO writes "external-secrets")
 *   pushsync.io/vault-path     Vault "mount/path" the value came from
 *   pushsync.io/vault-version  its KV version
 *   pushsync.io/fingerprint    keyed HMAC of what was pushed
 *   pushsync.io/version-id     the VersionId (= ClientRequestToken) of the version pushed with it
 *
 * The version id makes `currentIsMarked` a metadata-only check: AWSCURRENT is the version we
 * pushed with this marker exactly when its VersionId is the one recorded here. It is recorded
 * rather than recomputed from the fingerprint so that this check never depends on how the
 * engine derives its tokens.
 *
 * AWS tag values allow letters, digits, spaces and _.:/=+-@ up to 256 characters; a value
 * outside that set (a Vault path with other characters) is stored as "base64:" + base64.
 */
import { ProviderError } from "../../errors/index.ts";
import { MANAGED_BY_KEY, MANAGED_BY_PUSHSYNC, type PushMarker } from "../types.ts";

const OWN_PREFIX = "pushsync.io/";
export const TAG_VAULT_PATH = `${OWN_PREFIX}vault-path`;
export const TAG_VAULT_VERSION = `${OWN_PREFIX}vault-version`;
export const TAG_FINGERPRINT = `${OWN_PREFIX}fingerprint`;
export const TAG_VERSION_ID = `${OWN_PREFIX}version-id`;
/** Tags pushsync writes on every secret (managed-by and the four above). */
export const MARKER_TAG_COUNT = 5;

const MAX_TAG_VALUE = 256;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const ENCODED = "base64:";

export interface Tag {
  Key: string;
  Value: string;
}

/** Tag keys a PushSecret may not set because the marker uses them. */
export function isMarkerTagKey(key: string): boolean {
  return key === MANAGED_BY_KEY || key.startsWith(OWN_PREFIX);
}

export function encodeTagValue(key: string, value: string): string {
  const plain = TAG_VALUE.test(value) && value.length <= MAX_TAG_VALUE && !value.startsWith(ENCODED);
  const out = plain ? value : ENCODED + Buffer.from(value, "utf8").toString("base64");
  if (out.length > MAX_TAG_VALUE)
    throw new ProviderError(
      "TooLarge",
      `tag "${key}" would need ${out.length} characters; AWS tag values hold at most ${MAX_TAG_VALUE}`,
    );
  return out;
}

export function decodeTagValue(value: string): string {
  return value.startsWith(ENCODED)
    ? Buffer.from(value.slice(ENCODED.length), "base64").toString("utf8")
    : value;
}

export function markerTags(marker: PushMarker, versionId: string): Tag[] {
  return [
    { Key: MANAGED_BY_KEY, Value: MANAGED_BY_PUSHSYNC },
    { Key: TAG_VAULT_PATH, Value: encodeTagValue(TAG_VAULT_PATH, marker.vaultPath) },
    { Key: TAG_VAULT_VERSION, Value: String(marker.vaultVersion) },
    { Key: TAG_FINGERPRINT, Value: encodeTagValue(TAG_FINGERPRINT, marker.fingerprint) },
    { Key: TAG_VERSION_ID, Value: encodeTagValue(TAG_VERSION_ID, versionId) },
  ];
}

export interface ParsedTags {
  managedBy?: string;
  /** Present when every marker tag is present and well formed. */
  marker?: PushMarker;
  /** VersionId recorded with the marker. */
  versionId?: string;
  /** Tags other than the marker's and AWS's own (see AWS_RESERVED_PREFIX). */
  userTags: Record<string, string>;
}

/**
 * Tags AWS services set (CloudFormation's aws:cloudformation:stack-name, for one). Nobody can
 * change or remove them, so they are neither the PushSecret's to compare nor pushsync's to untag.
 */
const AWS_RESERVED_PREFIX = "aws:";

export function parseTags(tags: readonly { Key?: string; Value?: string }[] = []): ParsedTags {
  const own = new Map<string, string>();
  const userTags: Record<string, string> = {};
  for (const { Key: key, Value: value = "" } of tags) {
    if (key === undefined || key.toLowerCase().startsWith(AWS_RESERVED_PREFIX)) continue;
    if (isMarkerTagKey(key)) own.set(key, value);
    else userTags[key] = value;
  }
  const managedBy = own.get(MANAGED_BY_KEY);
  const path = own.get(TAG_VAULT_PATH);
  const versionText = own.get(TAG_VAULT_VERSION) ?? "";
  const version = /^\d+$/.test(versionText) ? Number(versionText) : undefined;
  const fingerprint = own.get(TAG_FINGERPRINT);
  const versionId = own.get(TAG_VERSION_ID);
  const complete =
    path !== undefined && version !== undefined && fingerprint !== undefined && versionId !== undefined;
  return {
    ...(managedBy !== undefined ? { managedBy } : {}),
    ...(complete
      ? {
          marker: {
            vaultPath: decodeTagValue(path),
            vaultVersion: version,
            fingerprint: decodeTagValue(fingerprint),
          },
          versionId: decodeTagValue(versionId),
        }
      : {}),
    userTags,
  };
}
