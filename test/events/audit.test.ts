import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AuditParser } from "../../shared/events/audit.ts";
import type { ParseResult, VaultChangeEvent } from "../../shared/events/types.ts";

// Entries shaped like Vault's JSON audit format (audit/types.go): HMAC'd strings, plain numbers.
const lines = readFileSync(new URL("../fixtures/events/audit-kv.jsonl", import.meta.url), "utf8")
  .split("\n")
  .filter((l) => l !== "");
const line = (n: number): string => lines[n - 1]!;

function eventOf(r: ParseResult): VaultChangeEvent {
  if ("skip" in r) throw new Error(`expected an event, got skip ${r.skip}: ${r.detail}`);
  return r.event;
}

describe("audit entry parser: documented format", () => {
  const parser = new AuditParser({ mounts: { "legacy/": 1 } });

  it("turns a KV v2 data write response into a write event with every field", () => {
    expect(eventOf(parser.parse(line(2)))).toEqual({
      id: "a1f3c2d4-0001-4e5f-8a9b-0c1d2e3f4a5b",
      mount: "secret",
      path: "app/db",
      version: 3,
      operation: "write",
      namespace: "",
      time: "2024-05-02T10:15:30.000002Z",
      source: "audit",
    });
  });

  it("maps each KV v2 endpoint and operation to the change it makes", () => {
    const got = [3, 4, 5, 6, 7, 8, 9, 10].map((n) => {
      const e = eventOf(parser.parse(line(n)));
      return [e.operation, e.path, e.version];
    });
    expect(got).toEqual([
      ["patch", "app/db", 4],
      ["delete", "app/db", undefined],
      ["delete", "app/db", undefined],
      ["undelete", "app/db", undefined],
      ["destroy", "app/db", undefined],
      ["metadata-write", "app/db", undefined],
      ["metadata-patch", "app/db", undefined],
      ["metadata-delete", "app/db", undefined],
    ]);
  });

  it("takes the namespace from request.namespace.path and strips its slash", () => {
    const e = eventOf(parser.parse(line(14)));
    expect([e.namespace, e.mount, e.path, e.version]).toEqual(["team-a", "kv", "svc/api", 7]);
  });

  it("reads KV v1 mounts listed in the mount table as KV v1", () => {
    const w = eventOf(parser.parse(line(15)));
    const d = eventOf(parser.parse(line(18)));
    expect([w.mount, w.path, w.operation, w.version]).toEqual(["legacy", "app/token", "write", undefined]);
    expect([d.path, d.operation]).toEqual(["app/token", "delete"]);
  });

  it("skips request entries, failed requests, reads, lists, config and other engines with a reason", () => {
    const reasons = [1, 11, 12, 13, 16, 17].map((n) => {
      const r = parser.parse(line(n));
      return "skip" in r ? r.skip : "event";
    });
    expect(reasons).toEqual([
      "not-response",
      "not-a-change",
      "not-a-change",
      "failed",
      "not-kv",
      "not-a-change",
    ]);
  });

  it("without the mount table a KV v1 path is not taken for a secret change", () => {
    const r = new AuditParser().parse(line(15));
    expect("skip" in r && r.skip).toBe("not-a-change");
  });

  it("counts skipped lines by reason", () => {
    const p = new AuditParser({ mounts: { legacy: 1 } });
    for (const l of lines) p.parse(l);
    p.parse("{not json");
    expect(p.skipped.snapshot()).toEqual({
      failed: 1,
      malformed: 1,
      "not-a-change": 3,
      "not-kv": 1,
      "not-response": 1,
    });
  });
});

