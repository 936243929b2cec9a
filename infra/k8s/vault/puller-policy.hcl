# Vault policy for the puller's stores (token, AppRole, Kubernetes or JWT auth alike), KV v2
# mount "secret": read the secrets ExternalSecrets name, list and read metadata for
# dataFrom.find. Narrow the paths to what your ExternalSecrets read.
path "secret/data/*" {
  capabilities = ["read"]
}
path "secret/metadata/*" {
  capabilities = ["read", "list"]
}
