import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  readSecretRef,
  secretRefLocations,
  vaultTokenSource,
  type SecretStore,
} from "../../shared/spec/index.ts";
import { load, removeTempDirs } from "./helpers.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pushsync-refs-"));
  await mkdir(join(dir, "default", "vault-token"), { recursive: true });
  await writeFile(join(dir, "default", "vault-token", "token"), "file-token\n");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await removeTempDirs();
});

describe("Secret references outside Kubernetes", () => {
  it("names an environment variable and a file per reference", () => {
    expect(
      secretRefLocations({ name: "vault-token", key: "token" }, "default", { PUSHSYNC_SECRETS_DIR: dir }),
    ).toEqual({
      env: "PUSHSYNC_SECRET_DEFAULT_VAULT_TOKEN_TOKEN",
      file: join(dir, "default", "vault-token", "token"),
    });
    expect(
      secretRefLocations({ name: "azure", key: "client.secret", namespace: "team-a" }, "default", {}),
    ).toEqual({
      env: "PUSHSYNC_SECRET_TEAM_A_AZURE_CLIENT_SECRET",
      file: join(".pushsync", "secrets", "team-a", "azure", "client.secret"),
    });
  });

  it("reads the variable first, then the file, else nothing", async () => {
    const ref = { name: "vault-token", key: "token" };
    expect(await readSecretRef(ref, "default", { PUSHSYNC_SECRETS_DIR: dir })).toBe("file-token");
    expect(
      await readSecretRef(ref, "default", {
        PUSHSYNC_SECRETS_DIR: dir,
        PUSHSYNC_SECRET_DEFAULT_VAULT_TOKEN_TOKEN: "env-token",
      }),
    ).toBe("env-token");
    expect(
      await readSecretRef({ name: "missing", key: "x" }, "default", { PUSHSYNC_SECRETS_DIR: dir }),
    ).toBeUndefined();
  });

  it("gives a Vault store's token from its tokenSecretRef, VAULT_TOKEN, then ~/.vault-token", async () => {
    const { manifests } = await load("");
    const cluster = manifests.stores.find((s) => s.metadata.name === "vault-secretstore")!;
    expect(await vaultTokenSource(cluster, "default", { PUSHSYNC_SECRETS_DIR: dir })).toEqual({
      token: "file-token",
    });
    const empty = join(dir, "nothing");
    expect(
      await vaultTokenSource(cluster, "default", { PUSHSYNC_SECRETS_DIR: empty, VAULT_TOKEN: "root" }),
    ).toEqual({
      token: "root",
    });
    expect(
      await vaultTokenSource(cluster, "default", { PUSHSYNC_SECRETS_DIR: empty, HOME: "/home/me" }),
    ).toEqual({
      file: "/home/me/.vault-token",
    });
    const noAuth: SecretStore = {
      ...cluster,
      spec: { provider: { vault: { server: "http://x", version: "v2" } } },
    };
    expect(await vaultTokenSource(noAuth, "default", { VAULT_TOKEN: "root" })).toEqual({ token: "root" });
    const approle = manifests.stores.find((s) => s.metadata.namespace === "argocd")!;
    await expect(vaultTokenSource(approle, "argocd", {})).rejects.toThrow(
      "store vault-backend uses appRole auth, not a token",
    );
  });
});