describe("audit entry parser: variations Vault can produce", () => {
  const base = JSON.parse(line(2)) as Record<string, unknown> & { request: Record<string, unknown> };
  const variant = (change: (e: typeof base) => void): string => {
    const e = structuredClone(base);
    change(e);
    return JSON.stringify(e);
  };

  it("strips the device's prefix option", () => {
    const e = eventOf(new AuditParser({ prefix: "vault-audit: " }).parse("vault-audit: " + line(2)));
    expect(e.path).toBe("app/db");
  });

  it("uses the receive time when the device omits time", () => {
    const p = new AuditParser({ now: () => new Date("2025-01-01T00:00:00Z") });
    expect(eventOf(p.parse(variant((e) => delete e.time))).time).toBe("2025-01-01T00:00:00.000Z");
  });

  it("finds the mount in the table when mount_point and mount_type are excluded", () => {
    const line = variant((e) => {
      delete e.request.mount_point;
      delete e.request.mount_type;
      e.request.path = "team/kv/data/x/y";
    });
    expect(eventOf(new AuditParser({ mounts: { team: 2, "team/kv": 2 } }).parse(line))).toMatchObject({
      mount: "team/kv",
      path: "x/y",
    });
    expect(new AuditParser().parse(line)).toMatchObject({ skip: "not-kv" });
  });

  it("ignores a string version (HMAC'd) instead of guessing", () => {
    const line = variant(
      (e) => ((e.response as { data: { version: unknown } }).data.version = "hmac-sha256:ab"),
    );
    expect(eventOf(new AuditParser().parse(line)).version).toBeUndefined();
  });

  it("falls back to namespace.id when the path is absent", () => {
    const line = variant((e) => (e.request.namespace = { id: "Xk3pQ" }));
    expect(eventOf(new AuditParser().parse(line)).namespace).toBe("Xk3pQ");
  });
});

describe("audit entry parser: malformed input never throws", () => {
  const cases: Array<[string, string]> = [
    ["empty", ""],
    ["not JSON", '{"type":"response",'],
    ["JSON array", "[1,2]"],
    ["JSON string", '"response"'],
    ["type not a string", '{"type":5}'],
    ["error not a string", '{"type":"response","error":{}}'],
    ["no request", '{"type":"response"}'],
    ["request not an object", '{"type":"response","request":"x"}'],
    ["path missing", '{"type":"response","request":{"id":"1","operation":"update","mount_type":"kv"}}'],
    ["path not a string", '{"type":"response","request":{"id":"1","operation":"update","path":7}}'],
    ["id missing", '{"type":"response","request":{"operation":"update","path":"secret/data/a"}}'],
    [
      "mount_point not a string",
      '{"type":"response","request":{"id":"1","operation":"update","path":"secret/data/a","mount_point":3}}',
    ],
    [
      "namespace not an object",
      '{"type":"response","request":{"id":"1","operation":"update","path":"secret/data/a","mount_point":"secret/","mount_type":"kv","namespace":"x"}}',
    ],
    [
      "bad time",
      '{"time":"yesterday","type":"response","request":{"id":"1","operation":"update","path":"secret/data/a","mount_point":"secret/","mount_type":"kv"}}',
    ],
    [
      "path outside its mount",
      '{"type":"response","request":{"id":"1","operation":"update","path":"other/data/a","mount_point":"secret/","mount_type":"kv"}}',
    ],
  ];
  it.each(cases)("%s → skip malformed", (_name, input) => {
    const r = new AuditParser().parse(input);
    expect(r).toMatchObject({ skip: "malformed" });
  });

  it("ignores operation names that are inherited object keys", () => {
    for (const op of ["constructor", "__proto__", "toString"]) {
      const line = `{"type":"response","request":{"id":"1","operation":"${op}","path":"secret/data/a","mount_point":"secret/","mount_type":"kv"}}`;
      expect(new AuditParser().parse(line)).toMatchObject({ skip: "not-a-change" });
      const v1 = new AuditParser({ mounts: { secret: 1 } }).parse(line);
      expect(v1).toMatchObject({ skip: "not-a-change" });
    }
  });

  it("never repeats a value from the line in the skip detail", () => {
    const canary = "canary-7c41e0-value";
    const inputs = [
      `{"type":"${canary}"}`,
      `{"type":"response","request":{"id":"1","operation":"${canary}","path":"secret/data/a","mount_point":"secret/","mount_type":"kv"}}`,
      `{"type":"response","error":"${canary}","request":{}}`,
      `${canary}{`,
    ];
    for (const input of inputs) {
      const r = new AuditParser().parse(input);
      expect("skip" in r && r.detail).not.toContain(canary);
    }
  });
});
