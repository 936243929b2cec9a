export { createVaultSource, DEFAULT_TIMEOUT_MS, type VaultSourceOptions } from "./client.ts";
export { authFromEnv, DEFAULT_VAULT_ADDR } from "./env.ts";
export type { VaultAuth, VaultLogin, VaultLoginClient } from "./auth/types.ts";
export { tokenAuth } from "./auth/token.ts";
export { appRoleAuth, type AppRoleAuthOptions } from "./auth/approle.ts";
export {
  kubernetesAuth,
  DEFAULT_SERVICE_ACCOUNT_TOKEN_FILE,
  type KubernetesAuthOptions,
} from "./auth/kubernetes.ts";
export { jwtAuth, type JwtAuthOptions } from "./auth/jwt.ts";
export { awsIamAuth, type AwsIamAuthOptions } from "./auth/aws-iam.ts";
export { gcpAuth, type GcpAuthOptions, type GcpLoginType } from "./auth/gcp.ts";
export { azureAuth, type AzureAuthOptions } from "./auth/azure.ts";
export * from "./types.ts";
