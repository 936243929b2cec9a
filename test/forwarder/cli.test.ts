/**
 * `pushsync forward` spawned as a user runs it, against a local Vault and a local AWS it does
 * not own: its audit device feeds it, it publishes to SQS or a webhook, and SIGTERM stops it
 * cleanly. Also measures the time from a Vault write returning to its message being receivable.
 */
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalState } from "../../bin/lib/local-state.ts";
import { listen, readBody } from "../../infra/local/common/server.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import { verifyWebhook } from "../../shared/events/webhook.ts";
import {
  credentials,
  MANIFESTS,
  manifestDir,
  metric,
  receive,
  received,
  startStack,
  until,
  vaultCall,
  writeSecret,
  type Stack,
} from "./helpers.ts";

const root = path.join(import.meta.dirname, "..", "..");
const CANARY = "canary-4b1d9e-forward-value";

interface Child {
  proc: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderrLines: () => string[];
  /** The first capture group of the first stderr line matching `re`, once it appears. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
}

function forward(args: string[], cwd: string, env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [path.join(root, "bin", "pushsync.mjs"), "forward", ...args], {
    cwd,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: cwd,
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      ...env,
    },
  });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("close", resolve));
  const lines = () => stderr.split("\n").filter((l) => l !== "");
  return {
    proc,
    stdout: () => stdout,
    stderrLines: lines,
    async waitFor(re, timeoutMs = 15_000) {
      let found: RegExpExecArray | null = null;
      await until(() => {
        for (const l of lines()) if ((found = re.exec(l))) return true;
        if (proc.exitCode !== null) throw new Error(`forward exited with ${proc.exitCode}:\n${stderr}`);
        return false;
      }, timeoutMs);
      return found![1] ?? "";
    },
    exited,
  };
}

let s: Stack;
let cwd: string;
let manifests: string;
beforeAll(async () => {
  s = await startStack();
  cwd = mkdtempSync(path.join(tmpdir(), "pushsync-forward-cli-"));
  const state: LocalState = {
    vault: { address: s.vault.url, token: s.vault.rootToken },
    aws: { endpoint: s.aws.url, region: s.aws.region, ...credentials },
  };
  mkdirSync(path.join(cwd, ".pushsync"));
  writeFileSync(path.join(cwd, ".pushsync", "local.json"), JSON.stringify(state));
  manifests = manifestDir({ "m.yaml": MANIFESTS });
});
afterAll(async () => {
  await s.close();
  rmSync(cwd, { recursive: true, force: true });
  rmSync(manifests, { recursive: true, force: true });
});

describe("pushsync forward", () => {
  it("forwards audit entries to SQS, enables and removes its audit device, and stops on SIGTERM", async () => {
    const queueUrl = await s.queue("cli.fifo");
    const child = forward(
      [
        "--local",
        "--manifests",
        manifests,
        "--audit-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--sqs-queue-url",
        queueUrl,
        "--enable-audit-device",
      ],
      cwd,
    );
    try {
      const auditPort = Number(await child.waitFor(/audit listener on 127\.0\.0\.1:(\d+)/));
      const metricsPort = Number(await child.waitFor(/metrics on 127\.0\.0\.1:(\d+)/));
      await child.waitFor(/"msg":"audit device enabled"/);
      const devices = (await vaultCall(s.vault, "GET", "sys/audit")) as { data: Record<string, unknown> };
      expect(devices.data["pushsync/"]).toMatchObject({
        type: "socket",
        options: { address: `127.0.0.1:${auditPort}`, socket_type: "tcp" },
      });

      await writeSecret(s.vault, "other/x", { k: "v" });
      const version = await writeSecret(s.vault, "app/db", { password: CANARY });
      const got = await receive(s, queueUrl, 1);
      expect(got.map((m) => [m.groupId, m.dedupId, m.event.path, m.event.source])).toEqual([
        ["/secret/app/db", `/secret/app/db@${version}`, "app/db", "audit"],
      ]);

      // Time from the write returning to its message being receivable, one write at a time.
      const latencies: number[] = [];
      for (let i = 0; i < 200; i++) {
        const receiving = s.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            WaitTimeSeconds: 5,
            MessageSystemAttributeNames: ["All"],
          }),
        );
        await writeSecret(s.vault, `lat/${i}`, { n: String(i) });
        const written = performance.now();
        const res = await receiving;
        latencies.push(performance.now() - written);
        const m = res.Messages?.[0];
        expect(m && received(m).event.path).toBe(`lat/${i}`);
        await s.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m!.ReceiptHandle! }));
      }
      const sorted = [...latencies].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.floor(q * (sorted.length - 1))]!.toFixed(1);
      console.log(
        `pushsync forward, Vault write returned → message receivable from SQS, ${sorted.length} writes: ` +
          `p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms`,
      );

      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metric(metrics, "pushsync_events_published_total", { sink: "sqs" })).toBe(201);
      expect(metric(metrics, "pushsync_events_filtered_total")).toBe(1);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(200);
    } finally {
      child.proc.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
    const devices = (await vaultCall(s.vault, "GET", "sys/audit")) as { data: Record<string, unknown> };
    expect(devices.data).toEqual({});
    // Vault works again without the device (it would refuse requests no device can log).
    await writeSecret(s.vault, "other/after", { k: "v" });

    const lines = child.stderrLines();
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs).toEqual(expect.arrayContaining(["audit device disabled", "forwarder stopped"]));
    expect(lines.join("\n")).not.toContain(CANARY);
    expect(child.stdout()).toBe("");
  }, 60_000);

  it("subscribes to Vault's events and posts signed batches to a webhook, configured from the environment", async () => {
    const secret = "whsec-cli-forward";
    const delivered: VaultChangeEvent[] = [];
    let rejected = 0;
    const receiver = await listen(async (req, res) => {
      const body = await readBody(req);
      if (!verifyWebhook({ secret, body, headers: req.headers }).ok) {
        rejected++;
        res.writeHead(401).end();
        return;
      }
      delivered.push(...(JSON.parse(body.toString()) as { events: VaultChangeEvent[] }).events);
      res.writeHead(204).end();
    });
    const child = forward(
      [
        "--manifests",
        manifests,
        "--events",
        "--audit-listen",
        "none",
        "--metrics-listen",
        "none",
        "--webhook",
        receiver.url,
      ],
      cwd,
      { VAULT_ADDR: s.vault.url, VAULT_TOKEN: s.vault.rootToken, PUSHSYNC_WEBHOOK_SECRET: secret },
    );
    try {
      await child.waitFor(/"msg":"vault events connected/);
      const version = await writeSecret(s.vault, "team/cli", { k: CANARY });
      await until(() => delivered.length === 1);
      expect(delivered[0]).toMatchObject({ path: "team/cli", version, source: "events", operation: "write" });
      expect(rejected).toBe(0);
    } finally {
      child.proc.kill("SIGINT");
    }
    expect(await child.exited).toBe(0);
    await receiver.close();
    expect(child.stderrLines().join("\n")).not.toContain(CANARY);
  }, 30_000);

  it("refuses to start without a sink, or with nothing to watch", async () => {
    const empty = manifestDir({});
    const noSink = forward(["--manifests", manifests], cwd);
    const nothing = forward(["--manifests", empty, "--sqs-queue-url", "http://127.0.0.1:1/0/q.fifo"], cwd);
    expect(await noSink.exited).toBe(2);
    expect(noSink.stderrLines()[0]).toBe("pushsync forward: give --sqs-queue-url and/or --webhook");
    expect(await nothing.exited).toBe(1);
    expect(nothing.stderrLines().map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      "no Vault location to watch in the manifests",
    ]);
    rmSync(empty, { recursive: true, force: true });
  });
});
