/** The options `pushsync plan` and `pushsync sync` share, for their --help. */
export const RUN_OPTIONS = `Options:
  --manifests DIR       manifest files or directories, read recursively (repeatable; default manifests)
  --push-secret NAME    only this PushSecret ("namespace/name" or "name"; repeatable)
  --store NAME          only this destination store ("namespace/name" or "name"; repeatable)
  --output text|json    output format (default text)
  --local               use the local clouds started by "pushsync local" (.pushsync/local.json)
  -h, --help            show this help

Connections come from the SecretStores; the environment wins over them: VAULT_ADDR, VAULT_TOKEN,
VAULT_NAMESPACE, VAULT_CACERT; AWS_ENDPOINT_URL_SECRETS_MANAGER (or AWS_ENDPOINT_URL),
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; SECRETMANAGER_EMULATOR_HOST; PUSHSYNC_AZURE_ACCESS_TOKEN
(local Key Vault only). Secret references of the stores are read from PUSHSYNC_SECRET_<NS>_<NAME>_<KEY>
or .pushsync/secrets/<ns>/<name>/<key>.

Fingerprint key: PUSHSYNC_FINGERPRINT_KEY or PUSHSYNC_FINGERPRINT_KEY_FILE, as production sets it.
Without either, .pushsync/fingerprint.key is used (created once with 32 random bytes).

A run with --push-secret or --store, or with manifest errors, never deletes remote secrets
that no PushSecret maps any more: only a full, error-free run does.

Exit code: 0 when every entry succeeded, 1 when a manifest, store or entry failed, 2 for usage errors.`;
