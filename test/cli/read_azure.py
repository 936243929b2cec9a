"""Reads one secret from a Key Vault with the Python Azure SDK, unchanged, and prints its value.

Usage: python3 read_azure.py VAULT_URL CA_PEM_PATH NAME

Offline credential: a fixed token (the local vault accepts any bearer token); the SDK's challenge
check is off because a loopback host is never a subdomain of vault.azure.net.
"""
import sys
import time

from azure.core.credentials import AccessToken
from azure.keyvault.secrets import SecretClient


class StaticTokenCredential:
    def get_token(self, *scopes, **kwargs):
        return AccessToken("local-static-token", int(time.time()) + 3600)


vault_url, ca_path, name = sys.argv[1:4]
client = SecretClient(
    vault_url=vault_url,
    credential=StaticTokenCredential(),
    verify_challenge_resource=False,
    connection_verify=ca_path,
)
sys.stdout.write(client.get_secret(name).value)
