import type http from "node:http";
import type { Duplex } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import type { Listening } from "../../infra/local/common/server.ts";
import { listen } from "../../infra/local/common/server.ts";
import { subscribeVaultEvents } from "../../shared/events/subscriber.ts";
import { until } from "../support/until.ts";

interface Upgrade {
  url: string;
  token: string | undefined;
  namespace: string | undefined;
}

/** A WebSocket endpoint shaped like Vault's: answers the upgrade unless `refuse` is set. */
async function eventServer(): Promise<{
  http: Listening;
  clients: Set<WebSocket>;
  upgrades: Upgrade[];
  /** When set, upgrades are answered with this status. */
  refuse: { status: number } | undefined;
}> {
  const http = await listen((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  const state = {
    http,
    clients: new Set<WebSocket>(),
    upgrades: [] as Upgrade[],
    refuse: undefined as { status: number } | undefined,
  };
  http.server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    state.upgrades.push({
      url: req.url ?? "",
      token: req.headers["x-vault-token"] as string | undefined,
      namespace: req.headers["x-vault-namespace"] as string | undefined,
    });
    if (state.refuse) {
      socket.end(`HTTP/1.1 ${state.refuse.status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      state.clients.add(ws);
      ws.on("close", () => state.clients.delete(ws));
    });
  });
  const close = http.close;
  http.close = async () => {
    for (const c of state.clients) c.terminate();
    wss.close();
    await close();
  };
  return state;
}

describe("vault event subscriber", () => {
  let vault: Awaited<ReturnType<typeof eventServer>>;
  beforeAll(async () => {
    vault = await eventServer();
  });
  afterAll(() => vault.http.close());

  it("subscribes with token, namespace and namespace patterns and hands over each line of each text frame", async () => {
    vault.upgrades.length = 0;
    const got: string[] = [];
    const sub = subscribeVaultEvents({
      address: vault.http.url,
      token: "s.test-token",
      namespace: "team-a",
      namespaces: ["apps/*"],
      onMessage: (t) => got.push(t),
    });
    try {
      await until(() => vault.clients.size === 1 && sub.connected());
      expect(vault.upgrades).toEqual([
        {
          url: "/v1/sys/events/subscribe/kv*?json=true&namespaces=apps%2F*",
          token: "s.test-token",
          namespace: "team-a",
        },
      ]);
      const [ws] = vault.clients;
      ws!.send('{"id":"1"}\n');
      ws!.send('{"id":"2"}\n{"id":"3"}');
      ws!.send(Buffer.from([8, 1, 2]), { binary: true });
      await until(() => got.length === 3 && sub.counters.get("binary") === 1);
      expect(got).toEqual(['{"id":"1"}', '{"id":"2"}', '{"id":"3"}']);
    } finally {
      await sub.close();
    }
    expect(sub.connected()).toBe(false);
  });

  it("reconnects after the server drops the connection, asking for the token again", async () => {
    const got: string[] = [];
    let tokenReads = 0;
    let connects = 0;
    const sub = subscribeVaultEvents({
      address: vault.http.url,
      token: async () => `s.token-${++tokenReads}`,
      onMessage: (t) => got.push(t),
      onConnected: () => connects++,
      initialBackoffMs: 20,
    });
    try {
      await until(() => vault.clients.size === 1);
      [...vault.clients][0]!.terminate();
      await until(() => connects === 2 && vault.clients.size === 1);
      [...vault.clients][0]!.send('{"id":"after"}');
      await until(() => got.length === 1);
      expect(got).toEqual(['{"id":"after"}']);
      expect(tokenReads).toBe(2);
      expect(vault.upgrades.at(-1)?.token).toBe("s.token-2");
      expect(sub.counters.get("disconnects")).toBe(1);
    } finally {
      await sub.close();
    }
  });

  it("keeps retrying with backoff while Vault refuses, then connects", async () => {
    vault.refuse = { status: 503 };
    const sub = subscribeVaultEvents({
      address: vault.http.url,
      token: "t",
      onMessage: () => {},
      initialBackoffMs: 10,
    });
    try {
      await until(() => sub.counters.get("failures") >= 3);
      expect(sub.connected()).toBe(false);
      vault.refuse = undefined;
      await until(() => sub.connected());
    } finally {
      await sub.close();
      vault.refuse = undefined;
    }
  });

  it("follows a standby's 307 to the active node", async () => {
    const standby = await listen((_req, res) => res.writeHead(404).end());
    standby.server.on("upgrade", (req: http.IncomingMessage, socket: Duplex) => {
      const location = `${vault.http.url.replace("http:", "ws:")}${req.url}`;
      socket.end(`HTTP/1.1 307 Temporary Redirect\r\nLocation: ${location}\r\nContent-Length: 0\r\n\r\n`);
    });
    vault.upgrades.length = 0;
    const got: string[] = [];
    const sub = subscribeVaultEvents({
      address: standby.url,
      token: "s.redirected",
      onMessage: (t) => got.push(t),
    });
    try {
      await until(() => sub.connected() && vault.clients.size === 1);
      expect(vault.upgrades).toEqual([
        { url: "/v1/sys/events/subscribe/kv*?json=true", token: "s.redirected", namespace: undefined },
      ]);
      [...vault.clients][0]!.send('{"id":"via-active"}');
      await until(() => got.length === 1);
    } finally {
      await sub.close();
      await standby.close();
    }
  });

  it("replaces a connection that went silent", async () => {
    const sub = subscribeVaultEvents({
      address: vault.http.url,
      token: "t",
      onMessage: () => {},
      idleTimeoutMs: 100,
      initialBackoffMs: 10,
    });
    try {
      await until(() => sub.counters.get("connections") >= 2, 3_000);
      expect(sub.counters.get("disconnects")).toBeGreaterThanOrEqual(1);
    } finally {
      await sub.close();
    }
  });

  it("close stops reconnecting", async () => {
    const sub = subscribeVaultEvents({
      address: vault.http.url,
      token: "t",
      onMessage: () => {},
      initialBackoffMs: 10,
    });
    await until(() => sub.connected());
    await sub.close();
    const dials = sub.counters.get("dials");
    await new Promise((r) => setTimeout(r, 100));
    expect(sub.counters.get("dials")).toBe(dials);
    await until(() => vault.clients.size === 0);
  });
});
