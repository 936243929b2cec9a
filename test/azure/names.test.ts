import { describe, expect, it } from "vitest";
import { PushsyncError } from "../../shared/errors/index.ts";
import { toRemoteKey, toSecretName } from "../../shared/providers/azure-key-vault/names.ts";

describe("Azure Key Vault names", () => {
  it.each([
    ["db-password", "db-password"],
    ["/prod/lambda/db-password", "prod--lambda--db-password"],
    ["team_a/app.config", "team---a--app----config"],
    ["Prod/DB", "prod--db"],
    ["a1.b2_c3-d4/e5", "a1----b2---c3-d4--e5"],
  ])("maps %s to %s", (key, name) => {
    expect(toSecretName(key)).toBe(name);
    expect(name).toMatch(/^[0-9a-z-]{1,127}$/);
  });

  it("decodes a name back to its key (without the leading slash), so mapping the decoded key is stable", () => {
    for (const key of ["/prod/lambda/db-password", "team_a/app.config", "x", "a-b_c.d/e"]) {
      const name = toSecretName(key);
      expect(toRemoteKey(name)).toBe(key.replace(/^\//, "").toLowerCase());
      expect(toSecretName(toRemoteKey(name))).toBe(name);
    }
    // Names no key maps to are returned as they are.
    expect(toRemoteKey("a-----b")).toBe("a-----b");
    expect(toRemoteKey("-lead")).toBe("-lead");
  });

  it("is injective over every accepted key of a small alphabet (up to case and one leading slash)", () => {
    const alphabet = ["a", "1", "-", "/", "_", "."];
    const keys = [""];
    for (let len = 1; len <= 5; len++)
      for (const prefix of keys.filter((k) => k.length === len - 1))
        for (const c of alphabet) keys.push(prefix + c);
    const seen = new Map<string, string>();
    let accepted = 0;
    for (const key of keys) {
      let name: string;
      try {
        name = toSecretName(key);
      } catch {
        continue;
      }
      accepted++;
      const normalised = key.replace(/^\//, "");
      const other = seen.get(name);
      if (other !== undefined) expect([name, other]).toEqual([name, normalised]);
      seen.set(name, normalised);
    }
    expect(accepted).toBeGreaterThan(100);
  });

  it("gives keys differing only by case or a leading slash the same name, which the engine reports as a collision", () => {
    expect(toSecretName("/prod/DB")).toBe(toSecretName("prod/db"));
  });

  it.each([
    ["", "empty"],
    ["/", "slash only"],
    ["a//b", "two separators in a row"],
    ["a/-b", "separator next to a dash"],
    ["a/", "separator last"],
    ["-a", "dash first"],
    ["//a", "two leading slashes"],
    ["a b", "space"],
    ["a:b", "colon"],
    ["ü", "non-ASCII"],
  ])("rejects %j (%s) with InvalidName naming the rule", (key) => {
    let error: unknown;
    try {
      toSecretName(key);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PushsyncError);
    expect((error as PushsyncError).code).toBe("InvalidName");
    expect((error as Error).message).toContain("between letters or digits");
  });

  it("rejects keys whose name would exceed 127 characters, naming the limit", () => {
    expect(toSecretName("a".repeat(127))).toHaveLength(127);
    expect(() => toSecretName("a".repeat(128))).toThrow(/128-character.*limit is 127/);
    // 66 letters and 32 slashes: 98 characters of key, 130 of name.
    const key = Array.from({ length: 33 }, () => "ab").join("/");
    expect(() => toSecretName(key)).toThrow(/limit is 127/);
  });
});
