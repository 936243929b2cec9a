import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CloudEventParser } from "../../shared/events/cloudevents.ts";
import type { ParseResult, VaultChangeEvent } from "../../shared/events/types.ts";

// Messages shaped like Vault's CloudEvents JSON (docs/concepts/events, the kv plugin's kvEvent calls,
// eventbus prepending the mount path); line 2 is the example from the 1.13 documentation verbatim.
const lines = readFileSync(new URL("../fixtures/events/events-kv.jsonl", import.meta.url), "utf8")
  .split("\n")
  .filter((l) => l !== "");
const line = (n: number): string => lines[n - 1]!;

function eventOf(r: ParseResult): VaultChangeEvent {
  if ("skip" in r) throw new Error(`expected an event, got skip ${r.skip}: ${r.detail}`);
  return r.event;
}

describe("event notification parser: documented format", () => {
  const parser = new CloudEventParser();

  it("turns a kv-v2/data-write into a write event with every field", () => {
    expect(eventOf(parser.parse(line(1)))).toEqual({
      id: "e0000001-aaaa-4bbb-8ccc-000000000001",
      mount: "secret",
      path: "app/db",
      version: 3,
      operation: "write",
      namespace: "",
      time: "2024-05-02T10:15:31.123456789Z",
      source: "events",
    });
  });

  it("accepts the older layout whose path is relative to the mount", () => {
    expect(eventOf(parser.parse(line(2)))).toEqual({
      id: "901f2388-aabb-a385-7bc0-0b09d5fa060b",
      mount: "secret",
      path: "foo",
      version: 1,
      operation: "write",
      namespace: "",
      time: "2023-02-17T13:11:39.227341-08:00",
      source: "events",
    });
  });

  it("maps every kv event type that changes a secret", () => {
    const got = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((n) => {
      const e = eventOf(parser.parse(line(n)));
      return [e.operation, e.mount, e.path, e.version];
    });
    expect(got).toEqual([
      ["patch", "secret", "app/db", 4],
      ["delete", "secret", "app/db", 4],
      ["delete", "secret", "app/db", 4],
      ["undelete", "secret", "app/db", 4],
      ["destroy", "secret", "app/db", 4],
      ["metadata-write", "secret", "app/db", undefined],
      ["metadata-patch", "secret", "app/db", undefined],
      ["metadata-delete", "secret", "app/db", undefined],
      ["write", "legacy", "app/token", undefined],
      ["delete", "legacy", "app/token", undefined],
    ]);
  });

  it("takes the namespace from data.namespace", () => {
    const e = eventOf(parser.parse(line(13)));
    expect([e.namespace, e.mount, e.path, e.version]).toEqual(["team-a", "kv", "svc/api", 7]);
  });

  it("skips config writes, unmodified events and other plugins", () => {
    const reasons = [14, 15, 16].map((n) => {
      const r = parser.parse(line(n));
      return "skip" in r ? r.skip : "event";
    });
    expect(reasons).toEqual(["not-a-change", "not-a-change", "not-kv"]);
  });

  it("counts skipped messages by reason", () => {
    const p = new CloudEventParser();
    for (const l of lines) p.parse(l);
    p.parse("nope");
    expect(p.skipped.snapshot()).toEqual({ malformed: 1, "not-a-change": 2, "not-kv": 1 });
  });

  it("uses the receive time when time is absent", () => {
    const msg = JSON.parse(line(1)) as Record<string, unknown>;
    delete msg.time;
    const p = new CloudEventParser({ now: () => new Date("2025-01-01T00:00:00Z") });
    expect(eventOf(p.parse(JSON.stringify(msg))).time).toBe("2025-01-01T00:00:00.000Z");
  });
});

describe("event notification parser: malformed input never throws", () => {
  const ok = JSON.parse(line(1)) as {
    data: Record<string, unknown> & { event: { metadata: Record<string, unknown> } };
  };
  const variant = (change: (m: typeof ok & Record<string, unknown>) => void): string => {
    const m = structuredClone(ok) as typeof ok & Record<string, unknown>;
    change(m);
    return JSON.stringify(m);
  };
  const cases: Array<[string, string]> = [
    ["not JSON", "{"],
    ["array", "[]"],
    ["id missing", variant((m) => delete m.id)],
    ["bad time", variant((m) => (m.time = 17))],
    ["data missing", variant((m) => delete (m as Record<string, unknown>).data)],
    ["event_type not a string", variant((m) => (m.data.event_type = ["kv-v2/data-write"]))],
    ["namespace not a string", variant((m) => (m.data.namespace = {}))],
    ["metadata missing", variant((m) => delete (m.data.event as Record<string, unknown>).metadata)],
    ["path missing", variant((m) => delete m.data.event.metadata.path)],
    ["path not a string", variant((m) => (m.data.event.metadata.path = 1))],
    ["current_version not a string", variant((m) => (m.data.event.metadata.current_version = 3))],
    ["current_version not a number", variant((m) => (m.data.event.metadata.current_version = "three"))],
    ["plugin_info missing", variant((m) => delete m.data.plugin_info)],
    ["path not a KV v2 secret path", variant((m) => (m.data.event.metadata.path = "secret/app/db"))],
  ];
  it.each(cases)("%s → skip malformed", (_name, input) => {
    expect(new CloudEventParser().parse(input)).toMatchObject({ skip: "malformed" });
  });
});
