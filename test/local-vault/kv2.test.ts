import nodeVault from "node-vault";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { api, ENVELOPE_KEYS } from "./helpers.ts";

describe("local Vault: KV v2", () => {
  let vault: LocalVault;

  beforeAll(async () => {
    vault = await startLocalVault({ port: 0 });
  });
  afterAll(async () => {
    await vault.close();
  });

  it("answers a write with Vault's envelope and the version's metadata", async () => {
    const r = await api(vault, "POST", "secret/data/env/one", { data: { password: "pw-1" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(Object.keys(r.body)).toEqual(ENVELOPE_KEYS);
    expect(r.body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.body).toMatchObject({
      lease_id: "",
      renewable: false,
      lease_duration: 0,
      wrap_info: null,
      warnings: null,
      auth: null,
      mount_type: "kv",
    });
    expect(Object.keys(r.body.data)).toEqual([
      "created_time",
      "custom_metadata",
      "deletion_time",
      "destroyed",
      "version",
    ]);
    expect(r.body.data).toMatchObject({
      custom_metadata: null,
      deletion_time: "",
      destroyed: false,
      version: 1,
    });
    expect(Date.parse(r.body.data.created_time)).toBeGreaterThan(Date.now() - 60_000);

    const read = await api(vault, "GET", "secret/data/env/one");
    expect(read.status).toBe(200);
    expect(read.body.data.data).toEqual({ password: "pw-1" });
    expect(read.body.data.metadata).toEqual(r.body.data);
  });

  it("reads older versions with ?version= and answers 404 {errors: []} for missing paths and versions", async () => {
    await api(vault, "POST", "secret/data/ver/a", { data: { v: "1" } });
    await api(vault, "POST", "secret/data/ver/a", { data: { v: "2" } });
    expect((await api(vault, "GET", "secret/data/ver/a")).body.data.data).toEqual({ v: "2" });
    expect((await api(vault, "GET", "secret/data/ver/a?version=1")).body.data.data).toEqual({ v: "1" });
    for (const path of ["secret/data/ver/a?version=9", "secret/data/ver/missing"]) {
      const r = await api(vault, "GET", path);
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ errors: [] });
    }
  });

  it("enforces check-and-set with Vault's messages", async () => {
    expect(
      (await api(vault, "POST", "secret/data/cas/a", { options: { cas: 0 }, data: { a: "1" } })).status,
    ).toBe(200);
    const again = await api(vault, "POST", "secret/data/cas/a", { options: { cas: 0 }, data: { a: "2" } });
    expect(again.status).toBe(400);
    expect(again.body).toEqual({ errors: ["check-and-set parameter did not match the current version"] });
    expect(
      (await api(vault, "POST", "secret/data/cas/a", { options: { cas: 1 }, data: { a: "2" } })).body.data
        .version,
    ).toBe(2);

    expect((await api(vault, "POST", "secret/metadata/cas/a", { cas_required: true })).status).toBe(204);
    const without = await api(vault, "POST", "secret/data/cas/a", { data: { a: "3" } });
    expect(without.status).toBe(400);
    expect(without.body).toEqual({ errors: ["check-and-set parameter required for this call"] });
  });

  it("patches with JSON merge patch into a new version, and only with the merge-patch content type", async () => {
    await api(vault, "POST", "secret/data/patch/a", {
      data: { keep: "k", drop: "d", nested: { x: "1", y: "2" } },
    });
    const r = await api(vault, "PATCH", "secret/data/patch/a", {
      data: { drop: null, nested: { y: "3" }, add: "n" },
    });
    expect(r.status).toBe(200);
    expect(r.body.data.version).toBe(2);
    const read = await api(vault, "GET", "secret/data/patch/a");
    expect(read.body.data.data).toEqual({ keep: "k", nested: { x: "1", y: "3" }, add: "n" });

    const wrongType = await api(
      vault,
      "PATCH",
      "secret/data/patch/a",
      { data: { a: "b" } },
      { "Content-Type": "application/json" },
    );
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.errors[0]).toContain("application/merge-patch+json");
    const missing = await api(vault, "PATCH", "secret/data/patch/none", { data: { a: "b" } });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ errors: [] });
  });

  it("soft-deletes, undeletes and destroys versions with Vault's 404 bodies", async () => {
    await api(vault, "POST", "secret/data/life/a", { data: { v: "1" } });
    await api(vault, "POST", "secret/data/life/a", { data: { v: "2" } });

    expect((await api(vault, "DELETE", "secret/data/life/a")).status).toBe(204);
    const deleted = await api(vault, "GET", "secret/data/life/a");
    expect(deleted.status).toBe(404);
    expect(Object.keys(deleted.body)).toEqual(ENVELOPE_KEYS);
    expect(deleted.body.data.data).toBeNull();
    expect(deleted.body.data.metadata).toMatchObject({ version: 2, destroyed: false });
    expect(Date.parse(deleted.body.data.metadata.deletion_time)).toBeLessThanOrEqual(Date.now());
    expect((await api(vault, "GET", "secret/data/life/a?version=1")).body.data.data).toEqual({ v: "1" });

    expect((await api(vault, "POST", "secret/undelete/life/a", { versions: [2] })).status).toBe(204);
    expect((await api(vault, "GET", "secret/data/life/a")).body.data.data).toEqual({ v: "2" });

    expect((await api(vault, "POST", "secret/delete/life/a", { versions: [1] })).status).toBe(204);
    expect((await api(vault, "GET", "secret/data/life/a?version=1")).status).toBe(404);

    expect((await api(vault, "POST", "secret/destroy/life/a", { versions: [2] })).status).toBe(204);
    const destroyed = await api(vault, "GET", "secret/data/life/a");
    expect(destroyed.status).toBe(404);
    expect(destroyed.body.data).toMatchObject({
      data: null,
      metadata: { version: 2, destroyed: true, deletion_time: "" },
    });
    // A destroyed version cannot be undeleted.
    await api(vault, "POST", "secret/undelete/life/a", { versions: [2] });
    expect((await api(vault, "GET", "secret/data/life/a")).status).toBe(404);

    const noVersions = await api(vault, "POST", "secret/delete/life/a", {});
    expect(noVersions.status).toBe(400);
    expect(noVersions.body).toEqual({ errors: ["No version number provided"] });
  });

  it("lists with LIST and with GET ?list=true: folders end in /, nothing there is 404", async () => {
    for (const p of ["list/a", "list/b/c", "list/b/d", "list/e/f/g"]) {
      await api(vault, "POST", `secret/data/${p}`, { data: { x: "y" } });
    }
    const viaList = await api(vault, "LIST", "secret/metadata/list");
    expect(viaList.status).toBe(200);
    expect(viaList.body.data).toEqual({ keys: ["a", "b/", "e/"] });
    expect(viaList.body.mount_type).toBe("kv");
    const viaGet = await api(vault, "GET", "secret/metadata/list/b/?list=true");
    expect(viaGet.body.data).toEqual({ keys: ["c", "d"] });
    const empty = await api(vault, "LIST", "secret/metadata/list/nothing");
    expect(empty.status).toBe(404);
    expect(empty.body).toEqual({ errors: [] });
  });

  it("keeps max_versions versions, trimming the oldest, and reports them in metadata", async () => {
    await api(vault, "POST", "secret/metadata/trim/a", {
      max_versions: 2,
      custom_metadata: { owner: "team-a" },
    });
    for (let i = 1; i <= 4; i++) await api(vault, "POST", "secret/data/trim/a", { data: { i: String(i) } });
    const meta = await api(vault, "GET", "secret/metadata/trim/a");
    expect(meta.status).toBe(200);
    expect(meta.body.data).toMatchObject({
      cas_required: false,
      current_version: 4,
      oldest_version: 3,
      max_versions: 2,
      delete_version_after: "0s",
      custom_metadata: { owner: "team-a" },
    });
    expect(Object.keys(meta.body.data.versions)).toEqual(["3", "4"]);
    expect(meta.body.data.versions["4"]).toEqual({
      created_time: expect.any(String),
      deletion_time: "",
      destroyed: false,
    });
    expect((await api(vault, "GET", "secret/data/trim/a?version=2")).status).toBe(404);
    // custom_metadata shows on data reads too.
    expect((await api(vault, "GET", "secret/data/trim/a")).body.data.metadata.custom_metadata).toEqual({
      owner: "team-a",
    });
  });

  it("patches and deletes metadata; delete removes every version", async () => {
    await api(vault, "POST", "secret/data/meta/a", { data: { x: "1" } });
    await api(vault, "POST", "secret/metadata/meta/a", { custom_metadata: { a: "1", b: "2" } });
    expect(
      (await api(vault, "PATCH", "secret/metadata/meta/a", { custom_metadata: { a: null, c: "3" } })).status,
    ).toBe(204);
    expect((await api(vault, "GET", "secret/metadata/meta/a")).body.data.custom_metadata).toEqual({
      b: "2",
      c: "3",
    });
    expect((await api(vault, "DELETE", "secret/metadata/meta/a")).status).toBe(204);
    expect((await api(vault, "GET", "secret/metadata/meta/a")).status).toBe(404);
    expect((await api(vault, "GET", "secret/data/meta/a")).status).toBe(404);
  });

  it("rejects oversized custom metadata naming the key and the limit, not the value", async () => {
    const value = "v".repeat(600);
    const r = await api(vault, "POST", "secret/metadata/meta/big", { custom_metadata: { big: value } });
    expect(r.status).toBe(400);
    expect(r.body.errors[0]).toContain('length of value for key "big" is 600');
    expect(JSON.stringify(r.body)).not.toContain(value);
  });

  it("applies delete_version_after and the mount config", async () => {
    const w = await api(vault, "POST", "secret/metadata/dva/a", { delete_version_after: "1h" });
    expect(w.status).toBe(204);
    const r = await api(vault, "POST", "secret/data/dva/a", { data: { x: "1" } });
    const created = Date.parse(r.body.data.created_time);
    expect(Date.parse(r.body.data.deletion_time) - created).toBe(3_600_000);
    expect((await api(vault, "GET", "secret/data/dva/a")).status).toBe(200);
    expect((await api(vault, "GET", "secret/metadata/dva/a")).body.data.delete_version_after).toBe("1h0m0s");

    expect((await api(vault, "POST", "secret/config", { max_versions: 3, cas_required: false })).status).toBe(
      204,
    );
    expect((await api(vault, "GET", "secret/config")).body.data).toEqual({
      cas_required: false,
      delete_version_after: "0s",
      max_versions: 3,
    });
    await api(vault, "POST", "secret/config", { max_versions: 0 });
  });

  it("shows a secret's shape on subkeys and warns on KV v1 style paths", async () => {
    await api(vault, "POST", "secret/data/shape/a", { data: { a: "1", b: { c: "2" }, e: {} } });
    const sub = await api(vault, "GET", "secret/subkeys/shape/a");
    expect(sub.body.data.subkeys).toEqual({ a: null, b: { c: null }, e: null });
    const v1Style = await api(vault, "GET", "secret/shape/a");
    expect(v1Style.status).toBe(404);
    expect(v1Style.body.data).toBeNull();
    expect(v1Style.body.warnings[0]).toContain("Invalid path for a versioned K/V secrets engine");
  });

  it("works with the node-vault client, including LIST and PATCH", async () => {
    const client = nodeVault({ endpoint: vault.url, token: vault.rootToken });
    const w = await client.write("secret/data/nv/one", { data: { user: "u", pass: "p" } });
    expect(w.data.version).toBe(1);
    expect((await client.read("secret/data/nv/one")).data.data).toEqual({ user: "u", pass: "p" });
    await client.update("secret/data/nv/one", { data: { pass: "q" } });
    expect((await client.read("secret/data/nv/one")).data.data).toEqual({ user: "u", pass: "q" });
    expect((await client.list("secret/metadata/nv")).data.keys).toEqual(["one"]);
    await client.delete("secret/metadata/nv/one");
    await expect(client.read("secret/data/nv/one")).rejects.toMatchObject({ response: { statusCode: 404 } });
  });
});
