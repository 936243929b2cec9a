#!/usr/bin/env bash
# Deploys pushsync to Azure Functions (Flex Consumption, Node.js 20) next to Key Vault: the webhook
# push function, the Storage queue function and the timer reconcile, running as the app's
# system-assigned managed identity, which logs in to Vault with Vault's Azure auth method and may
# write secrets in KEY_VAULT only ("Key Vault Secrets Officer" scoped to that vault). No client
# secret, storage key or function key is used. See infra/azure/README.md.
#
#   RESOURCE_GROUP=pushsync APP_NAME=pushsync-prod STORAGE_ACCOUNT=pushsyncprod \
#   KEY_VAULT=prod-secrets VAULT_ADDR=https://vault.example.com:8200 infra/azure/deploy.sh
#
# Settings (environment):
#   RESOURCE_GROUP   resource group of the app and its storage account (required; created if missing)
#   APP_NAME         function app name (required)
#   STORAGE_ACCOUNT  the app's storage account: host state, timer leases, the event queue (required)
#   KEY_VAULT        the Key Vault pushsync pushes to; must use Azure RBAC (required)
#   VAULT_ADDR       Vault address reachable from the app (required)
#   LOCATION         default westeurope
#   CONFIG_VAULT     Key Vault holding pushsync's own settings (secrets pushsync-fingerprint-key and
#                    pushsync-webhook-secret); default KEY_VAULT
#   VAULT_ROLE       Vault Azure auth role; default pushsync
#   STORES           PUSHSYNC_STORES, the stores this deployment serves; empty: all
#   MANIFESTS        directory of ESO manifests deployed with the code; default manifests
#   BUILD_DIR        where the package is built; default .azure-build
set -euo pipefail

RESOURCE_GROUP=${RESOURCE_GROUP:?set RESOURCE_GROUP}
APP_NAME=${APP_NAME:?set APP_NAME}
STORAGE_ACCOUNT=${STORAGE_ACCOUNT:?set STORAGE_ACCOUNT}
KEY_VAULT=${KEY_VAULT:?set KEY_VAULT}
VAULT_ADDR=${VAULT_ADDR:?set VAULT_ADDR}
LOCATION=${LOCATION:-westeurope}
CONFIG_VAULT=${CONFIG_VAULT:-$KEY_VAULT}
VAULT_ROLE=${VAULT_ROLE:-pushsync}
STORES=${STORES:-}
MANIFESTS=${MANIFESTS:-manifests}
BUILD_DIR=${BUILD_DIR:-.azure-build}
QUEUE=pushsync-events # functions/azure/index.ts

echo "== resource group, storage account, queue"
az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none
az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --output none 2>/dev/null ||
  az storage account create --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
    --sku Standard_LRS --allow-blob-public-access false --min-tls-version TLS1_2 --output none
STORAGE_ID=$(az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --query id -o tsv)

echo "== function app and its identity"
az functionapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --output none 2>/dev/null ||
  az functionapp create --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --storage-account "$STORAGE_ACCOUNT" \
    --flexconsumption-location "$LOCATION" --runtime node --runtime-version 20 --output none
PRINCIPAL_ID=$(az functionapp identity assign --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" \
  --query principalId -o tsv)
APP_ID=$(az functionapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
TENANT_ID=$(az account show --query tenantId -o tsv)

echo "== role assignments"
assign() { # role scope
  [[ -n "$(az role assignment list --assignee "$PRINCIPAL_ID" --role "$1" --scope "$2" --query "[].id" -o tsv)" ]] ||
    az role assignment create --assignee-object-id "$PRINCIPAL_ID" --assignee-principal-type ServicePrincipal \
      --role "$1" --scope "$2" --output none
}
# The secrets pushsync manages: this vault only.
VAULT_ID=$(az keyvault show --name "$KEY_VAULT" --query id -o tsv)
assign "Key Vault Secrets Officer" "$VAULT_ID"
# Its own settings, read through Key Vault references.
if [[ "$CONFIG_VAULT" != "$KEY_VAULT" ]]; then
  assign "Key Vault Secrets User" "$(az keyvault show --name "$CONFIG_VAULT" --query id -o tsv)"
fi
# Identity-based AzureWebJobsStorage: host state and timer leases (blobs), the event queue and its
# poison queue (queues).
assign "Storage Blob Data Owner" "$STORAGE_ID"
assign "Storage Queue Data Contributor" "$STORAGE_ID"
az storage queue create --name "$QUEUE" --account-name "$STORAGE_ACCOUNT" --auth-mode login --output none

echo "== app settings"
kv_ref() { echo "@Microsoft.KeyVault(VaultName=$CONFIG_VAULT;SecretName=$1)"; }
az functionapp config appsettings set --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --output none --settings \
  "AzureWebJobsStorage__accountName=$STORAGE_ACCOUNT" \
  "VAULT_ADDR=$VAULT_ADDR" \
  "PUSHSYNC_VAULT_AUTH=azure" \
  "PUSHSYNC_VAULT_ROLE=$VAULT_ROLE" \
  "PUSHSYNC_VAULT_AZURE_RESOURCE_ID=$APP_ID" \
  "PUSHSYNC_STORES=$STORES" \
  "PUSHSYNC_FINGERPRINT_KEY=$(kv_ref pushsync-fingerprint-key)" \
  "PUSHSYNC_WEBHOOK_SECRET=$(kv_ref pushsync-webhook-secret)"
# The connection string with the account key goes: the identity-based setting above replaces it.
az functionapp config appsettings delete --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" \
  --setting-names AzureWebJobsStorage --output none

echo "== package and deploy"
npx tsx infra/azure/package.ts "$BUILD_DIR" "$MANIFESTS"
rm -f "$BUILD_DIR.zip"
(cd "$BUILD_DIR" && zip -qr "../$(basename "$BUILD_DIR").zip" .)
az functionapp deployment source config-zip --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" \
  --src "$BUILD_DIR.zip" --build-remote true --output none

HOST=$(az functionapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --query defaultHostName -o tsv)
SUBSCRIPTION_ID=$(az account show --query id -o tsv)
cat <<EOF

Deployed. Still to do on Vault's side (once), with a token allowed to configure auth methods.
Vault needs its own Azure credentials (client_id/client_secret in the config, or Vault's managed
identity) with read access to the app, to check that the identity belongs to it:

  vault auth enable azure
  vault write auth/azure/config tenant_id=$TENANT_ID resource=https://management.azure.com/
  vault write auth/azure/role/$VAULT_ROLE bound_service_principal_ids=$PRINCIPAL_ID \\
      bound_subscription_ids=$SUBSCRIPTION_ID bound_resource_groups=$RESOURCE_GROUP \\
      token_policies=<policy reading the manifests' Vault paths> token_ttl=1h

and for the forwarder (PUSHSYNC_WEBHOOK_SECRET = the pushsync-webhook-secret secret's value):

  pushsync forward --events --webhook 'https://$HOST/api/pushsyncPush${STORES:+#stores=$STORES}'
EOF
