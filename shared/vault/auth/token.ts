import { VaultInvalidError } from "../types.ts";
import { readCredentialFile, type VaultAuth } from "./types.ts";

/**
 * Token auth: a token given as a string, or read from a file (such as ~/.vault-token or a
 * Vault Agent sink) at every login so that a rewritten file is picked up. "Logging in"
 * asks Vault for the token's remaining TTL and whether it is renewable.
 */
export function tokenAuth(source: { token: string } | { file: string }): VaultAuth {
  if ("token" in source && source.token.trim() === "") {
    throw new VaultInvalidError("token auth: the token is empty");
  }
  return {
    method: "token",
    async login(client) {
      const token =
        "token" in source ? source.token.trim() : await readCredentialFile(source.file, "Vault token");
      return client.lookupSelf(token);
    },
  };
}
