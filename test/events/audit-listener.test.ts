import { appendFile, mkdtemp, rename, rm, truncate, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditListener } from "../../shared/events/audit-listener.ts";
import { LineSplitter, startAuditListener, tailAuditFile } from "../../shared/events/audit-listener.ts";
import { until } from "../support/until.ts";

function connect(port: number | string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = typeof port === "number" ? net.connect(port, "127.0.0.1") : net.connect(port);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

function write(s: net.Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => s.write(data, (err) => (err ? reject(err) : resolve())));
}

describe("line splitter", () => {
  it("joins lines split across chunks, including inside a UTF-8 character", () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    const bytes = Buffer.from('{"p":"café"}\n{"p":"naïve"}\n\n{"p":"x"}', "utf8");
    for (let i = 0; i < bytes.length; i++) s.push(bytes.subarray(i, i + 1));
    s.end();
    expect(lines).toEqual(['{"p":"café"}', '{"p":"naïve"}', '{"p":"x"}']);
  });

  it("discards an oversized line up to its newline and goes on", () => {
    const lines: string[] = [];
    let oversized = 0;
    const s = new LineSplitter(
      (l) => lines.push(l),
      10,
      () => oversized++,
    );
    s.push(Buffer.from("short\n0123456"));
    s.push(Buffer.from("789abcdef"));
    s.push(Buffer.from("xyz\nnext\n"));
    expect(lines).toEqual(["short", "next"]);
    expect(oversized).toBe(1);
  });
});

describe("audit socket listener over TCP", () => {
  let listener: AuditListener;
  const lines: string[] = [];

  beforeAll(async () => {
    listener = await startAuditListener({
      onLine: (l) => {
        if (l === "boom") throw new Error("handler failure");
        lines.push(l);
      },
      maxLineBytes: 64 * 1024,
    });
  });
  afterAll(() => listener.close());

  it("reads lines split across writes and many lines per write", async () => {
    lines.length = 0;
    const s = await connect(listener.port);
    await write(s, '{"a":');
    await new Promise((r) => setTimeout(r, 20));
    await write(s, '1}\n{"b":2}\n{"c"');
    await write(s, ":3}\n");
    await until(() => lines.length === 3);
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    s.destroy();
  });

  it("keeps lines from several connections apart", async () => {
    lines.length = 0;
    const [a, b] = await Promise.all([connect(listener.port), connect(listener.port)]);
    await write(a!, "from-a-");
    await write(b!, "from-b-");
    await write(a!, "1\n");
    await write(b!, "1\n");
    await until(() => lines.length === 2);
    expect(lines.sort()).toEqual(["from-a-1", "from-b-1"]);
    await until(() => listener.activeConnections() === 2);
    a!.destroy();
    b!.destroy();
    await until(() => listener.activeConnections() === 0);
  });

  it("takes a reconnecting writer and the last unterminated line of a closed connection", async () => {
    lines.length = 0;
    const before = listener.counters.get("connections");
    const first = await connect(listener.port);
    await write(first, "one\ntwo-unterminated");
    first.end();
    await until(() => lines.length === 2);
    const second = await connect(listener.port);
    await write(second, "three\n");
    await until(() => lines.length === 3);
    expect(lines).toEqual(["one", "two-unterminated", "three"]);
    expect(listener.counters.get("connections") - before).toBe(2);
    second.destroy();
  });

  it("survives a failing handler and an oversized line on the same connection", async () => {
    lines.length = 0;
    const s = await connect(listener.port);
    await write(s, "boom\n" + "x".repeat(100 * 1024) + "\nafter\n");
    await until(() => lines.includes("after"));
    expect(lines).toEqual(["after"]);
    expect(listener.counters.get("errors")).toBeGreaterThanOrEqual(1);
    expect(listener.counters.get("oversized")).toBe(1);
    s.destroy();
  });

  it("reads everything a fast writer sends", async () => {
    lines.length = 0;
    const entry = JSON.stringify({ type: "response", request: { path: "secret/data/" + "p".repeat(900) } });
    const count = 20_000;
    const s = await connect(listener.port);
    const started = performance.now();
    const chunk = Buffer.from((entry + "\n").repeat(100));
    for (let i = 0; i < count / 100; i++) await write(s, chunk);
    await until(() => lines.length === count, 15_000);
    const ms = performance.now() - started;
    const mb = (chunk.length * (count / 100)) / 1024 / 1024;
    console.log(`audit listener: ${count} lines, ${mb.toFixed(1)} MiB in ${ms.toFixed(0)} ms`);
    s.destroy();
  });
});

