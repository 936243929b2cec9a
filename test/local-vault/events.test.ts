import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { api, until, type JsonBody } from "./helpers.ts";

interface Subscription {
  events: JsonBody[];
  close(): void;
}

async function subscribe(
  vault: LocalVault,
  pattern: string,
  options: { token?: string; query?: string; namespace?: string } = {},
): Promise<Subscription> {
  const ws = new WebSocket(
    `${vault.url.replace("http", "ws")}/v1/sys/events/subscribe/${pattern}?json=true${options.query ?? ""}`,
    {
      headers: {
        "X-Vault-Token": options.token ?? vault.rootToken,
        ...(options.namespace ? { "X-Vault-Namespace": options.namespace } : {}),
      },
    },
  );
  const events: JsonBody[] = [];
  ws.on("message", (data) => events.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (req, res) => {
      req.destroy();
      reject(new Error(`refused with ${res.statusCode}`));
    });
    ws.once("error", reject);
  });
  return { events, close: () => ws.close() };
}

describe("local Vault: event notifications", () => {
  let vault: LocalVault;

  beforeAll(async () => {
    vault = await startLocalVault({
      port: 0,
      namespaces: true,
      mounts: [
        { path: "secret", version: 2 },
        { path: "legacy", version: 1 },
      ],
    });
  });
  afterAll(async () => {
    await vault.close();
  });

  it("streams a KV v2 write as Vault's CloudEvent, field by field", async () => {
    const sub = await subscribe(vault, "kv-v2/data-write");
    const version = await vault.writeKv("secret", "app/db", { password: "never-in-events" });
    await until(() => sub.events.length === 1);
    const e = sub.events[0]!;
    const mountAccessor = (await api(vault, "GET", "sys/mounts")).body.data["secret/"].accessor;
    expect(Object.keys(e)).toEqual(["id", "source", "specversion", "type", "data", "datacontentype", "time"]);
    expect(e).toMatchObject({
      source: "https://vaultproject.io/",
      specversion: "1.0",
      type: "*",
      datacontentype: "application/cloudevents",
    });
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(e.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(e.data).toEqual({
      event: {
        id: e.id,
        metadata: {
          current_version: String(version),
          data_path: "secret/data/app/db",
          modified: "true",
          oldest_version: "0",
          operation: "data-write",
          path: "secret/data/app/db",
        },
      },
      event_type: "kv-v2/data-write",
      plugin_info: {
        mount_class: "secret",
        mount_accessor: mountAccessor,
        mount_path: "secret/",
        plugin: "kv",
        plugin_version: expect.stringMatching(/\+builtin$/),
      },
    });
    expect(JSON.stringify(sub.events)).not.toContain("never-in-events");
    sub.close();
  });

  it("sends every KV event type to a glob subscription, with Vault's metadata", async () => {
    const sub = await subscribe(vault, "kv*");
    await api(vault, "POST", "secret/data/all", { data: { a: "1" } });
    await api(vault, "PATCH", "secret/data/all", { data: { b: "2" } });
    await api(vault, "DELETE", "secret/data/all");
    await api(vault, "POST", "secret/undelete/all", { versions: [2] });
    await api(vault, "POST", "secret/delete/all", { versions: [1] });
    await api(vault, "POST", "secret/destroy/all", { versions: [1] });
    await api(vault, "POST", "secret/metadata/all", { max_versions: 5 });
    await api(vault, "PATCH", "secret/metadata/all", { max_versions: 6 });
    await api(vault, "DELETE", "secret/metadata/all");
    await api(vault, "PUT", "legacy/one", { a: "1" });
    await api(vault, "DELETE", "legacy/one");
    await until(() => sub.events.length === 11);
    expect(sub.events.map((e) => e.data.event_type)).toEqual([
      "kv-v2/data-write",
      "kv-v2/data-patch",
      "kv-v2/data-delete",
      "kv-v2/undelete",
      "kv-v2/delete",
      "kv-v2/destroy",
      "kv-v2/metadata-write",
      "kv-v2/metadata-patch",
      "kv-v2/metadata-delete",
      "kv-v1/write",
      "kv-v1/delete",
    ]);
    const md = sub.events.map((e) => e.data.event.metadata);
    expect(md[2]).toEqual({
      current_version: "2",
      modified: "true",
      oldest_version: "0",
      operation: "data-delete",
      path: "secret/data/all",
    });
    expect(md[3]).toMatchObject({
      path: "secret/undelete/all",
      data_path: "secret/data/all",
      undeleted_versions: "[2]",
    });
    expect(md[5]).toMatchObject({ path: "secret/destroy/all", destroyed_versions: "[1]" });
    expect(md[6]).toEqual({
      data_path: "secret/metadata/all",
      modified: "true",
      operation: "metadata-write",
      path: "secret/metadata/all",
    });
    expect(md[9]).toEqual({
      data_path: "legacy/one",
      modified: "true",
      operation: "write",
      path: "legacy/one",
    });
    expect(sub.events[9]!.data.plugin_info.mount_path).toBe("legacy/");
    sub.close();
  });

  it("filters by namespace: the subscriber's own, plus namespaces= patterns", async () => {
    await vault.createNamespace("team-a");
    await api(vault, "POST", "sys/mounts/kv", { type: "kv-v2" }, { "X-Vault-Namespace": "team-a" });
    const rootOnly = await subscribe(vault, "kv-v2/*");
    const withTeam = await subscribe(vault, "kv-v2/*", { query: "&namespaces=team-*" });
    const teamOwn = await subscribe(vault, "kv-v2/*", { namespace: "team-a" });
    await vault.writeKv("kv", "x", { a: "1" }, { namespace: "team-a" });
    await vault.writeKv("secret", "y", { a: "1" });
    await until(
      () => withTeam.events.length === 2 && rootOnly.events.length === 1 && teamOwn.events.length === 1,
    );
    const teamEvent = withTeam.events.find((e) => e.data.namespace === "team-a/")!;
    expect(teamEvent.data.event.metadata.path).toBe("kv/data/x");
    expect(teamEvent.data.plugin_info.mount_path).toBe("kv/");
    expect(rootOnly.events[0]!.data.event.metadata.path).toBe("secret/data/y");
    expect(rootOnly.events[0]!.data.namespace).toBeUndefined();
    expect(teamOwn.events[0]!.data.namespace).toBe("team-a/");
    for (const s of [rootOnly, withTeam, teamOwn]) s.close();
  });

  it("requires a valid token and json=true", async () => {
    await expect(subscribe(vault, "*", { token: "hvs.invalid" })).rejects.toThrow("refused with 403");
    const ws = new WebSocket(`${vault.url.replace("http", "ws")}/v1/sys/events/subscribe/*`, {
      headers: { "X-Vault-Token": vault.rootToken },
    });
    ws.on("error", () => undefined);
    const status = await new Promise<number>((resolve) =>
      ws.once("unexpected-response", (req, res) => {
        req.destroy();
        resolve(res.statusCode ?? 0);
      }),
    );
    expect(status).toBe(400);
  });
});
