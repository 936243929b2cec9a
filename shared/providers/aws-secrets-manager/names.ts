/**
 * Remote keys → AWS secret names: the store's prefix (ESO `spec.provider.aws.prefix`) followed
 * by the key, checked against AWS's rules before any call is made.
 */
import { ProviderError } from "../../errors/index.ts";

export const MAX_NAME_LENGTH = 512;
const ALLOWED = /^[A-Za-z0-9/_+=.@-]+$/;
/** What Secrets Manager appends to a name in an ARN: a hyphen and six random alphanumerics. */
const ARN_SUFFIX_LOOKALIKE = /-[A-Za-z0-9]{6}$/;

export function toSecretName(key: string, prefix = ""): string {
  const name = prefix + key;
  const what = prefix ? `remote key "${key}" (with store prefix "${prefix}")` : `remote key "${key}"`;
  if (name.length < 1 || name.length > MAX_NAME_LENGTH)
    throw new ProviderError(
      "InvalidName",
      `${what} gives an AWS secret name of ${name.length} characters; AWS allows 1 to ${MAX_NAME_LENGTH}`,
    );
  if (!ALLOWED.test(name))
    throw new ProviderError(
      "InvalidName",
      `${what} has characters AWS does not allow in secret names (allowed: letters, digits and /_+=.@-)`,
    );
  if (ARN_SUFFIX_LOOKALIKE.test(name))
    throw new ProviderError(
      "InvalidName",
      `${what} ends with a hyphen followed by six characters, which Secrets Manager mistakes for the ` +
        `random suffix of an ARN when a partial ARN is looked up; AWS advises against such names, rename it`,
    );
  return name;
}

/** The remote key of an AWS secret name, or undefined when the name is outside the store's prefix. */
export function toRemoteKey(name: string, prefix = ""): string | undefined {
  return name.startsWith(prefix) ? name.slice(prefix.length) : undefined;
}
