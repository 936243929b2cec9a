/**
 * Remote keys to Azure Key Vault secret names, and back.
 *
 * Key Vault names are 1-127 characters of [0-9a-zA-Z-], compared without regard to case. Remote
 * keys in manifests are often paths ("/prod/lambda/db-password", "team_a/app.config"), so:
 *
 *   1. one leading "/" is dropped: "/prod/db" and "prod/db" name the same secret;
 *   2. "-" stays "-", "/" becomes "--", "_" becomes "---", "." becomes "----";
 *   3. letters are lowercased. Key Vault ignores case, so the lowercase form is the canonical name,
 *      and two keys that differ only in case map to the same name: the engine, which compares
 *      mapped names across a plan, reports them as a collision instead of letting both write to
 *      one secret.
 *
 * Rule 2 is reversible only if separators never touch: each of "-", "/", "_" and "." must stand
 * between two letters or digits (no two in a row, none first or last once the leading "/" is
 * dropped). Keys breaking that rule, keys with any other character, and keys whose name would
 * exceed 127 characters are rejected with ProviderError("InvalidName") naming the rule.
 * Within those rules the mapping is injective (a dash run's length tells which character it came
 * from). Names ESO users already write ("db-password") map to themselves, lowercased.
 */
import { ProviderError } from "../../errors/index.ts";

export const MAX_NAME_LENGTH = 127;

const ESCAPES: Record<string, string> = { "-": "-", "/": "--", _: "---", ".": "----" };
const DECODE = ["", "-", "/", "_", "."];
const KEY_PATTERN = /^[0-9a-zA-Z]+(?:[-/_.][0-9a-zA-Z]+)*$/;

const RULE =
  'Azure Key Vault remote keys may use letters, digits and "-", "/", "_", "." between letters or digits ' +
  '(one leading "/" is allowed), at most 127 characters once mapped';

export function toSecretName(key: string): string {
  const body = key.startsWith("/") ? key.slice(1) : key;
  if (!KEY_PATTERN.test(body))
    throw new ProviderError("InvalidName", `remote key "${key}" is not valid: ${RULE}`);
  const name = body.replace(/[-/_.]/g, (c) => ESCAPES[c]!).toLowerCase();
  if (name.length > MAX_NAME_LENGTH)
    throw new ProviderError(
      "InvalidName",
      `remote key "${key}" maps to a ${name.length}-character Key Vault name; the limit is ${MAX_NAME_LENGTH}`,
    );
  return name;
}

/**
 * The remote key a secret name stands for (without a leading "/"). Names that no key maps to
 * (dash runs longer than four, or a dash first or last) are returned unchanged.
 */
export function toRemoteKey(name: string): string {
  if (!/^[0-9a-zA-Z]+(?:-{1,4}[0-9a-zA-Z]+)*$/.test(name)) return name;
  return name.replace(/-+/g, (run) => DECODE[run.length]!);
}
