/**
 * Vault settings from the environment, read the way the Vault CLI reads them.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { tokenAuth } from "./auth/token.ts";
import type { VaultSourceOptions } from "./client.ts";
import { VaultInvalidError } from "./types.ts";

/** The Vault CLI's address when VAULT_ADDR is unset. */
export const DEFAULT_VAULT_ADDR = "https://127.0.0.1:8200";

/**
 * VAULT_ADDR, VAULT_NAMESPACE, VAULT_CACERT (a PEM file), VAULT_CLIENT_CERT and
 * VAULT_CLIENT_KEY (PEM files, both or neither), VAULT_SKIP_VERIFY, and the token from
 * VAULT_TOKEN or else the file ~/.vault-token (read at login time).
 */
export function authFromEnv(env: NodeJS.ProcessEnv = process.env): VaultSourceOptions {
  const options: VaultSourceOptions = {
    address: nonEmpty(env.VAULT_ADDR) ?? DEFAULT_VAULT_ADDR,
    auth: nonEmpty(env.VAULT_TOKEN)
      ? tokenAuth({ token: env.VAULT_TOKEN! })
      : tokenAuth({ file: join(nonEmpty(env.HOME) ?? homedir(), ".vault-token") }),
  };
  const namespace = nonEmpty(env.VAULT_NAMESPACE);
  if (namespace) options.namespace = namespace;
  const caFile = nonEmpty(env.VAULT_CACERT);
  if (caFile) options.caBundle = readPem(caFile, "VAULT_CACERT");
  const certFile = nonEmpty(env.VAULT_CLIENT_CERT);
  const keyFile = nonEmpty(env.VAULT_CLIENT_KEY);
  if (certFile || keyFile) {
    if (!certFile || !keyFile) {
      throw new VaultInvalidError("VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be set together");
    }
    options.clientCert = {
      cert: readPem(certFile, "VAULT_CLIENT_CERT"),
      key: readPem(keyFile, "VAULT_CLIENT_KEY"),
    };
  }
  const skip = nonEmpty(env.VAULT_SKIP_VERIFY);
  if (skip) options.insecureSkipVerify = parseBool(skip, "VAULT_SKIP_VERIFY");
  return options;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function readPem(path: string, variable: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "read error";
    throw new VaultInvalidError(`${variable}: cannot read ${path} (${code})`);
  }
}

/** The spellings Go's strconv.ParseBool accepts, as the Vault CLI uses it. */
function parseBool(value: string, variable: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(value)) return false;
  throw new VaultInvalidError(`${variable}: "${value}" is not a boolean`);
}
