/**
 * Ownership and provenance on Azure Key Vault secrets are tags, written in the same SetSecret call
 * as the value:
 *
 *   managed-by               "pushsync" (ESO writes "external-secrets" under the same name)
 *   pushsync-fingerprint     keyed HMAC of the pushed value and metadata
 *   pushsync-vault-path      "mount/path" in Vault
 *   pushsync-vault-version   KV v2 version
 *
 * Key Vault keeps tags per secret version, and the secret's listing shows those of the current
 * version. Because the value and these tags are written together, a current version carrying the
 * marker holds the value recorded in it; a value set by anyone else without copying the tags is a
 * new version without them.
 *
 * Limits (documented for secrets): 15 tags, names and values up to 512 characters. pushsync uses 4,
 * so a PushSecret may add at most 11 tags of its own.
 */
import { ProviderError } from "../../errors/index.ts";
import { MANAGED_BY_KEY, MANAGED_BY_PUSHSYNC } from "../types.ts";
import type { PushMarker } from "../types.ts";

export const MAX_TAGS = 15;
export const MAX_TAG_LENGTH = 512;

const FINGERPRINT = "pushsync-fingerprint";
const VAULT_PATH = "pushsync-vault-path";
const VAULT_VERSION = "pushsync-vault-version";
const RESERVED_PREFIX = "pushsync-";

export const MARKER_TAG_COUNT = 4;
export const MAX_USER_TAGS = MAX_TAGS - MARKER_TAG_COUNT;

const isOwnTag = (name: string) => name === MANAGED_BY_KEY || name.startsWith(RESERVED_PREFIX);

/** The full tag set for a push: the PushSecret's tags plus the marker, checked against the limits. */
export function buildTags(
  key: string,
  marker: PushMarker,
  userTags: Record<string, string> = {},
): Record<string, string> {
  for (const name of Object.keys(userTags)) {
    if (isOwnTag(name))
      throw new ProviderError(
        "Invalid",
        `remote key "${key}": tag "${name}" is reserved for pushsync (managed-by and pushsync-*)`,
      );
  }
  const tags: Record<string, string> = {
    ...userTags,
    [MANAGED_BY_KEY]: MANAGED_BY_PUSHSYNC,
    [FINGERPRINT]: marker.fingerprint,
    [VAULT_PATH]: marker.vaultPath,
    [VAULT_VERSION]: String(marker.vaultVersion),
  };
  const count = Object.keys(tags).length;
  if (count > MAX_TAGS)
    throw new ProviderError(
      "TooLarge",
      `remote key "${key}": ${count} tags, Azure Key Vault allows at most ${MAX_TAGS} per secret (${MARKER_TAG_COUNT} are pushsync's, so at most ${MAX_USER_TAGS} from the PushSecret)`,
    );
  for (const [name, value] of Object.entries(tags)) {
    if (name.length > MAX_TAG_LENGTH || value.length > MAX_TAG_LENGTH)
      throw new ProviderError(
        "TooLarge",
        `remote key "${key}": tag "${name.slice(0, 64)}" is longer than ${MAX_TAG_LENGTH} characters (name or value)`,
      );
  }
  return tags;
}

/** The marker recorded in a secret's tags, if complete. */
export function readMarker(tags: Record<string, string> = {}): PushMarker | undefined {
  const fingerprint = tags[FINGERPRINT];
  const vaultPath = tags[VAULT_PATH];
  const vaultVersion = Number(tags[VAULT_VERSION]);
  if (!fingerprint || !vaultPath || !Number.isInteger(vaultVersion)) return undefined;
  return { fingerprint, vaultPath, vaultVersion };
}

/** Tags other than pushsync's own (managed-by and pushsync-*). */
export function userTagsOf(tags: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([name]) => !isOwnTag(name)));
}
