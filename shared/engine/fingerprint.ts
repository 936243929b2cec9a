/**
 * Fingerprints: keyed HMAC-SHA256, never a plain hash, so a fingerprint stored next to a secret
 * (tags, labels, annotations) tells nothing about the value to someone without the key.
 *
 * What is fingerprinted is the *input* of a push, not the rendered bytes (see plan.ts for the
 * full trade-off): for each Vault source its path, KV v2 version and that version's
 * created_time; the rendering spec (secretKey, property, template text, conversion); the
 * metadata; and, for KV v1 sources that have no versions, a keyed digest of the source data.
 * A KV v2 version never changes once written, so any change of the value changes the
 * fingerprint, and with it the idempotency token (apply.ts says which token each push carries).
 *
 * The key comes from configuration: env PUSHSYNC_FINGERPRINT_KEY (the key itself) or
 * PUSHSYNC_FINGERPRINT_KEY_FILE (a file holding it). Changing the key changes every
 * fingerprint, so the next reconcile rewrites every secret once.
 */
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { PushsyncError } from "../errors/index.ts";

export const FINGERPRINT_KEY_ENV = "PUSHSYNC_FINGERPRINT_KEY";
export const FINGERPRINT_KEY_FILE_ENV = "PUSHSYNC_FINGERPRINT_KEY_FILE";
const MIN_KEY_LENGTH = 16;
/** Used only when the caller asks for it explicitly (the local development stack). */
const DEVELOPMENT_KEY = "pushsync-local-development-fingerprint-key";

/**
 * Loads the fingerprint key. A missing or short key is an error, except with `development: true`
 * (the local stack), which falls back to a fixed, well-known key.
 */
export function loadFingerprintKey(
  env: NodeJS.ProcessEnv = process.env,
  options: { development?: boolean } = {},
): Buffer {
  let key = env[FINGERPRINT_KEY_ENV];
  const file = env[FINGERPRINT_KEY_FILE_ENV];
  if (!key && file) {
    try {
      key = readFileSync(file, "utf8").trim();
    } catch (err) {
      throw new PushsyncError(
        "Invalid",
        `cannot read the fingerprint key file ${file} (${FINGERPRINT_KEY_FILE_ENV})`,
        false,
        undefined,
        {
          cause: err,
        },
      );
    }
  }
  if (!key) {
    if (options.development) return Buffer.from(DEVELOPMENT_KEY);
    throw new PushsyncError(
      "Invalid",
      `no fingerprint key: set ${FINGERPRINT_KEY_ENV} or ${FINGERPRINT_KEY_FILE_ENV}`,
    );
  }
  if (key.length < MIN_KEY_LENGTH) {
    throw new PushsyncError("Invalid", `the fingerprint key is shorter than ${MIN_KEY_LENGTH} characters`);
  }
  return Buffer.from(key);
}

/** JSON with object keys sorted at every level, so equal inputs give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const obj = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(obj)
        .sort()
        .map((k) => [k, obj[k]]),
    );
  });
}

function hmac(key: Buffer, domain: string, text: string): string {
  return createHmac("sha256", key).update(domain).update("\n").update(text).digest("hex");
}

/** Fingerprint (64 hex digits) of a push's inputs. */
export function fingerprint(key: Buffer, inputs: unknown): string {
  return hmac(key, "pushsync/fingerprint/v1", canonicalJson(inputs));
}

/** Keyed digest of source data, for sources that have no version to fingerprint (KV v1). */
export function dataDigest(key: Buffer, data: unknown): string {
  return hmac(key, "pushsync/data/v1", canonicalJson(data));
}

/**
 * Idempotency token derived from a fingerprint: its first 32 hex digits in UUID layout (36
 * characters, within AWS ClientRequestToken's 32-64). The same push always carries the same
 * token; a changed value carries a new one.
 */
export function idempotencyToken(fp: string): string {
  return [fp.slice(0, 8), fp.slice(8, 12), fp.slice(12, 16), fp.slice(16, 20), fp.slice(20, 32)].join("-");
}

export function shortFingerprint(fp: string): string {
  return fp.slice(0, 12);
}
