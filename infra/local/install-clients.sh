#!/usr/bin/env bash
# Installs the vendors' own non-JavaScript clients that the conformance tests drive against the
# local cloud: the Python Vault client (hvac) and the Python Azure SDK, from Debian's packages.
# The AWS CLI and gcloud ship with the machine image. Safe to run again: it installs only what is missing.
set -euo pipefail
missing=()
/usr/bin/python3 -c 'import hvac' 2>/dev/null || missing+=(python3-hvac)
/usr/bin/python3 -c 'import azure.keyvault.secrets' 2>/dev/null || missing+=(python3-azure)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "installing ${missing[*]} needs root: sudo $0" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed ${missing[*]}"
