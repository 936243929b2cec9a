import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import {
  appRoleAuth,
  createVaultSource,
  tokenAuth,
  VaultInvalidError,
  VaultPermissionDeniedError,
  type VaultSource,
} from "../../shared/vault/index.ts";
import { rejectionOf } from "./helpers.ts";

let vault: LocalVault;
const open: VaultSource[] = [];

beforeAll(async () => {
  vault = await startLocalVault({ port: 0, namespaces: true });
  await vault.createNamespace("team-a");
  const mounted = await vault.request(
    "POST",
    "sys/mounts/kv",
    { type: "kv", options: { version: "2" } },
    {
      namespace: "team-a",
    },
  );
  expect(mounted.status).toBe(204);
  await vault.writeKv("kv", "app/db", { owner: "team-a" }, { namespace: "team-a" });
  await vault.request("POST", "sys/mounts/kv", { type: "kv", options: { version: "1" } });
  await vault.writeKv("kv", "app/db", { owner: "root" });
});

afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  await vault.close();
});

function track(s: VaultSource): VaultSource {
  open.push(s);
  return s;
}

describe("Vault Enterprise namespaces", () => {
  it("reads, lists and learns KV versions inside the namespace given in the options", async () => {
    const token = await vault.createToken({ namespace: "team-a", ttl: 600 });
    const inNs = track(
      createVaultSource({ address: vault.url, namespace: "team-a", auth: tokenAuth({ token }) }),
    );
    expect(await inNs.kvVersion("kv")).toBe(2);
    const s = await inNs.read({ mount: "kv", path: "app/db" });
    expect(s).toMatchObject({ version: 1, data: { owner: "team-a" } });
    expect(await inNs.list({ mount: "kv", path: "" }, { recursive: true })).toEqual(["app/db"]);

    const atRoot = track(
      createVaultSource({ address: vault.url, auth: tokenAuth({ token: vault.rootToken }) }),
    );
    expect(await atRoot.kvVersion("kv")).toBe(1);
    expect((await atRoot.read({ mount: "kv", path: "app/db" })).data).toEqual({ owner: "root" });
  });

  it("logs in inside the namespace, and a namespace token is refused elsewhere", async () => {
    const role = await vault.addAppRole({ name: "ns-app", namespace: "team-a" });
    const inNs = track(
      createVaultSource({ address: vault.url, namespace: "team-a", auth: appRoleAuth(role) }),
    );
    expect((await inNs.read({ mount: "kv", path: "app/db" })).data).toEqual({ owner: "team-a" });

    const outside = track(
      createVaultSource({ address: vault.url, auth: appRoleAuth(role), kvVersions: { kv: 1 } }),
    );
    // AppRole is enabled in team-a only: at the root there is no such auth mount.
    const err = await rejectionOf(outside.read({ mount: "kv", path: "app/db" }));
    expect(err).toBeInstanceOf(VaultInvalidError);
    expect(err.message).toMatch(/^Vault POST auth\/approle\/login: HTTP 404 \(no handler for route/);

    const token = await vault.createToken({ namespace: "team-a", ttl: 600 });
    const wrongNs = track(
      createVaultSource({ address: vault.url, auth: tokenAuth({ token }), kvVersions: { kv: 1 } }),
    );
    await expect(wrongNs.read({ mount: "kv", path: "app/db" })).rejects.toBeInstanceOf(
      VaultPermissionDeniedError,
    );
  });
});
