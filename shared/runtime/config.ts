/**
 * The runtime's settings from the environment (besides the fingerprint key, which the engine
 * reads: PUSHSYNC_FINGERPRINT_KEY or PUSHSYNC_FINGERPRINT_KEY_FILE).
 *
 *   PUSHSYNC_STORES                  destination stores this deployment serves, comma separated
 *                                    ids as in the manifests ("namespace/name", or "name" for a
 *                                    ClusterSecretStore); unset or empty: every store
 *   PUSHSYNC_VAULT_AUTH              how the Vault stores log in: "store" (default: the store's
 *                                    own auth, or VAULT_TOKEN, see shared/vault/from-store.ts) or
 *                                    "aws-iam" (every Vault store, Vault's AWS auth method)
 *   PUSHSYNC_VAULT_ROLE              aws-iam: the Vault role (required)
 *   PUSHSYNC_VAULT_AWS_MOUNT         aws-iam: mount of the AWS auth method, default "aws"
 *   PUSHSYNC_VAULT_AWS_SERVER_ID     aws-iam: X-Vault-AWS-IAM-Server-ID value, when Vault requires one
 *   PUSHSYNC_VAULT_AWS_STS_ENDPOINT  aws-iam: STS endpoint to sign for, default https://sts.amazonaws.com
 *   PUSHSYNC_VAULT_AWS_STS_REGION    aws-iam: its signing region, default us-east-1
 */
import { PushsyncError } from "../errors/index.ts";
import { awsIamAuth } from "../vault/auth/aws-iam.ts";
import type { VaultAuth } from "../vault/auth/types.ts";

type Env = Record<string, string | undefined>;

export const STORES_ENV = "PUSHSYNC_STORES";
const VAULT_AUTH_ENV = "PUSHSYNC_VAULT_AUTH";

const set = (v: string | undefined): string | undefined => (v && v.trim() !== "" ? v.trim() : undefined);

/** The served store ids, or undefined for all. */
export function servedStores(env: Env): Set<string> | undefined {
  const names = (env[STORES_ENV] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  return names.length > 0 ? new Set(names) : undefined;
}

/** The auth every Vault store uses instead of its own, or undefined to keep the stores' own. */
export function vaultAuthOverride(env: Env): VaultAuth | undefined {
  const mode = set(env[VAULT_AUTH_ENV]) ?? "store";
  if (mode === "store") return undefined;
  if (mode !== "aws-iam") {
    throw new PushsyncError("Invalid", `${VAULT_AUTH_ENV}: "${mode}" is not one of store, aws-iam`);
  }
  const role = set(env.PUSHSYNC_VAULT_ROLE);
  if (!role) throw new PushsyncError("Invalid", `${VAULT_AUTH_ENV}=aws-iam needs PUSHSYNC_VAULT_ROLE`);
  const mount = set(env.PUSHSYNC_VAULT_AWS_MOUNT);
  const serverId = set(env.PUSHSYNC_VAULT_AWS_SERVER_ID);
  const stsEndpoint = set(env.PUSHSYNC_VAULT_AWS_STS_ENDPOINT);
  const stsRegion = set(env.PUSHSYNC_VAULT_AWS_STS_REGION);
  return awsIamAuth({
    role,
    ...(mount ? { mount } : {}),
    ...(serverId ? { serverId } : {}),
    ...(stsEndpoint ? { stsEndpoint } : {}),
    ...(stsRegion ? { stsRegion } : {}),
  });
}
