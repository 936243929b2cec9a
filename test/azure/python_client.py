"""Drives the local Key Vault with the Python Azure SDK, unchanged, and prints what it saw as JSON.

Usage: python3 python_client.py VAULT_URL CA_PEM_PATH PREFIX

Offline credential: a class with get_token() returning a fixed token. The local vault accepts any
bearer token, and the SDK's challenge check is turned off because a loopback host is never a
subdomain of vault.azure.net.
"""
import json
import sys
import time

from azure.core.credentials import AccessToken
from azure.core.exceptions import ResourceExistsError
from azure.keyvault.secrets import SecretClient


class StaticTokenCredential:
    def get_token(self, *scopes, **kwargs):
        self.scopes = scopes
        return AccessToken("local-static-token", int(time.time()) + 3600)


def main():
    vault_url, ca_path, prefix = sys.argv[1:4]
    credential = StaticTokenCredential()
    client = SecretClient(
        vault_url=vault_url,
        credential=credential,
        verify_challenge_resource=False,
        connection_verify=ca_path,
    )
    out = {}
    first = client.set_secret(prefix + "-one", "python-value-1", tags={"origin": "python"}, content_type="text/plain")
    client.set_secret(prefix + "-two", "python-value-2")
    second = client.set_secret(prefix + "-one", "python-value-1b")
    out["versions_differ"] = first.properties.version != second.properties.version
    got = client.get_secret(prefix + "-one")
    out["get_value"] = got.value
    out["get_first_version_value"] = client.get_secret(prefix + "-one", first.properties.version).value
    out["first_tags"] = first.properties.tags
    out["listed"] = sorted(p.name for p in client.list_properties_of_secrets() if p.name.startswith(prefix))
    out["versions"] = len(list(client.list_properties_of_secret_versions(prefix + "-one")))
    client.begin_delete_secret(prefix + "-two").wait()
    deleted = client.get_deleted_secret(prefix + "-two")
    out["deleted_recovery_id"] = deleted.recovery_id
    try:
        client.set_secret(prefix + "-two", "again")
        out["set_deleted"] = "accepted"
    except ResourceExistsError as e:
        out["set_deleted"] = e.status_code
    client.purge_deleted_secret(prefix + "-two")
    out["after_purge"] = sorted(p.name for p in client.list_properties_of_secrets() if p.name.startswith(prefix))
    out["token_scopes"] = list(credential.scopes)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
