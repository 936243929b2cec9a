import { describe, expect, it } from "vitest";
import { ProviderError } from "../../shared/errors/index.ts";
import { crc32c } from "../../shared/providers/gcp-secret-manager/crc32c.ts";
import { toProviderError } from "../../shared/providers/gcp-secret-manager/errors.ts";
import { keyForSecretId, secretIdForKey } from "../../shared/providers/gcp-secret-manager/names.ts";

describe("GCP key mapping", () => {
  it.each([
    ["db-password", "db-password"],
    ["DB_Password-2", "DB_Password-2"],
    ["/prod/lambda/db-password", "__prod__lambda__db-password"],
    ["prod/lambda/db-password", "prod__lambda__db-password"],
    ["/a", "__a"],
    ["a//b/", "a____b__"],
    ["my_app/db", "my_app__db"],
  ])("maps %s to %s and back", (key, id) => {
    expect(secretIdForKey(key)).toBe(id);
    expect(keyForSecretId(id)).toBe(key);
  });

  it.each([
    ["", "empty"],
    ["a__b", "'__' is reserved"],
    ["a_/b", "'_' may not stand next to '/'"],
    ["a/_b", "'_' may not stand next to '/'"],
    ["a.b", "only letters"],
    ["prod:db", "only letters"],
    ["é", "only letters"],
    ["x".repeat(256), "over the limit of 255"],
    ["/" + "x".repeat(254), "over the limit of 255"],
  ])("rejects %j naming the rule", (key, rule) => {
    let err: unknown;
    try {
      secretIdForKey(key);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).code).toBe("InvalidName");
    expect((err as ProviderError).message).toContain(rule);
  });

  it("never maps two keys to the same id", () => {
    const parts = ["", "a", "b", "a_b", "-", "_x", "y_", "/"];
    const keys = new Set<string>();
    for (const p of parts) for (const q of parts) for (const r of parts) keys.add(p + q + r);
    const seen = new Map<string, string>();
    let mapped = 0;
    for (const key of keys) {
      let id: string;
      try {
        id = secretIdForKey(key);
      } catch {
        continue;
      }
      mapped++;
      expect(seen.get(id), `${key} and ${seen.get(id)} both map to ${id}`).toBeUndefined();
      seen.set(id, key);
      expect(keyForSecretId(id)).toBe(key);
    }
    expect(mapped).toBeGreaterThan(100);
  });

  it("leaves ids no key maps to as they are", () => {
    expect(keyForSecretId("a___b")).toBe("a___b");
    expect(keyForSecretId("x__")).toBe("x/");
  });
});

describe("CRC32C", () => {
  it("matches the RFC 3720 check values", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from([...Array(32).keys()]))).toBe(0x46dd794e);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });
});

describe("GCP error mapping", () => {
  it.each([
    [{ code: 8 }, "Throttled", true],
    [{ code: 429 }, "Throttled", true],
    [{ code: 14 }, "Unavailable", true],
    [{ code: 503 }, "Unavailable", true],
    [{ code: 13 }, "Unavailable", true],
    [{ code: 500 }, "Unavailable", true],
    [{ code: 5 }, "NotFound", false],
    [{ code: 404 }, "NotFound", false],
    [{ code: 7 }, "PermissionDenied", false],
    [{ code: 401 }, "PermissionDenied", false],
    [{ code: 6 }, "Conflict", false],
    [{ code: 10 }, "Conflict", true],
    [{ code: 3 }, "Invalid", false],
    [{}, "Unavailable", true],
  ])("maps %j to %s (retryable %s)", (err, code, retryable) => {
    const mapped = toProviderError(Object.assign(new Error("server said"), err), "GetSecret", "/k");
    expect(mapped).toMatchObject({ code, retryable });
    expect(mapped.message).toContain("GetSecret");
    expect(mapped.message).toContain("'/k'");
  });
});
