# Vault policy for the puller's event subscription (pushsync pull --vault-events, the token in
# the pushsync-vault-events Secret): read the subscribe endpoint for kv event types, and the
# subscribe capability on the mounts whose changes it should hear of. Events carry paths and
# versions, never values.
path "sys/events/subscribe/kv*" {
  capabilities = ["read"]
}
path "secret/*" {
  capabilities = ["subscribe"]
  subscribe_event_types = ["kv*"]
}
