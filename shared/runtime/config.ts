/**
 * The runtime's settings from the environment (besides the fingerprint key, which the engine
 * reads: PUSHSYNC_FINGERPRINT_KEY or PUSHSYNC_FINGERPRINT_KEY_FILE).
 *
 *   PUSHSYNC_STORES                  destination stores this deployment serves, comma separated
 *                                    ids as in the manifests ("namespace/name", or "name" for a
 *                                    ClusterSecretStore); unset or empty: every store
 *   PUSHSYNC_VAULT_AUTH              how the Vault stores log in: "store" (default: the store's
 *                                    own auth, or VAULT_TOKEN, see shared/vault/from-store.ts), or
 *                                    one method for every Vault store, with the platform's identity:
 *                                      aws-iam    Vault's AWS auth method (shared/vault/auth/aws-iam.ts)
 *                                      gcp-iam    Vault's GCP method, iam role (shared/vault/auth/gcp.ts)
 *                                      gcp-gce    Vault's GCP method, gce role (Compute Engine only)
 *                                      gcp-jwt    Vault's JWT method with the metadata server's identity token
 *                                      azure      Vault's Azure method (shared/vault/auth/azure.ts)
 *                                      azure-jwt  Vault's JWT method with the managed identity's token
 *   PUSHSYNC_VAULT_ROLE              the Vault role (required by every method but "store")
 *
 *   PUSHSYNC_VAULT_AWS_MOUNT         aws-iam: mount of the AWS auth method, default "aws"
 *   PUSHSYNC_VAULT_AWS_SERVER_ID     aws-iam: X-Vault-AWS-IAM-Server-ID value, when Vault requires one
 *   PUSHSYNC_VAULT_AWS_STS_ENDPOINT  aws-iam: STS endpoint to sign for, default https://sts.amazonaws.com
 *   PUSHSYNC_VAULT_AWS_STS_REGION    aws-iam: its signing region, default us-east-1
 *
 *   PUSHSYNC_VAULT_GCP_MOUNT         gcp-*: mount, default "gcp" ("jwt" for gcp-jwt)
 *   PUSHSYNC_VAULT_GCP_SERVICE_ACCOUNT  gcp-iam: account to sign as, default the metadata server's
 *   PUSHSYNC_VAULT_GCP_AUDIENCE      gcp-gce, gcp-jwt: identity token audience, default http://vault/<role>
 *   PUSHSYNC_VAULT_GCP_IAM_ENDPOINT  gcp-iam: IAM Credentials API base URL (tests point it elsewhere)
 *   GCE_METADATA_HOST                gcp-*: metadata server "host:port", default metadata.google.internal
 *
 *   PUSHSYNC_VAULT_AZURE_MOUNT       azure*: mount, default "azure" ("jwt" for azure-jwt)
 *   PUSHSYNC_VAULT_AZURE_RESOURCE    azure*: token audience, default https://management.azure.com/
 *   PUSHSYNC_VAULT_AZURE_CLIENT_ID   azure*: a user-assigned identity's client id
 *   PUSHSYNC_VAULT_AZURE_RESOURCE_ID azure: the resource the identity is attached to (the function
 *                                    app's resource id), sent as resource_id with its subscription
 *                                    and resource group
 *   IDENTITY_ENDPOINT, IDENTITY_HEADER, AZURE_POD_IDENTITY_AUTHORITY_HOST  azure*: token endpoint,
 *                                    as the platform and @azure/identity set them
 */
import { PushsyncError } from "../errors/index.ts";
import { awsIamAuth } from "../vault/auth/aws-iam.ts";
import { azureAuth } from "../vault/auth/azure.ts";
import { gcpAuth } from "../vault/auth/gcp.ts";
import type { VaultAuth } from "../vault/auth/types.ts";

type Env = Record<string, string | undefined>;

export const STORES_ENV = "PUSHSYNC_STORES";
const VAULT_AUTH_ENV = "PUSHSYNC_VAULT_AUTH";

const set = (v: string | undefined): string | undefined => (v && v.trim() !== "" ? v.trim() : undefined);
/** `{ [key]: value }` when the variable is set, else `{}`. */
const opt = <K extends string>(key: K, v: string | undefined): Partial<Record<K, string>> =>
  set(v) ? ({ [key]: set(v) } as Record<K, string>) : {};

/** The served store ids, or undefined for all. */
export function servedStores(env: Env): Set<string> | undefined {
  const names = (env[STORES_ENV] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  return names.length > 0 ? new Set(names) : undefined;
}

const METHODS: Record<string, (role: string, env: Env) => VaultAuth> = {
  "aws-iam": (role, env) =>
    awsIamAuth({
      role,
      ...opt("mount", env.PUSHSYNC_VAULT_AWS_MOUNT),
      ...opt("serverId", env.PUSHSYNC_VAULT_AWS_SERVER_ID),
      ...opt("stsEndpoint", env.PUSHSYNC_VAULT_AWS_STS_ENDPOINT),
      ...opt("stsRegion", env.PUSHSYNC_VAULT_AWS_STS_REGION),
    }),
  "gcp-iam": (role, env) => gcp(role, env, "iam"),
  "gcp-gce": (role, env) => gcp(role, env, "gce"),
  "gcp-jwt": (role, env) => gcp(role, env, "jwt"),
  azure: (role, env) => azure(role, env, "azure"),
  "azure-jwt": (role, env) => azure(role, env, "jwt"),
};

const gcp = (role: string, env: Env, type: "iam" | "gce" | "jwt"): VaultAuth =>
  gcpAuth({
    role,
    type,
    ...opt("mount", env.PUSHSYNC_VAULT_GCP_MOUNT),
    ...opt("serviceAccount", env.PUSHSYNC_VAULT_GCP_SERVICE_ACCOUNT),
    ...opt("audience", env.PUSHSYNC_VAULT_GCP_AUDIENCE),
    ...opt("iamCredentialsEndpoint", env.PUSHSYNC_VAULT_GCP_IAM_ENDPOINT),
    ...opt("metadataHost", env.GCE_METADATA_HOST),
  });

const azure = (role: string, env: Env, method: "azure" | "jwt"): VaultAuth =>
  azureAuth({
    role,
    method,
    env,
    ...opt("mount", env.PUSHSYNC_VAULT_AZURE_MOUNT),
    ...opt("resource", env.PUSHSYNC_VAULT_AZURE_RESOURCE),
    ...opt("clientId", env.PUSHSYNC_VAULT_AZURE_CLIENT_ID),
    ...opt("resourceId", env.PUSHSYNC_VAULT_AZURE_RESOURCE_ID),
  });

/** The auth every Vault store uses instead of its own, or undefined to keep the stores' own. */
export function vaultAuthOverride(env: Env): VaultAuth | undefined {
  const mode = set(env[VAULT_AUTH_ENV]) ?? "store";
  if (mode === "store") return undefined;
  const build = METHODS[mode];
  if (!build) {
    const known = ["store", ...Object.keys(METHODS)].join(", ");
    throw new PushsyncError("Invalid", `${VAULT_AUTH_ENV}: "${mode}" is not one of ${known}`);
  }
  const role = set(env.PUSHSYNC_VAULT_ROLE);
  if (!role) throw new PushsyncError("Invalid", `${VAULT_AUTH_ENV}=${mode} needs PUSHSYNC_VAULT_ROLE`);
  return build(role, env);
}