describe("audit socket listener on a Unix socket", () => {
  it("reads lines like the TCP one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pushsync-audit-"));
    const lines: string[] = [];
    const listener = await startAuditListener({
      socketPath: join(dir, "audit.sock"),
      onLine: (l) => lines.push(l),
    });
    try {
      const s = await connect(join(dir, "audit.sock"));
      await write(s, "a\nb");
      await write(s, "\n");
      await until(() => lines.length === 2);
      expect(lines).toEqual(["a", "b"]);
      s.destroy();
    } finally {
      await listener.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("audit file tailer", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "pushsync-tail-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("starts at the end by default and follows appends, including split lines", async () => {
    const path = join(dir, "a.log");
    await writeFile(path, "old-1\nold-2\n");
    const lines: string[] = [];
    const tail = await tailAuditFile({ path, onLine: (l) => lines.push(l), pollMs: 10 });
    try {
      await appendFile(path, "new-1\nnew-");
      await until(() => lines.length === 1);
      await appendFile(path, "2\n");
      await until(() => lines.length === 2);
      expect(lines).toEqual(["new-1", "new-2"]);
    } finally {
      await tail.close();
    }
  });

  it("reads existing content with fromStart", async () => {
    const path = join(dir, "b.log");
    await writeFile(path, "x\ny\n");
    const lines: string[] = [];
    const tail = await tailAuditFile({ path, onLine: (l) => lines.push(l), pollMs: 10, fromStart: true });
    await until(() => lines.length === 2);
    await tail.close();
    expect(lines).toEqual(["x", "y"]);
  });

  it("follows rotation by rename, still reading what Vault writes to the old file before it reopens", async () => {
    const path = join(dir, "c.log");
    await writeFile(path, "");
    const lines: string[] = [];
    const tail = await tailAuditFile({ path, onLine: (l) => lines.push(l), pollMs: 10 });
    try {
      await appendFile(path, "before\n");
      await until(() => lines.length === 1);
      await rename(path, path + ".1");
      await new Promise((r) => setTimeout(r, 30)); // a few polls see no file at the path
      await appendFile(path + ".1", "late-in-old\n");
      await writeFile(path, "in-new\n"); // Vault reopened after SIGHUP
      await until(() => lines.length === 3);
      expect(lines).toEqual(["before", "late-in-old", "in-new"]);
      expect(tail.counters.get("opened")).toBe(2);
    } finally {
      await tail.close();
    }
  });

  it("keeps reading the old file when the rotator creates the new one before Vault reopens", async () => {
    const path = join(dir, "e.log");
    await writeFile(path, "");
    const lines: string[] = [];
    const tail = await tailAuditFile({ path, onLine: (l) => lines.push(l), pollMs: 10 });
    try {
      await rename(path, path + ".1");
      await writeFile(path, ""); // logrotate's "create"
      await new Promise((r) => setTimeout(r, 30)); // the tailer has switched to the new file
      await appendFile(path + ".1", "still-old\n"); // before Vault gets SIGHUP
      await appendFile(path, "new\n");
      await until(() => lines.length === 2);
      expect(lines.sort()).toEqual(["new", "still-old"]);
    } finally {
      await tail.close();
    }
  });

  it("starts over after truncation and waits for a missing file", async () => {
    const path = join(dir, "d.log");
    const lines: string[] = [];
    const tail = await tailAuditFile({ path, onLine: (l) => lines.push(l), pollMs: 10 });
    try {
      await new Promise((r) => setTimeout(r, 30));
      await writeFile(path, "first-line-is-long\n");
      await until(() => lines.length === 1);
      await truncate(path, 0);
      await new Promise((r) => setTimeout(r, 30));
      await appendFile(path, "short\n");
      await until(() => lines.length === 2);
      expect(lines).toEqual(["first-line-is-long", "short"]);
    } finally {
      await tail.close();
    }
  });
});
