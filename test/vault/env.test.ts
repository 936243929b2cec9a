import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { VaultLoginClient } from "../../shared/vault/auth/types.ts";
import { authFromEnv, DEFAULT_VAULT_ADDR, VaultInvalidError } from "../../shared/vault/index.ts";

const dir = mkdtempSync(join(tmpdir(), "pushsync-vault-env-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Records which token a token-auth login would look up, without any Vault. */
const recorder = (): VaultLoginClient & { seen: string[] } => {
  const seen: string[] = [];
  return {
    seen,
    login: () => Promise.reject(new Error("not a login method")),
    lookupSelf: async (token) => {
      seen.push(token);
      return { token, ttlSeconds: 0, renewable: false };
    },
  };
};

describe("authFromEnv", () => {
  it("reads address, namespace, CA file, skip-verify and VAULT_TOKEN", async () => {
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const options = authFromEnv({
      VAULT_ADDR: "https://vault.internal:8200",
      VAULT_NAMESPACE: "team-a",
      VAULT_CACERT: ca,
      VAULT_SKIP_VERIFY: "true",
      VAULT_TOKEN: "s.from-env",
      HOME: dir,
    });
    expect(options).toMatchObject({
      address: "https://vault.internal:8200",
      namespace: "team-a",
      caBundle: expect.stringContaining("BEGIN CERTIFICATE"),
      insecureSkipVerify: true,
    });
    const client = recorder();
    await options.auth.login(client);
    expect(client.seen).toEqual(["s.from-env"]);
  });

  it("defaults like the Vault CLI and falls back to ~/.vault-token, read at login", async () => {
    const options = authFromEnv({ HOME: dir });
    expect(options.address).toBe(DEFAULT_VAULT_ADDR);
    expect(options.namespace).toBeUndefined();
    expect(options.insecureSkipVerify).toBeUndefined();
    await expect(options.auth.login(recorder())).rejects.toThrow(/\.vault-token \(ENOENT\)/);
    writeFileSync(join(dir, ".vault-token"), "s.from-file\n");
    const client = recorder();
    await options.auth.login(client);
    expect(client.seen).toEqual(["s.from-file"]);
  });

  it("parses VAULT_SKIP_VERIFY as Go's ParseBool does", () => {
    expect(authFromEnv({ HOME: dir, VAULT_SKIP_VERIFY: "0" }).insecureSkipVerify).toBe(false);
    expect(authFromEnv({ HOME: dir, VAULT_SKIP_VERIFY: "T" }).insecureSkipVerify).toBe(true);
    expect(() => authFromEnv({ HOME: dir, VAULT_SKIP_VERIFY: "yes" })).toThrow(VaultInvalidError);
  });

  it("names the variable and file when a PEM file cannot be read", () => {
    const missing = join(dir, "missing.pem");
    expect(() => authFromEnv({ HOME: dir, VAULT_CACERT: missing })).toThrow(
      `VAULT_CACERT: cannot read ${missing}`,
    );
    expect(() => authFromEnv({ HOME: dir, VAULT_CLIENT_CERT: missing })).toThrow(/set together/);
  });
});
