import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { api, until, type JsonBody } from "./helpers.ts";

/** A TCP server standing in for a log collector: one JSON entry per line. */
async function collector(): Promise<{
  port: number;
  entries: JsonBody[];
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}> {
  const entries: JsonBody[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let buffered = "";
    socket.on("data", (chunk) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) entries.push(JSON.parse(line));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    entries,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const canary = "canary-3c1d7a-audited-value";

describe("local Vault: audit devices", () => {
  let vault: LocalVault;
  let logs: Awaited<ReturnType<typeof collector>>;
  let dir: string;

  beforeAll(async () => {
    vault = await startLocalVault({ port: 0 });
    logs = await collector();
    dir = await mkdtemp(join(tmpdir(), "local-vault-audit-"));
    const enable = await api(vault, "PUT", "sys/audit/sock", {
      type: "socket",
      options: { address: `127.0.0.1:${logs.port}`, socket_type: "tcp", format: "json" },
    });
    expect(enable.status).toBe(204);
  });
  afterAll(async () => {
    await vault.close();
    await logs.close();
    await rm(dir, { recursive: true, force: true });
  });

  const entriesFor = (path: string) => logs.entries.filter((e) => e.request?.path === path);

  it("lists the device and hashes with its salt on sys/audit-hash", async () => {
    const list = await api(vault, "GET", "sys/audit");
    expect(list.body.data["sock/"]).toEqual({
      description: "",
      local: false,
      options: { address: `127.0.0.1:${logs.port}`, socket_type: "tcp", format: "json" },
      path: "sock/",
      type: "socket",
    });
    const h1 = await api(vault, "POST", "sys/audit-hash/sock", { input: "x" });
    expect(h1.body.data.hash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(h1.body.hash).toBe(h1.body.data.hash);
    expect((await api(vault, "POST", "sys/audit-hash/sock", { input: "y" })).body.data.hash).not.toBe(
      h1.body.data.hash,
    );
  });

  it("writes a request and a response entry for a KV write, field by field, with HMAC'd values", async () => {
    const write = await api(vault, "POST", "secret/data/audited", { data: { password: canary } });
    expect(write.status).toBe(200);
    await until(() => entriesFor("secret/data/audited").length >= 2);
    const [request, response] = entriesFor("secret/data/audited");
    const hash = async (input: string) =>
      (await api(vault, "POST", "sys/audit-hash/sock", { input })).body.data.hash;
    const accessor = (await api(vault, "GET", "auth/token/lookup-self")).body.data.accessor;
    const mountAccessor = (await api(vault, "GET", "sys/mounts")).body.data["secret/"].accessor;

    expect(Object.keys(request)).toEqual(["time", "type", "auth", "request"]);
    expect(request.type).toBe("request");
    expect(Date.parse(request.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(request.auth).toEqual({
      client_token: await hash("root"),
      accessor: await hash(accessor),
      display_name: "root",
      policies: ["root"],
      token_policies: ["root"],
      policy_results: {
        allowed: true,
        granting_policies: [{ name: "root", namespace_id: "root", type: "acl" }],
      },
      token_type: "service",
      token_issue_time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    expect(request.request).toEqual({
      id: write.body.request_id,
      operation: "create",
      mount_point: "secret/",
      mount_type: "kv",
      mount_accessor: mountAccessor,
      mount_running_version: expect.stringMatching(/^v\d+\.\d+\.\d+\+builtin$/),
      mount_class: "secret",
      client_token: await hash("root"),
      client_token_accessor: await hash(accessor),
      namespace: { id: "root" },
      path: "secret/data/audited",
      data: { data: { password: await hash(canary) } },
      remote_address: "127.0.0.1",
      remote_port: expect.any(Number),
    });

    expect(response.type).toBe("response");
    expect(response.request).toEqual(request.request);
    expect(response.response).toEqual({
      mount_point: "secret/",
      mount_type: "kv",
      mount_accessor: mountAccessor,
      mount_running_plugin_version: request.request.mount_running_version,
      mount_class: "secret",
      data: {
        created_time: await hash(write.body.data.created_time),
        custom_metadata: null,
        deletion_time: await hash(""),
        destroyed: false,
        version: 1,
      },
    });
    expect(logs.entries.map((e) => JSON.stringify(e)).join("\n")).not.toContain(canary);

    await api(vault, "POST", "secret/data/audited", { data: { password: "second" } });
    await until(() => entriesFor("secret/data/audited").length >= 4);
    expect(entriesFor("secret/data/audited")[2].request.operation).toBe("update");
    expect(entriesFor("secret/data/audited")[3].response.data.version).toBe(2);
  });

  it("audits logins: credentials HMAC'd in the request, the new token in response.auth", async () => {
    const { roleId, secretId } = await vault.addAppRole({ name: "audited", policies: ["p"] });
    const login = await api(
      vault,
      "POST",
      "auth/approle/login",
      { role_id: roleId, secret_id: secretId },
      { "X-Vault-Token": "" },
    );
    expect(login.status).toBe(200);
    await until(() => entriesFor("auth/approle/login").length >= 2);
    const [request, response] = entriesFor("auth/approle/login");
    const hash = async (input: string) =>
      (await api(vault, "POST", "sys/audit-hash/sock", { input })).body.data.hash;
    expect(request.auth).toEqual({ policy_results: { allowed: true }, token_type: "default" });
    expect(request.request).toMatchObject({
      mount_point: "auth/approle/",
      mount_type: "approle",
      mount_class: "auth",
      data: { role_id: await hash(roleId), secret_id: await hash(secretId) },
    });
    expect(response.response.auth).toMatchObject({
      client_token: await hash(login.body.auth.client_token),
      accessor: await hash(login.body.auth.accessor),
      display_name: "approle",
      policies: ["default", "p"],
      metadata: { role_name: "audited" },
      token_type: "service",
    });
  });

  it("redials the socket after the collector drops the connection", async () => {
    await until(() => logs.sockets.size === 1);
    for (const s of logs.sockets) s.destroy();
    await until(() => logs.sockets.size === 0);
    expect((await api(vault, "POST", "secret/data/after-drop", { data: { a: "b" } })).status).toBe(200);
    await until(() => entriesFor("secret/data/after-drop").length >= 2);
  });

  it("writes file devices, with plain accessors when hmac_accessor is false", async () => {
    const file = join(dir, "audit.log");
    const enable = await api(vault, "POST", "sys/audit/file", {
      type: "file",
      options: { file_path: file, hmac_accessor: "false" },
    });
    expect(enable.status).toBe(204);
    await api(vault, "POST", "secret/data/to-file", { data: { password: canary } });
    await until(() =>
      logs.entries.some((e) => e.request?.path === "secret/data/to-file" && e.type === "response"),
    );
    const lines = (await readFile(file, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const request = lines.find((l) => l.type === "request" && l.request.path === "secret/data/to-file");
    const accessor = (await api(vault, "GET", "auth/token/lookup-self")).body.data.accessor;
    expect(request.auth.accessor).toBe(accessor);
    const fileHash = (await api(vault, "POST", "sys/audit-hash/file", { input: canary })).body.data.hash;
    expect(request.request.data.data.password).toBe(fileHash);
    expect(fileHash).not.toBe(
      (await api(vault, "POST", "sys/audit-hash/sock", { input: canary })).body.data.hash,
    );
    expect((await api(vault, "DELETE", "sys/audit/file")).status).toBe(204);
  });

  it("fails requests with 500 when no audit device can log them, unless audit is lenient", async () => {
    const port = await unusedPort();
    for (const strictAudit of [true, false]) {
      const v = await startLocalVault({ port: 0, strictAudit });
      try {
        await api(v, "PUT", "sys/audit/gone", { type: "socket", options: { address: `127.0.0.1:${port}` } });
        const r = await api(v, "POST", "secret/data/x", { data: { a: "b" } });
        if (strictAudit) {
          expect(r.status).toBe(500);
          expect(r.body).toEqual({ errors: ["internal error"] });
        } else {
          expect(r.status).toBe(200);
        }
      } finally {
        await v.close();
      }
    }
  });
});
