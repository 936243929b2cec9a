import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalVault } from "../../infra/local/vault/index.ts";
import { startLocalVault } from "../../infra/local/vault/index.ts";
import { AuditParser } from "../../shared/events/audit.ts";
import type { AuditFileTail, AuditListener } from "../../shared/events/audit-listener.ts";
import { startAuditListener, tailAuditFile } from "../../shared/events/audit-listener.ts";
import { CloudEventParser } from "../../shared/events/cloudevents.ts";
import type { VaultEventSubscriber } from "../../shared/events/subscriber.ts";
import { subscribeVaultEvents } from "../../shared/events/subscriber.ts";
import type { ParseResult, VaultChangeEvent } from "../../shared/events/types.ts";
import { until } from "../support/until.ts";

// Every source against the local Vault: its socket and file audit devices and its event stream,
// driven by plain HTTP requests as any Vault client would send them.

const canary = "canary-9d2e4f-secret-value";

describe("event sources against the local Vault", () => {
  let vault: LocalVault;
  let dir: string;
  let listener: AuditListener;
  let tail: AuditFileTail;
  let subscriber: VaultEventSubscriber;
  const fromSocket: ParseResult[] = [];
  const fromFile: ParseResult[] = [];
  const fromEvents: ParseResult[] = [];
  const raw: string[] = [];
  const auditParser = new AuditParser({ mounts: { legacy: 1 } });
  const fileParser = new AuditParser({ mounts: { legacy: 1 } });
  const eventParser = new CloudEventParser();

  async function call(method: string, path: string, body?: unknown, namespace?: string): Promise<number> {
    const headers: Record<string, string> = { "X-Vault-Token": vault.rootToken };
    if (namespace) headers["X-Vault-Namespace"] = namespace;
    if (body !== undefined)
      headers["content-type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
    const res = await fetch(`${vault.url}/v1/${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    await res.arrayBuffer();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status}`);
    return res.status;
  }

  beforeAll(async () => {
    vault = await startLocalVault({
      port: 0,
      namespaces: true,
      mounts: [
        { path: "secret", version: 2 },
        { path: "legacy", version: 1 },
      ],
    });
    await vault.createNamespace("team-a");
    await call("POST", "sys/mounts/kv", { type: "kv", options: { version: "2" } }, "team-a");
    dir = await mkdtemp(join(tmpdir(), "pushsync-vault-audit-"));
    listener = await startAuditListener({
      onLine: (l) => {
        raw.push(l);
        fromSocket.push(auditParser.parse(l));
      },
    });
    tail = await tailAuditFile({
      path: join(dir, "audit.log"),
      onLine: (l) => fromFile.push(fileParser.parse(l)),
      pollMs: 10,
    });
    await call("PUT", "sys/audit/sock", {
      type: "socket",
      options: { address: `127.0.0.1:${listener.port}`, socket_type: "tcp" },
    });
    await call("PUT", "sys/audit/file", { type: "file", options: { file_path: join(dir, "audit.log") } });
    subscriber = subscribeVaultEvents({
      address: vault.url,
      token: vault.rootToken,
      namespaces: ["*"],
      onMessage: (t) => {
        raw.push(t);
        fromEvents.push(eventParser.parse(t));
      },
    });
    await until(() => subscriber.connected());

    await call("POST", "secret/data/app/db", { data: { password: canary } });
    await call("PATCH", "secret/data/app/db", { data: { user: "app" } });
    await call("DELETE", "secret/data/app/db");
    await call("POST", "secret/undelete/app/db", { versions: [2] });
    await call("POST", "secret/delete/app/db", { versions: [1] });
    await call("PUT", "secret/destroy/app/db", { versions: [1] });
    await call("POST", "secret/metadata/app/db", { max_versions: 5 });
    await call("PATCH", "secret/metadata/app/db", { custom_metadata: { team: "a" } });
    await call("GET", "secret/data/app/db");
    await call("DELETE", "secret/metadata/app/db");
    await call("POST", "legacy/app/token", { token: canary });
    await call("DELETE", "legacy/app/token");
    await call("POST", "kv/data/svc/api", { data: { key: canary } }, "team-a");
  });

  afterAll(async () => {
    await subscriber?.close();
    await tail?.close();
    await listener?.close();
    await vault?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const changes = (results: ParseResult[]): VaultChangeEvent[] =>
    results.flatMap((r) => ("event" in r ? [r.event] : []));
  const summary = (events: VaultChangeEvent[]) =>
    events.map((e) => [e.namespace, e.mount, e.path, e.operation, e.version]);

  it("audit entries (socket device) become one event per change, in order", async () => {
    await until(() => changes(fromSocket).length >= 12);
    expect(summary(changes(fromSocket))).toEqual([
      ["", "secret", "app/db", "write", 1],
      ["", "secret", "app/db", "patch", 2],
      ["", "secret", "app/db", "delete", undefined],
      ["", "secret", "app/db", "undelete", undefined],
      ["", "secret", "app/db", "delete", undefined],
      ["", "secret", "app/db", "destroy", undefined],
      ["", "secret", "app/db", "metadata-write", undefined],
      ["", "secret", "app/db", "metadata-patch", undefined],
      ["", "secret", "app/db", "metadata-delete", undefined],
      ["", "legacy", "app/token", "write", undefined],
      ["", "legacy", "app/token", "delete", undefined],
      ["team-a", "kv", "svc/api", "write", 1],
    ]);
    for (const e of changes(fromSocket)) {
      expect(e.source).toBe("audit");
      expect(Date.parse(e.time)).not.toBeNaN();
    }
  });

  it("the file device's entries give the same events", async () => {
    await until(() => changes(fromFile).length >= 12);
    expect(summary(changes(fromFile))).toEqual(summary(changes(fromSocket)));
    expect(changes(fromFile).map((e) => e.id)).toEqual(changes(fromSocket).map((e) => e.id));
  });

  it("the audit entries the parser skips are request entries, the read and the sys calls", async () => {
    await until(() => changes(fromSocket).length >= 12);
    // After the socket device was enabled: sys/audit/file and 13 KV calls, each a request and a
    // response entry, plus the response to enabling the socket device itself.
    expect(auditParser.skipped.snapshot()).toEqual({ "not-response": 14, "not-a-change": 1, "not-kv": 2 });
  });

  it("event notifications give the same changes, with the current version on every KV v2 data event", async () => {
    await until(() => changes(fromEvents).length >= 12);
    expect(summary(changes(fromEvents))).toEqual([
      ["", "secret", "app/db", "write", 1],
      ["", "secret", "app/db", "patch", 2],
      ["", "secret", "app/db", "delete", 2],
      ["", "secret", "app/db", "undelete", 2],
      ["", "secret", "app/db", "delete", 2],
      ["", "secret", "app/db", "destroy", 2],
      ["", "secret", "app/db", "metadata-write", undefined],
      ["", "secret", "app/db", "metadata-patch", undefined],
      ["", "secret", "app/db", "metadata-delete", undefined],
      ["", "legacy", "app/token", "write", undefined],
      ["", "legacy", "app/token", "delete", undefined],
      ["team-a", "kv", "svc/api", "write", 1],
    ]);
    expect(eventParser.skipped.snapshot()).toEqual({});
  });

  it("no secret value reaches an event or a skip detail", async () => {
    await until(() => changes(fromEvents).length >= 12 && changes(fromFile).length >= 12);
    const out = JSON.stringify([...fromSocket, ...fromFile, ...fromEvents]);
    expect(out).not.toContain(canary);
    expect(raw.length).toBeGreaterThan(0);
  });
});
