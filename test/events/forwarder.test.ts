import { readFileSync } from "node:fs";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Listening } from "../../infra/local/common/server.ts";
import { Faults, listen, readBody } from "../../infra/local/common/server.ts";
import { AuditParser } from "../../shared/events/audit.ts";
import type { AuditListener } from "../../shared/events/audit-listener.ts";
import { startAuditListener } from "../../shared/events/audit-listener.ts";
import { EventBuffer } from "../../shared/events/buffer.ts";
import { PathIndex } from "../../shared/events/index-paths.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import { createWebhookSink, ReplayCache, verifyWebhook } from "../../shared/events/webhook.ts";

// The building blocks wired the way the forwarder uses them: audit socket → parser → path index
// → buffer → webhook sink → a receiver that verifies signatures.
const auditLines = readFileSync(new URL("../fixtures/events/audit-kv.jsonl", import.meta.url), "utf8");
const secret = "whsec-forwarder";

describe("forwarder pipeline", () => {
  let receiver: Listening;
  let listener: AuditListener;
  const faults = new Faults();
  const delivered: VaultChangeEvent[][] = [];
  const parser = new AuditParser({ mounts: { legacy: 1 } });
  const index = new PathIndex([
    { mount: "secret", path: "app/db" },
    { namespace: "team-a", mount: "kv", prefix: "svc/" },
  ]);
  const buffer = new EventBuffer({ accept: (e) => index.matches(e) });

  beforeAll(async () => {
    const replay = new ReplayCache();
    receiver = await listen(async (req, res) => {
      const body = await readBody(req);
      if (!verifyWebhook({ secret, body, headers: req.headers, replayCache: replay }).ok) {
        res.writeHead(401).end();
        return;
      }
      const fault = faults.take("Deliver");
      if (fault) {
        res.writeHead(fault.status).end();
        return;
      }
      delivered.push((JSON.parse(body.toString()) as { events: VaultChangeEvent[] }).events);
      res.writeHead(204).end();
    });
    listener = await startAuditListener({
      onLine: (line) => {
        const r = parser.parse(line);
        if ("event" in r) buffer.offer(r.event);
      },
    });
  });
  afterAll(async () => {
    await listener.close();
    await receiver.close();
  });

  it("delivers one coalesced event per watched secret, after a failed attempt", async () => {
    const socket = net.connect(listener.port, "127.0.0.1");
    // One write per 700 bytes, so entries arrive cut at arbitrary places.
    const bytes = Buffer.from(auditLines);
    for (let i = 0; i < bytes.length; i += 700) socket.write(bytes.subarray(i, i + 700));
    socket.end();
    await new Promise((r) => socket.once("close", r));
    while (buffer.counters.get("received") < 12) await new Promise((r) => setTimeout(r, 5));

    faults.inject({ operation: "Deliver", status: 502, times: 1 });
    const sink = createWebhookSink({ name: "receiver", url: receiver.url, secret, maxAttempts: 1 });
    const first = buffer.take(100);
    await expect(sink.publish(first.events)).rejects.toMatchObject({ retryable: true });
    first.retry();
    const second = buffer.take(100);
    await sink.publish(second.events);
    second.ack();
    await sink.close?.();

    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.map((e) => [e.namespace, e.mount, e.path, e.operation])).toEqual([
      ["", "secret", "app/db", "metadata-delete"],
      ["team-a", "kv", "svc/api", "write"],
    ]);
    expect(delivered[0]![0]!.version).toBe(4); // highest version seen among the coalesced changes
    expect(parser.skipped.snapshot()).toEqual({
      failed: 1,
      "not-a-change": 3,
      "not-kv": 1,
      "not-response": 1,
    });
    expect(buffer.counters.snapshot()).toEqual({
      received: 12,
      filtered: 2, // the KV v1 write and delete
      enqueued: 2,
      coalesced: 8,
      published: 2,
    });
    expect(buffer.size).toBe(0);
  });
});
