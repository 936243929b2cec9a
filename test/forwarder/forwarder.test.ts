/**
 * The forward loop end to end, in-process: the local Vault's audit devices and event stream feed
 * the forwarder, which publishes to the local SQS (and a local webhook receiver) over HTTP.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Faults, listen, readBody, type Listening } from "../../infra/local/common/server.ts";
import type { EventSink } from "../../shared/events/sink.ts";
import { createSqsSink } from "../../shared/events/sqs.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import { createWebhookSink, ReplayCache, verifyWebhook } from "../../shared/events/webhook.ts";
import { startForwarder, type Forwarder, type ForwarderOptions } from "../../shared/forwarder/forwarder.ts";
import type { WatchSet } from "../../shared/forwarder/watch.ts";
import {
  MANIFESTS,
  metric,
  receive,
  startStack,
  until,
  vaultCall,
  watchOf,
  writeSecret,
  type Stack,
} from "./helpers.ts";

let s: Stack;
let watch: WatchSet;
let dir: string;
beforeAll(async () => {
  s = await startStack();
  watch = await watchOf(MANIFESTS);
  dir = mkdtempSync(path.join(tmpdir(), "pushsync-forward-"));
});
afterAll(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

let devices = 0;
let queues = 0;

interface Running {
  f: Forwarder;
  queueUrl: string;
  /** The registry's current text. */
  metrics(): string;
  /** Disables the audit devices this case enabled (Vault must not log to a closed listener), then stops. */
  close(flushMs?: number): Promise<number>;
}

/**
 * A forwarder watching MANIFESTS with an SQS sink on a new FIFO queue, plus `extraSinks`; with
 * `audit` (the default) a TCP listener and a socket audit device in Vault pointing at it.
 */
async function run(
  options: Partial<ForwarderOptions> & { audit?: boolean; extraSinks?: EventSink[]; retries?: boolean } = {},
): Promise<Running> {
  const { audit = true, extraSinks = [], retries = true, ...rest } = options;
  const queueUrl = await s.queue(`q${++queues}.fifo`);
  const sqs = createSqsSink({ queueUrl, client: retries ? s.sqs : s.noRetryClient() });
  const f = await startForwarder({
    watch,
    sinks: [sqs, ...extraSinks],
    backoff: { initialMs: 10, maxMs: 100 },
    ...(audit ? { auditListen: { host: "127.0.0.1", port: 0 } } : {}),
    ...rest,
  });
  const enabled: string[] = [];
  /** Enables a device and waits for its first line: the response to enabling it. */
  const enable = async (source: string, options: Record<string, string>, type = "socket"): Promise<void> => {
    const name = `fwd${++devices}`;
    await vaultCall(s.vault, "PUT", `sys/audit/${name}`, { type, options });
    enabled.push(name);
    await until(() => (metric(f.registry.render(), "pushsync_events_received_total", { source }) ?? 0) > 0);
  };
  if (audit) await enable("audit-tcp", { address: `127.0.0.1:${f.auditPort}`, socket_type: "tcp" });
  if (rest.auditSocketPath)
    await enable("audit-unix", { address: rest.auditSocketPath, socket_type: "unix" });
  if (rest.auditFile) await enable("audit-file", { file_path: rest.auditFile }, "file");
  return {
    f,
    queueUrl,
    metrics: () => f.registry.render(),
    async close(flushMs) {
      for (const name of enabled) await vaultCall(s.vault, "DELETE", `sys/audit/${name}`);
      return f.stop(flushMs);
    },
  };
}

const sqsMetric = (r: Running, name: string, labels: Record<string, string> = { sink: "sqs" }) =>
  metric(r.metrics(), name, labels);

