/**
 * The ESO store manifests most tests write: Vault as a ClusterSecretStore named vault, and
 * SecretStores aws, gcp and azure in namespace default, each one YAML document. Only the
 * addresses and options that differ between tests are parameters.
 */

function store(kind: string, metadata: string, provider: string): string {
  return `apiVersion: external-secrets.io/v1
kind: ${kind}
metadata: { ${metadata} }
spec:
  provider:
    ${provider}
`;
}

/** ClusterSecretStore vault: KV v2 mounted at secret/ on server. */
export function vaultStore(server = "http://127.0.0.1:8200"): string {
  return store(
    "ClusterSecretStore",
    "name: vault",
    `vault: { server: "${server}", path: secret, version: v2 }`,
  );
}

/** SecretStore aws: Secrets Manager in us-east-1, with secretsManager options such as "recoveryWindowInDays: 7". */
export function awsStore(secretsManager?: string): string {
  const options = secretsManager ? `, secretsManager: { ${secretsManager} }` : "";
  return store(
    "SecretStore",
    "name: aws, namespace: default",
    `aws: { service: SecretsManager, region: us-east-1${options} }`,
  );
}

/** SecretStore gcp: Secret Manager in projectID. */
export function gcpStore(projectID: string): string {
  return store("SecretStore", "name: gcp, namespace: default", `gcpsm: { projectID: ${projectID} }`);
}

/** SecretStore azure: the Key Vault at vaultUrl, managed identity, optionally in tenantId. */
export function azureStore(vaultUrl: string, tenantId?: string): string {
  const tenant = tenantId ? `, tenantId: ${tenantId}` : "";
  return store(
    "SecretStore",
    "name: azure, namespace: default",
    `azurekv: { vaultUrl: "${vaultUrl}"${tenant}, authType: ManagedIdentity }`,
  );
}

/** The documents as one multi-document YAML text. */
export function yamlDocs(...docs: string[]): string {
  return docs.join("---\n");
}
