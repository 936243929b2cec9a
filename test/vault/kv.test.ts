import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import {
  createVaultSource,
  tokenAuth,
  VaultDeletedError,
  VaultInvalidError,
  VaultNotFoundError,
  VaultPermissionDeniedError,
  type VaultSource,
} from "../../shared/vault/index.ts";
import { rejectionOf } from "./helpers.ts";

let vault: LocalVault;
let source: VaultSource;

beforeAll(async () => {
  vault = await startLocalVault({
    port: 0,
    mounts: [
      { path: "secret", version: 2 },
      { path: "kv1", version: 1 },
      { path: "team/kv", version: 2 },
    ],
  });
  source = createVaultSource({ address: vault.url, auth: tokenAuth({ token: vault.rootToken }) });
});

afterAll(async () => {
  await source.close();
  await vault.close();
});

describe("KV v2", () => {
  it("reads the latest version and a given one, with created time and custom metadata", async () => {
    await vault.writeKv("secret", "app/db", { user: "app", password: "first" });
    await vault.writeKv("secret", "app/db", { user: "app", password: "second" });
    await vault.request("POST", "secret/metadata/app/db", { custom_metadata: { owner: "team-a" } });

    const latest = await source.read({ mount: "secret", path: "app/db" });
    expect(latest).toMatchObject({ mount: "secret", path: "app/db", version: 2 });
    expect(latest.data).toEqual({ user: "app", password: "second" });
    expect(latest.customMetadata).toEqual({ owner: "team-a" });
    expect(Date.parse(latest.createdTime!)).not.toBeNaN();

    const first = await source.read({ mount: "/secret/", path: "/app/db/" }, { version: 1 });
    expect(first.version).toBe(1);
    expect(first.data).toEqual({ user: "app", password: "first" });
  });

  it("reads metadata: versions, current version, settings and custom metadata", async () => {
    await vault.writeKv("secret", "meta/x", { a: "1" });
    await vault.writeKv("secret", "meta/x", { a: "2" });
    await vault.writeKv("secret", "meta/x", { a: "3" });
    await vault.request("POST", "secret/delete/meta/x", { versions: [1] });
    await vault.request("POST", "secret/destroy/meta/x", { versions: [2] });
    await vault.request("POST", "secret/metadata/meta/x", {
      max_versions: 5,
      custom_metadata: { env: "prod" },
    });

    const m = await source.readMetadata({ mount: "secret", path: "meta/x" });
    expect(m).toMatchObject({
      mount: "secret",
      path: "meta/x",
      currentVersion: 3,
      oldestVersion: 0,
      maxVersions: 5,
      casRequired: false,
      customMetadata: { env: "prod" },
    });
    expect(Object.keys(m.versions).sort()).toEqual(["1", "2", "3"]);
    expect(m.versions["1"]).toMatchObject({ version: 1, destroyed: false });
    expect(m.versions["1"]!.deletionTime).not.toBe("");
    expect(m.versions["2"]).toMatchObject({ version: 2, deletionTime: "", destroyed: true });
    expect(m.versions["3"]).toMatchObject({ version: 3, deletionTime: "", destroyed: false });
  });

  it("reports a soft-deleted version as Deleted, with its metadata", async () => {
    await vault.writeKv("secret", "gone/soft", { k: "v" });
    await vault.request("DELETE", "secret/data/gone/soft");
    const err = await rejectionOf(source.read({ mount: "secret", path: "gone/soft" }));
    expect(err).toBeInstanceOf(VaultDeletedError);
    const deleted = err as VaultDeletedError;
    expect(deleted.code).toBe("Deleted");
    expect(deleted.metadata).toMatchObject({ version: 1, destroyed: false });
    expect(Date.parse(deleted.metadata.deletionTime)).not.toBeNaN();
    expect(deleted.message).toContain("secret/data/gone/soft");
    expect(deleted.message).toContain("404");
  });

  it("reports a destroyed version as Deleted with destroyed: true, and other versions stay readable", async () => {
    await vault.writeKv("secret", "gone/hard", { k: "one" });
    await vault.writeKv("secret", "gone/hard", { k: "two" });
    await vault.request("POST", "secret/destroy/gone/hard", { versions: [2] });
    const err = await rejectionOf(source.read({ mount: "secret", path: "gone/hard" }));
    expect(err).toBeInstanceOf(VaultDeletedError);
    expect((err as VaultDeletedError).metadata).toMatchObject({
      version: 2,
      deletionTime: "",
      destroyed: true,
    });
    expect((await source.read({ mount: "secret", path: "gone/hard" }, { version: 1 })).data).toEqual({
      k: "one",
    });
  });

  it("reports missing secrets, versions and metadata as NotFound", async () => {
    await expect(source.read({ mount: "secret", path: "never/written" })).rejects.toBeInstanceOf(
      VaultNotFoundError,
    );
    await expect(source.readMetadata({ mount: "secret", path: "never/written" })).rejects.toBeInstanceOf(
      VaultNotFoundError,
    );
    await vault.writeKv("secret", "one-version", { k: "v" });
    await expect(
      source.read({ mount: "secret", path: "one-version" }, { version: 7 }),
    ).rejects.toBeInstanceOf(VaultNotFoundError);
  });

  it("a wrong mount or KV version is Invalid, never NotFound", async () => {
    const wrong = createVaultSource({
      address: vault.url,
      auth: tokenAuth({ token: vault.rootToken }),
      kvVersions: { nomount: 2, secret: 1 },
    });
    const unmounted = await rejectionOf(wrong.read({ mount: "nomount", path: "x" }));
    expect(unmounted).toBeInstanceOf(VaultInvalidError);
    expect(unmounted.message).toMatch(/^Vault GET nomount\/data\/x: HTTP 404 \(no handler for route/);
    const v1OnV2 = await rejectionOf(wrong.read({ mount: "secret", path: "app/db" }));
    expect(v1OnV2).toBeInstanceOf(VaultInvalidError);
    expect(v1OnV2.message).toMatch(
      /^Vault GET secret\/app\/db: HTTP 404 \(Invalid path for a versioned K\/V/,
    );
    await wrong.close();
  });

  it("rejects bad locations and versions before calling Vault", async () => {
    await expect(source.read({ mount: "secret", path: "" })).rejects.toBeInstanceOf(VaultInvalidError);
    await expect(source.read({ mount: "", path: "x" })).rejects.toBeInstanceOf(VaultInvalidError);
    await expect(source.read({ mount: "secret", path: "x" }, { version: 0 })).rejects.toThrow(
      /positive integer/,
    );
  });

  it("lists one level (folders end in /) and recursively (full paths of every secret)", async () => {
    for (const p of ["list/a", "list/b/c", "list/b/d/e", "list/b/d/f", "list/g/h", "list/b"]) {
      await vault.writeKv("secret", p, { v: p });
    }
    expect(await source.list({ mount: "secret", path: "list" })).toEqual(["a", "b", "b/", "g/"]);
    expect(await source.list({ mount: "secret", path: "list/" }, { recursive: true })).toEqual([
      "list/a",
      "list/b",
      "list/b/c",
      "list/b/d/e",
      "list/b/d/f",
      "list/g/h",
    ]);
    expect(await source.list({ mount: "secret", path: "list/nothing-here" })).toEqual([]);
    expect(await source.list({ mount: "secret", path: "list/nothing-here" }, { recursive: true })).toEqual(
      [],
    );
  });

  it("lists a whole mount recursively, with bounded concurrency", async () => {
    for (let i = 0; i < 40; i++) await vault.writeKv("team/kv", `f${i}/s`, { i: String(i) });
    await vault.writeKv("team/kv", "top", { v: "1" });
    vault.faults.latencyMs = 40;
    const before = vault.requests.get("kv2.list");
    const started = Date.now();
    const all = await source.list({ mount: "team/kv", path: "" }, { recursive: true });
    const elapsed = Date.now() - started;
    vault.faults.clear();
    expect(all).toHaveLength(41);
    expect(all).toContain("f39/s");
    expect(all).toContain("top");
    expect(vault.requests.get("kv2.list") - before).toBe(41);
    // 41 listings at 40 ms each: 1640 ms one by one, 80 ms all at once (root, then 40
    // folders), 240 ms eight at a time (root, then 5 rounds).
    expect(elapsed).toBeLessThan(1000);
    expect(elapsed).toBeGreaterThanOrEqual(230);
  });
});

describe("KV v1", () => {
  it("reads and lists, with version 0 and no metadata", async () => {
    await vault.writeKv("kv1", "svc/api", { key: "abc" });
    await vault.writeKv("kv1", "svc/deep/x", { key: "def" });
    const s = await source.read({ mount: "kv1", path: "svc/api" });
    expect(s).toEqual({ mount: "kv1", path: "svc/api", version: 0, data: { key: "abc" } });
    expect(await source.list({ mount: "kv1", path: "svc" })).toEqual(["api", "deep/"]);
    expect(await source.list({ mount: "kv1", path: "svc" }, { recursive: true })).toEqual([
      "svc/api",
      "svc/deep/x",
    ]);
    await expect(source.read({ mount: "kv1", path: "svc/missing" })).rejects.toBeInstanceOf(
      VaultNotFoundError,
    );
    await expect(source.read({ mount: "kv1", path: "svc/api" }, { version: 1 })).rejects.toBeInstanceOf(
      VaultInvalidError,
    );
    await expect(source.readMetadata({ mount: "kv1", path: "svc/api" })).rejects.toBeInstanceOf(
      VaultInvalidError,
    );
  });
});

describe("KV version of a mount", () => {
  it("is asked from Vault once per mount, and comes from the options when given", async () => {
    const counted = createVaultSource({ address: vault.url, auth: tokenAuth({ token: vault.rootToken }) });
    const asked = (): number => vault.requests.get("sys.internal");
    const before = asked();
    expect(await Promise.all([counted.kvVersion("secret"), counted.kvVersion("secret/")])).toEqual([2, 2]);
    expect(await counted.kvVersion("kv1")).toBe(1);
    expect(await counted.kvVersion("team/kv")).toBe(2);
    await counted.read({ mount: "kv1", path: "svc/api" });
    expect(asked() - before).toBe(3);
    await counted.close();

    const told = createVaultSource({
      address: vault.url,
      auth: tokenAuth({ token: vault.rootToken }),
      kvVersions: { "kv1/": 1 },
    });
    const again = asked();
    expect((await told.read({ mount: "kv1", path: "svc/api" })).data).toEqual({ key: "abc" });
    expect(asked()).toBe(again);
    await told.close();
  });

  it("names unknown mounts and paths inside a mount", async () => {
    await expect(source.kvVersion("nope")).rejects.toBeInstanceOf(VaultPermissionDeniedError);
    await expect(source.kvVersion("nope")).rejects.toThrow(/Vault mount nope: no such mount/);
    await expect(source.kvVersion("secret/app")).rejects.toThrow(/not a mount path \(it lies in secret\/\)/);
  });
});