describe("forwarder", () => {
  it("puts a write to a watched path on the FIFO queue once, and skips an unwatched one", async () => {
    const r = await run({ metricsListen: { host: "127.0.0.1", port: 0 } });
    try {
      const before = metric(r.metrics(), "pushsync_events_received_total", { source: "audit-tcp" }) ?? 0;
      const skippedBefore =
        metric(r.metrics(), "pushsync_events_skipped_total", { reason: "not-response" }) ?? 0;
      await writeSecret(s.vault, "other/x", { k: "v" });
      const version = await writeSecret(s.vault, "app/db", { password: "not-forwarded-1" });
      const got = await receive(s, r.queueUrl, 1);
      expect(got).toHaveLength(1);
      const m = got[0]!;
      expect(m.groupId).toBe("/secret/app/db");
      expect(m.dedupId).toBe(`/secret/app/db@${version}`);
      expect(m.event).toMatchObject({
        namespace: "",
        mount: "secret",
        path: "app/db",
        version,
        operation: "write",
      });
      expect(m.event.source).toBe("audit");
      expect(JSON.stringify(m.event)).not.toContain("not-forwarded-1");

      const res = await fetch(`http://127.0.0.1:${r.f.metricsPort}/metrics`);
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      const text = await res.text();
      expect(text).toContain("# TYPE pushsync_events_received_total counter");
      // Two writes: a request and a response entry each.
      expect(metric(text, "pushsync_events_received_total", { source: "audit-tcp" })).toBe(before + 4);
      expect(metric(text, "pushsync_events_skipped_total", { reason: "not-response" })).toBe(
        skippedBefore + 2,
      );
      expect(metric(text, "pushsync_events_filtered_total")).toBe(1);
      expect(metric(text, "pushsync_events_published_total", { sink: "sqs" })).toBe(1);
      expect(metric(text, "pushsync_events_queued", { sink: "sqs" })).toBe(0);
      expect(metric(text, "pushsync_events_lag_seconds", { sink: "sqs" })).toBe(0);
      expect(metric(text, "pushsync_publish_failures_total", { sink: "sqs" })).toBeUndefined();
      expect(metric(text, "pushsync_source_up", { source: "audit-tcp" })).toBe(1);
      expect(text).not.toContain("not-forwarded-1");

      const health = await fetch(`http://127.0.0.1:${r.f.metricsPort}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({
        status: "ok",
        sources: { "audit-tcp": { up: true, connections: 1 } },
        sinks: { sqs: { queued: 0, publishing: 0, failingSeconds: 0 } },
      });
    } finally {
      expect(await r.close()).toBe(0);
    }
  });

  it("forwards from the events WebSocket, and is unhealthy while it is not connected", async () => {
    s.vault.seal();
    const r = await run({
      audit: false,
      events: { address: s.vault.url, token: s.vault.rootToken, initialBackoffMs: 20, maxBackoffMs: 50 },
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(r.f.health()).toMatchObject({ ok: false, detail: { sources: { events: { up: false } } } });
      s.vault.unseal();
      await until(() => r.f.health().ok);
      const version = await writeSecret(s.vault, "team/events", { k: "v" });
      const got = await receive(s, r.queueUrl, 1);
      expect(got.map((m) => [m.event.source, m.event.path, m.event.version, m.groupId, m.dedupId])).toEqual([
        ["events", "team/events", version, "/secret/team/events", `/secret/team/events@${version}`],
      ]);
      expect(metric(r.metrics(), "pushsync_events_received_total", { source: "events" })).toBe(1);
    } finally {
      s.vault.unseal();
      await r.close();
    }
  });

  it("coalesces a burst of writes to one secret while the queue is slow", async () => {
    const r = await run();
    try {
      s.aws.faults.latencyMs = 100;
      let last = 0;
      for (let i = 0; i < 50; i++) last = await writeSecret(s.vault, "app/db", { n: String(i) });
      await until(() => sqsMetric(r, "pushsync_events_queued") === 0 && r.f.health().ok, 10_000);
      s.aws.faults.latencyMs = 0;
      const got = await receive(s, r.queueUrl, 1, { settleMs: 300 });
      const versions = got.map((m) => m.event.version!);
      expect(versions.length).toBeGreaterThan(0);
      expect(versions.length).toBeLessThan(50);
      expect(versions.at(-1)).toBe(last);
      expect([...versions].sort((a, b) => a - b)).toEqual(versions); // in order, as SQS FIFO keeps them
      expect(sqsMetric(r, "pushsync_events_coalesced_total")).toBe(50 - versions.length);
    } finally {
      s.aws.faults.clear();
      await r.close();
    }
  });

  for (const [overflow, kept] of [
    ["drop-oldest", ["team/p1", "team/p5", "team/p6"]],
    ["drop-newest", ["team/p1", "team/p2", "team/p3"]],
  ] as const) {
    it(`drops per ${overflow} when the buffer is full, and counts it`, async () => {
      const r = await run({ bufferSize: 2, overflow });
      try {
        s.aws.faults.latencyMs = 800;
        const calls = s.aws.requests.get("SendMessageBatch");
        await writeSecret(s.vault, "team/p1", { k: "v" });
        await until(() => s.aws.requests.get("SendMessageBatch") > calls); // p1 is on its way
        for (const p of ["p2", "p3", "p4", "p5", "p6"]) await writeSecret(s.vault, `team/${p}`, { k: "v" });
        await until(() => sqsMetric(r, "pushsync_events_dropped_total") === 3);
        expect(sqsMetric(r, "pushsync_events_queued")).toBe(2);
        s.aws.faults.latencyMs = 0;
        const got = await receive(s, r.queueUrl, 3);
        expect(got.map((m) => m.event.path).sort()).toEqual(kept);
        expect(sqsMetric(r, "pushsync_events_dropped_total")).toBe(3);
      } finally {
        s.aws.faults.clear();
        await r.close();
      }
    });
  }

  it("backs off while SQS fails, turns unhealthy after the grace time, then delivers", async () => {
    const r = await run({ retries: false, unhealthyAfterMs: 100 });
    try {
      s.aws.faults.inject({ operation: "SendMessageBatch", status: 500 });
      const version = await writeSecret(s.vault, "app/db", { k: "v" });
      await until(() => !r.f.health().ok);
      // Waiting for the next attempt, or in one: the event is held either way.
      const { queued, publishing } = (
        r.f.health().detail as { sinks: Record<string, { queued: number; publishing: number }> }
      ).sinks.sqs!;
      expect(queued + publishing).toBe(1);
      expect(sqsMetric(r, "pushsync_sink_failing_seconds")).toBeGreaterThan(0.1);
      const failures = sqsMetric(r, "pushsync_publish_failures_total")!;
      expect(failures).toBeGreaterThanOrEqual(2);
      s.aws.faults.clear();
      const got = await receive(s, r.queueUrl, 1);
      expect(got.map((m) => m.event.version)).toEqual([version]);
      expect(r.f.health().ok).toBe(true);
      expect(sqsMetric(r, "pushsync_sink_failing_seconds")).toBe(0);
      expect(sqsMetric(r, "pushsync_events_published_total")).toBe(1);
    } finally {
      s.aws.faults.clear();
      await r.close();
    }
  });

  it("gives a webhook every event, signed, without a failing webhook holding back the queue", async () => {
    const secret = "whsec-forward-test";
    const faults = new Faults();
    faults.inject({ operation: "Deliver", status: 503 });
    const delivered: VaultChangeEvent[] = [];
    const rejected: string[] = [];
    const replay = new ReplayCache();
    const receiver: Listening = await listen(async (req, res) => {
      const body = await readBody(req);
      const check = verifyWebhook({ secret, body, headers: req.headers, replayCache: replay });
      if (!check.ok) {
        rejected.push(check.reason);
        res.writeHead(401).end();
      } else if (faults.take("Deliver")) res.writeHead(503).end();
      else {
        delivered.push(...(JSON.parse(body.toString()) as { events: VaultChangeEvent[] }).events);
        res.writeHead(204).end();
      }
    });
    const webhook = createWebhookSink({ name: "hook", url: receiver.url, secret, maxAttempts: 1 });
    const r = await run({ extraSinks: [webhook] });
    try {
      const version = await writeSecret(s.vault, "team/hooked", { k: "v" });
      const got = await receive(s, r.queueUrl, 1);
      expect(got.map((m) => m.event.path)).toEqual(["team/hooked"]);
      expect(delivered).toEqual([]);
      await until(() => (metric(r.metrics(), "pushsync_publish_failures_total", { sink: "hook" }) ?? 0) >= 2);
      faults.clear();
      await until(() => delivered.length === 1);
      expect(delivered[0]).toEqual(got[0]!.event);
      expect(delivered[0]!.version).toBe(version);
      expect(rejected).toEqual([]);
      // The receiver records the batch before its 204 reaches the sink, so the count follows shortly.
      await until(() => metric(r.metrics(), "pushsync_events_published_total", { sink: "hook" }) === 1);
    } finally {
      await r.close();
      await receiver.close();
    }
  });

  it("reads a Unix socket device and a file device; the queue holds the write once", async () => {
    const auditSocketPath = path.join(dir, "audit.sock");
    const auditFile = path.join(dir, "audit.log");
    const r = await run({ audit: false, auditSocketPath, auditFile });
    const lines = (source: string) => metric(r.metrics(), "pushsync_events_received_total", { source }) ?? 0;
    try {
      const before = lines("audit-unix");
      const version = await writeSecret(s.vault, "team/both", { k: "v" });
      await until(() => lines("audit-file") >= 2);
      await until(() => sqsMetric(r, "pushsync_events_queued") === 0);
      const got = await receive(s, r.queueUrl, 1, { settleMs: 300 });
      expect(got.map((m) => [m.event.path, m.event.version])).toEqual([["team/both", version]]);
      expect(lines("audit-unix")).toBe(before + 2);
    } finally {
      await r.close();
    }
  });

  it("publishes what is queued when stopped, and gives up at the flush deadline", async () => {
    const r = await run();
    const lines = () => metric(r.metrics(), "pushsync_events_received_total", { source: "audit-tcp" }) ?? 0;
    const before = lines();
    s.aws.faults.latencyMs = 200;
    for (const p of ["f1", "f2", "f3"]) await writeSecret(s.vault, `team/${p}`, { k: "v" });
    await until(() => lines() === before + 6);
    expect(await r.close()).toBe(0);
    s.aws.faults.clear();
    expect((await receive(s, r.queueUrl, 3)).map((m) => m.event.path).sort()).toEqual([
      "team/f1",
      "team/f2",
      "team/f3",
    ]);

    const stuck = await run();
    s.aws.faults.inject({ operation: "SendMessageBatch", status: 500 });
    try {
      await writeSecret(s.vault, "team/stuck", { k: "v" });
      await until(() => (sqsMetric(stuck, "pushsync_publish_failures_total") ?? 0) >= 1);
      const started = Date.now();
      expect(await stuck.close(300)).toBe(1);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      s.aws.faults.clear();
    }
  });
});
