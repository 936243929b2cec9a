/**
 * Remote keys and GCP secret ids.
 *
 * A GCP secret id is 1-255 characters from [A-Za-z0-9_-]. Manifests also use path-style keys such
 * as "/prod/lambda/db-password". The rule, one line:
 *
 *   every "/" becomes "__"        "/prod/lambda/db-password" -> "__prod__lambda__db-password"
 *                                 "team/db"                  -> "team__db"
 *                                 "db-password"              -> "db-password"
 *
 * To keep the rule reversible (two different keys never name the same secret), a key is rejected
 * with InvalidName when it contains "__", or a "_" right before or after a "/", or any character
 * outside [A-Za-z0-9_/-], or maps to an id longer than 255 characters. Then every "_" of a key is
 * alone, so in an id a single "_" is the key's own and each "__" is a "/": `keyForSecretId` reads
 * the key back.
 */
import { ProviderError } from "../../errors/index.ts";

const KEY_CHARS = /^[A-Za-z0-9_/-]+$/;
const MAX_ID_LENGTH = 255;

function reject(key: string, rule: string): ProviderError {
  return new ProviderError(
    "InvalidName",
    `GCP Secret Manager: remote key '${key}' cannot be mapped to a secret id: ${rule}`,
  );
}

/** The GCP secret id for a remote key, or ProviderError("InvalidName") naming the rule it breaks. */
export function secretIdForKey(key: string): string {
  if (key === "") throw reject(key, "the key is empty");
  if (!KEY_CHARS.test(key)) throw reject(key, "only letters, digits, '-', '_' and '/' are allowed");
  if (key.includes("__")) throw reject(key, "'__' is reserved (it stands for '/')");
  if (key.includes("_/") || key.includes("/_")) throw reject(key, "'_' may not stand next to '/'");
  const id = key.replaceAll("/", "__");
  if (id.length > MAX_ID_LENGTH) {
    throw reject(key, `the secret id would be ${id.length} characters, over the limit of ${MAX_ID_LENGTH}`);
  }
  return id;
}

/** The remote key a secret id stands for; ids that no key maps to are returned as they are. */
export function keyForSecretId(id: string): string {
  const key = id.replaceAll("__", "/");
  try {
    return secretIdForKey(key) === id ? key : id;
  } catch {
    return id;
  }
}
