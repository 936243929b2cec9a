import { describe, expect, it } from "vitest";
import type { WatchedPath } from "../../shared/events/index-paths.ts";
import { PathIndex } from "../../shared/events/index-paths.ts";

const at = (path: string, mount = "secret", namespace = "") => ({ namespace, mount, path });

describe("path index", () => {
  const index = new PathIndex([
    { mount: "secret", path: "app/db" },
    { mount: "/secret/", prefix: "team/" },
    { mount: "secret", prefix: "/shared" },
    { namespace: "team-a/", mount: "kv", path: "svc/api" },
    { mount: "everything" },
  ]);

  it("matches exact paths only on their mount and namespace", () => {
    expect(index.matches(at("app/db"))).toBe(true);
    expect(index.matches(at("app/db2"))).toBe(false);
    expect(index.matches(at("app"))).toBe(false);
    expect(index.matches(at("app/db", "other"))).toBe(false);
    expect(index.matches(at("svc/api", "kv", "team-a"))).toBe(true);
    expect(index.matches(at("svc/api", "kv"))).toBe(false);
    expect(index.matches(at("svc/api", "kv", "team-b"))).toBe(false);
  });

  it("matches prefixes as string prefixes", () => {
    expect(index.matches(at("team/db"))).toBe(true);
    expect(index.matches(at("team/x/y/z"))).toBe(true);
    expect(index.matches(at("teamwork/db"))).toBe(false);
    expect(index.matches(at("shared"))).toBe(true);
    expect(index.matches(at("shared-ops/x"))).toBe(true);
    expect(index.matches(at("share"))).toBe(false);
    expect(index.matches(at("a"))).toBe(false);
  });

  it("an entry without path or prefix covers its whole mount", () => {
    expect(index.matches(at("anything/at/all", "everything"))).toBe(true);
    expect(index.matches(at("x", "everything", "team-a"))).toBe(false);
  });

  it("agrees with a linear scan on random entries and paths", () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const word = (): string => ["a", "b", "c", "ab", "ba", "a/", "b/", "/c"][rand(8)]!;
    const str = (parts: number): string => Array.from({ length: parts }, word).join("");
    const entries: WatchedPath[] = [];
    for (let i = 0; i < 200; i++) {
      const ns = rand(2) ? "" : "n";
      entries.push(
        rand(2)
          ? { namespace: ns, mount: "m", path: str(1 + rand(3)) }
          : { namespace: ns, mount: "m", prefix: str(2 + rand(2)) },
      );
    }
    const idx = new PathIndex(entries);
    const trim = (s: string): string => s.replace(/^\/+|\/+$/g, "");
    const outcomes = { true: 0, false: 0 };
    for (let i = 0; i < 3000; i++) {
      const ns = rand(2) ? "" : "n";
      const path = trim(str(1 + rand(4)));
      const expected = entries.some(
        (e) =>
          (e.namespace ?? "") === ns &&
          (e.path !== undefined && trim(e.path) !== ""
            ? trim(e.path) === path
            : path.startsWith((e.prefix ?? "").replace(/^\/+/, ""))),
      );
      expect(idx.matches({ namespace: ns, mount: "m", path }), `${ns}:${path}`).toBe(expected);
      outcomes[`${expected}`]++;
    }
    // Both answers are common, so the comparison means something.
    expect(Math.min(outcomes.true, outcomes.false)).toBeGreaterThan(300);
  });

  it("looks up fast with thousands of entries", () => {
    const entries: WatchedPath[] = [];
    for (let i = 0; i < 10_000; i++) {
      entries.push({ mount: "secret", path: `apps/app-${i}/db` });
      entries.push({ mount: "secret", prefix: `teams/team-${i}/` });
    }
    const idx = new PathIndex(entries);
    const started = performance.now();
    let hits = 0;
    for (let i = 0; i < 200_000; i++) {
      if (idx.matches(at(i % 2 ? `teams/team-${i % 10_000}/x` : `apps/app-${i % 20_000}/db`))) hits++;
    }
    const perLookupUs = ((performance.now() - started) * 1000) / 200_000;
    expect(hits).toBe(150_000);
    console.log(`path index: 20,000 entries, ${perLookupUs.toFixed(2)} µs per lookup`);
    expect(perLookupUs).toBeLessThan(20);
  });
});
