import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { api, ENVELOPE_KEYS, type JsonBody } from "./helpers.ts";

describe("local Vault: sys endpoints, KV v1, sealing and faults", () => {
  let vault: LocalVault;

  beforeAll(async () => {
    vault = await startLocalVault({
      port: 0,
      mounts: [
        { path: "secret", version: 2 },
        { path: "legacy", version: 1 },
      ],
    });
  });
  afterAll(async () => {
    await vault.close();
  });

  it("reports health without a token, with Vault's status codes and overrides", async () => {
    const res = await fetch(`${vault.url}/v1/sys/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as JsonBody;
    expect(body).toMatchObject({
      initialized: true,
      sealed: false,
      standby: false,
      version: expect.any(String),
    });
    expect(body.cluster_name).toMatch(/^vault-cluster-/);
    expect((await fetch(`${vault.url}/v1/sys/health?activecode=204`)).status).toBe(204);
    const head = await fetch(`${vault.url}/v1/sys/health`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("lists mounts with KV versions (Vault's legacy top-level copy included) and enables new ones", async () => {
    const list = await api(vault, "GET", "sys/mounts");
    expect(list.status).toBe(200);
    expect(list.body.mount_type).toBe("system");
    expect(list.body.data["secret/"]).toMatchObject({ type: "kv", options: { version: "2" } });
    expect(list.body.data["legacy/"]).toMatchObject({ type: "kv", options: { version: "1" } });
    expect(list.body.data["secret/"].accessor).toMatch(/^kv_[0-9a-f]{8}$/);
    expect(list.body["secret/"]).toEqual(list.body.data["secret/"]);

    const enable = await api(vault, "POST", "sys/mounts/team-kv", { type: "kv", options: { version: "2" } });
    expect(enable.status).toBe(204);
    expect((await api(vault, "POST", "team-kv/data/x", { data: { a: "b" } })).body.data.version).toBe(1);
    expect((await api(vault, "GET", "sys/mounts/team-kv")).body.data.options).toEqual({ version: "2" });
    const ui = await api(vault, "GET", "sys/internal/ui/mounts/team-kv/data/x");
    expect(ui.body.data).toMatchObject({ path: "team-kv/", type: "kv", options: { version: "2" } });
    expect((await api(vault, "GET", "sys/internal/ui/mounts/nowhere/x")).status).toBe(403);

    const again = await api(vault, "POST", "sys/mounts/team-kv", { type: "kv-v2" });
    expect(again.status).toBe(400);
    expect(again.body).toEqual({ errors: ["path is already in use at team-kv/"] });
    const unknownType = await api(vault, "POST", "sys/mounts/pki", { type: "pki" });
    expect(unknownType.body).toEqual({ errors: ["plugin not found in the catalog: pki"] });
    expect((await api(vault, "DELETE", "sys/mounts/team-kv")).status).toBe(204);
    expect((await api(vault, "GET", "team-kv/data/x")).status).toBe(404);
  });

  it("serves KV v1: 204 writes, reads with the mount's lease, LIST, delete", async () => {
    expect((await api(vault, "PUT", "legacy/app/db", { user: "u", pass: "p" })).status).toBe(204);
    const read = await api(vault, "GET", "legacy/app/db");
    expect(Object.keys(read.body)).toEqual(ENVELOPE_KEYS);
    expect(read.body).toMatchObject({
      data: { user: "u", pass: "p" },
      lease_duration: 2764800,
      mount_type: "kv",
    });
    expect((await api(vault, "LIST", "legacy/app")).body.data).toEqual({ keys: ["db"] });
    expect((await api(vault, "GET", "legacy/?list=true")).body.data).toEqual({ keys: ["app/"] });
    expect((await api(vault, "DELETE", "legacy/app/db")).status).toBe(204);
    const gone = await api(vault, "GET", "legacy/app/db");
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual({ errors: [] });
    expect((await api(vault, "PUT", "legacy/app/empty", {})).body).toEqual({
      errors: ["missing data fields"],
    });
  });

  it("answers unknown routes, bad tokens and bad JSON as Vault does, never echoing the body", async () => {
    const noRoute = await api(vault, "GET", "nomount/x");
    expect(noRoute.status).toBe(404);
    expect(noRoute.body).toEqual({ errors: ['no handler for route "nomount/x". route entry not found.'] });
    const badToken = await api(vault, "GET", "secret/data/x", undefined, { "X-Vault-Token": "hvs.nope" });
    expect(badToken.status).toBe(403);
    expect(badToken.body).toEqual({ errors: ["permission denied"] });

    const res = await fetch(`${vault.url}/v1/secret/data/x`, {
      method: "POST",
      headers: { "X-Vault-Token": vault.rootToken },
      body: '{"data": {"password": "leaky-canary-value"',
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(JSON.parse(text).errors[0]).toContain("failed to parse JSON input");
    expect(text).not.toContain("leaky-canary-value");

    const bearer = await fetch(`${vault.url}/v1/auth/token/lookup-self`, {
      headers: { Authorization: `Bearer ${vault.rootToken}` },
    });
    expect(bearer.status).toBe(200);
  });

  it("when sealed, answers 503 Vault is sealed everywhere but sys/health and sys/seal-status", async () => {
    vault.seal();
    try {
      const read = await api(vault, "GET", "secret/data/x");
      expect(read.status).toBe(503);
      expect(read.body).toEqual({ errors: ["Vault is sealed"] });
      expect((await api(vault, "GET", "nomount/x")).status).toBe(503);
      await expect(vault.writeKv("secret", "x", { a: "b" })).rejects.toThrow(/Vault is sealed/);

      const health = await fetch(`${vault.url}/v1/sys/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ sealed: true, initialized: true });
      expect((await fetch(`${vault.url}/v1/sys/health?sealedcode=200`)).status).toBe(200);
      const status = await (await fetch(`${vault.url}/v1/sys/seal-status`)).json();
      expect(status).toMatchObject({ sealed: true, t: 1, n: 1, progress: 0 });
    } finally {
      vault.unseal();
    }
    expect((await fetch(`${vault.url}/v1/sys/health`)).status).toBe(200);
  });

  it("counts requests per operation and injects faults and latency per operation", async () => {
    vault.requests.reset();
    await api(vault, "POST", "secret/data/f/a", { data: { a: "1" } });
    await api(vault, "GET", "secret/data/f/a");
    await api(vault, "GET", "secret/data/f/a");
    await vault.writeKv("secret", "f/b", { a: "1" });
    expect(vault.requests.snapshot()).toEqual({ "kv2.read": 2, "kv2.write": 1 });

    vault.faults.inject({ operation: "kv2.read", status: 429, times: 1, retryAfterSeconds: 2 });
    const throttled = await api(vault, "GET", "secret/data/f/a");
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("retry-after")).toBe("2");
    expect(throttled.body.errors).toHaveLength(1);
    expect((await api(vault, "GET", "secret/data/f/a")).status).toBe(200);
    // Faults match their operation only.
    vault.faults.inject({ operation: "kv2.write", status: 500 });
    expect((await api(vault, "GET", "secret/data/f/a")).status).toBe(200);
    expect((await api(vault, "POST", "secret/data/f/a", { data: { a: "2" } })).body).toEqual({
      errors: ["internal error"],
    });
    vault.faults.clear();

    vault.faults.latencyMs = 60;
    const started = Date.now();
    await api(vault, "GET", "secret/data/f/a");
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    vault.faults.clear();
  });
});
