#!/usr/bin/env bash
# Deploys pushsync to Cloud Functions (2nd gen) next to Secret Manager: the webhook push function,
# the Pub/Sub push function, the reconcile function and its Cloud Scheduler job, with a service
# account that logs in to Vault with Vault's GCP auth method (iam role) and may only touch secrets
# whose id starts with SECRET_PREFIX. No key is created for any account. See infra/gcp/README.md.
#
#   PROJECT=my-project VAULT_ADDR=https://vault.example.com:8200 SECRET_PREFIX=prod- \
#     infra/gcp/deploy.sh
#
# Settings (environment):
#   PROJECT            project id (required)
#   VAULT_ADDR         Vault address reachable from the functions (required)
#   REGION             default europe-west1
#   VAULT_ROLE         Vault GCP auth role (type iam) the functions log in with; default pushsync
#   SECRET_PREFIX      secret id prefix pushsync manages; IAM allows changes to these secrets only.
#                      Empty: every secret of the project (the script asks you to confirm)
#   STORES             PUSHSYNC_STORES, the stores this deployment serves; empty: all
#   MANIFESTS          directory of ESO manifests to deploy with the code; default manifests
#   TOPIC              Pub/Sub topic of the Pub/Sub function; default pushsync-events
#   SCHEDULE           reconcile schedule (cron, in the region's time zone); default every 15 minutes
#   FINGERPRINT_SECRET Secret Manager secret holding the fingerprint key; default pushsync-fingerprint-key
#   WEBHOOK_SECRET     Secret Manager secret holding the webhook HMAC key; default pushsync-webhook-secret
#   SA_NAME            the functions' service account; default pushsync-fn
#   SCHEDULER_SA_NAME  the scheduler's service account; default pushsync-scheduler
#   BUILD_DIR          where the package is built; default .gcp-build
set -euo pipefail

PROJECT=${PROJECT:?set PROJECT}
VAULT_ADDR=${VAULT_ADDR:?set VAULT_ADDR}
REGION=${REGION:-europe-west1}
VAULT_ROLE=${VAULT_ROLE:-pushsync}
SECRET_PREFIX=${SECRET_PREFIX:-}
STORES=${STORES:-}
MANIFESTS=${MANIFESTS:-manifests}
TOPIC=${TOPIC:-pushsync-events}
SCHEDULE=${SCHEDULE:-"*/15 * * * *"}
FINGERPRINT_SECRET=${FINGERPRINT_SECRET:-pushsync-fingerprint-key}
WEBHOOK_SECRET=${WEBHOOK_SECRET:-pushsync-webhook-secret}
SA_NAME=${SA_NAME:-pushsync-fn}
SCHEDULER_SA_NAME=${SCHEDULER_SA_NAME:-pushsync-scheduler}
BUILD_DIR=${BUILD_DIR:-.gcp-build}

SA="$SA_NAME@$PROJECT.iam.gserviceaccount.com"
SCHEDULER_SA="$SCHEDULER_SA_NAME@$PROJECT.iam.gserviceaccount.com"
G=(--project="$PROJECT" --quiet)

if [[ -z "$SECRET_PREFIX" ]]; then
  read -r -p "SECRET_PREFIX is empty: pushsync may change every secret of $PROJECT. Continue? [y/N] " ok
  [[ "$ok" == y ]] || exit 1
fi
PROJECT_NUMBER=$(gcloud projects describe "$PROJECT" --format='value(projectNumber)')

echo "== service accounts"
for name in "$SA_NAME" "$SCHEDULER_SA_NAME"; do
  gcloud iam service-accounts describe "$name@$PROJECT.iam.gserviceaccount.com" "${G[@]}" >/dev/null 2>&1 ||
    gcloud iam service-accounts create "$name" --display-name="pushsync ($name)" "${G[@]}"
done
# Vault's GCP iam login: the functions sign a JWT as their own account (iam.serviceAccounts.signJwt).
gcloud iam service-accounts add-iam-policy-binding "$SA" \
  --member="serviceAccount:$SA" --role=roles/iam.serviceAccountTokenCreator "${G[@]}" >/dev/null

echo "== Secret Manager permissions"
# Two custom roles: creating and listing are checked on the project; everything else on the
# secret (or version), so an IAM condition on the secret's name confines it to the prefix.
# Secret Manager's conditions can test resource.name, resource.type and tags, not labels.
upsert_role() { # id title permissions
  if gcloud iam roles describe "$1" "${G[@]}" >/dev/null 2>&1; then
    gcloud iam roles update "$1" --title="$2" --permissions="$3" "${G[@]}" >/dev/null
  else
    gcloud iam roles create "$1" --title="$2" --permissions="$3" --stage=GA "${G[@]}" >/dev/null
  fi
}
upsert_role pushsyncSecretCreator "pushsync: create and list secrets" \
  secretmanager.secrets.create,secretmanager.secrets.list
upsert_role pushsyncSecretWriter "pushsync: manage its secrets" \
  secretmanager.secrets.get,secretmanager.secrets.update,secretmanager.secrets.delete,secretmanager.versions.add,secretmanager.versions.get,secretmanager.versions.access,secretmanager.versions.destroy
gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$SA" \
  --role="projects/$PROJECT/roles/pushsyncSecretCreator" --condition=None "${G[@]}" >/dev/null
gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$SA" \
  --role="projects/$PROJECT/roles/pushsyncSecretWriter" "${G[@]}" \
  --condition="^|^title=pushsync-prefix|expression=resource.name.startsWith(\"projects/$PROJECT_NUMBER/secrets/$SECRET_PREFIX\")" \
  >/dev/null
# Its own settings: the fingerprint key and the webhook key, read when the functions start.
for secret in "$FINGERPRINT_SECRET" "$WEBHOOK_SECRET"; do
  gcloud secrets add-iam-policy-binding "$secret" --member="serviceAccount:$SA" \
    --role=roles/secretmanager.secretAccessor "${G[@]}" >/dev/null
done

echo "== package"
npx tsx infra/gcp/package.ts "$BUILD_DIR" "$MANIFESTS"

echo "== functions"
gcloud pubsub topics describe "$TOPIC" "${G[@]}" >/dev/null 2>&1 || gcloud pubsub topics create "$TOPIC" "${G[@]}"
# "^|^" makes "|" the separator, so PUSHSYNC_STORES may hold commas.
COMMON=(
  --gen2 --runtime=nodejs20 --region="$REGION" --source="$BUILD_DIR" --service-account="$SA"
  --set-env-vars="^|^VAULT_ADDR=$VAULT_ADDR|PUSHSYNC_VAULT_AUTH=gcp-iam|PUSHSYNC_VAULT_ROLE=$VAULT_ROLE|PUSHSYNC_STORES=$STORES|GOOGLE_CLOUD_PROJECT=$PROJECT"
  --set-secrets="PUSHSYNC_FINGERPRINT_KEY=$FINGERPRINT_SECRET:latest,PUSHSYNC_WEBHOOK_SECRET=$WEBHOOK_SECRET:latest"
  "${G[@]}"
)
# The forwarder calls this one from outside Google Cloud: the webhook signature authenticates it.
gcloud functions deploy pushsync-push --entry-point=pushsyncPush --trigger-http --allow-unauthenticated \
  --timeout=60s "${COMMON[@]}"
# Eventarc delivers the topic's messages; --retry makes a thrown error a redelivery.
gcloud functions deploy pushsync-pubsub --entry-point=pushsyncPubSub --trigger-topic="$TOPIC" --retry \
  --trigger-service-account="$SA" --timeout=60s "${COMMON[@]}"
gcloud functions add-invoker-policy-binding pushsync-pubsub --region="$REGION" \
  --member="serviceAccount:$SA" "${G[@]}" >/dev/null
# Only the scheduler may call this one: Cloud Run checks its OIDC token before the code runs.
gcloud functions deploy pushsync-reconcile --entry-point=pushsyncReconcile --trigger-http \
  --no-allow-unauthenticated --timeout=540s "${COMMON[@]}"
gcloud functions add-invoker-policy-binding pushsync-reconcile --region="$REGION" \
  --member="serviceAccount:$SCHEDULER_SA" "${G[@]}" >/dev/null

echo "== scheduler"
RECONCILE_URL=$(gcloud functions describe pushsync-reconcile --region="$REGION" \
  --format='value(serviceConfig.uri)' "${G[@]}")
JOB=(pushsync-reconcile --location="$REGION" --schedule="$SCHEDULE" --uri="$RECONCILE_URL" --http-method=POST
  --oidc-service-account-email="$SCHEDULER_SA" --oidc-token-audience="$RECONCILE_URL"
  --attempt-deadline=540s "${G[@]}")
gcloud scheduler jobs create http "${JOB[@]}" 2>/dev/null || gcloud scheduler jobs update http "${JOB[@]}"

echo "== log-based metric of refused webhooks"
gcloud logging metrics describe pushsync-webhook-rejected "${G[@]}" >/dev/null 2>&1 ||
  gcloud logging metrics create pushsync-webhook-rejected "${G[@]}" \
    --description="pushsync webhook calls refused (forged, stale, unsigned or replayed)" \
    --log-filter='resource.type="cloud_run_revision" AND jsonPayload.message="webhook rejected"'

PUSH_URL=$(gcloud functions describe pushsync-push --region="$REGION" \
  --format='value(serviceConfig.uri)' "${G[@]}")
cat <<EOF

Deployed. Still to do on Vault's side (once), with a token allowed to configure auth methods:

  vault auth enable gcp
  vault write auth/gcp/role/$VAULT_ROLE type=iam bound_service_accounts=$SA \\
      max_jwt_exp=15m token_policies=<policy reading the manifests' Vault paths> token_ttl=1h

and for the forwarder (PUSHSYNC_WEBHOOK_SECRET = the value of the $WEBHOOK_SECRET secret):

  pushsync forward --events --webhook '$PUSH_URL${STORES:+#stores=$STORES}'
EOF
