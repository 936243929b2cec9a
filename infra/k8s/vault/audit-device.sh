#!/bin/sh
# The socket audit device feeding "pushsync forward" (which then sends signed webhooks to the
# puller's leader Service, or messages to SQS). Vault refuses requests when no enabled audit
# device can log them, so keep a file device next to the socket one.
set -eu
vault audit enable -path=file file file_path=/vault/audit/audit.log
vault audit enable -path=pushsync socket \
  address=pushsync-forwarder.pushsync-system.svc:9090 socket_type=tcp format=json
