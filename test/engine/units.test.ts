import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { ProviderError } from "../../shared/errors/index.ts";
import {
  canonicalJson,
  fingerprint,
  idempotencyToken,
  loadFingerprintKey,
  shortFingerprint,
} from "../../shared/engine/fingerprint.ts";
import { convertKeys, mergeProperties, renderEntry, SecretValue } from "../../shared/engine/render.ts";
import { KeyedLock, mapLimit, TokenBucket, withRetries } from "../../shared/engine/resilience.ts";
import type { PushEntry } from "../../shared/engine/types.ts";

const key = Buffer.from("unit-test-fingerprint-key-0123456789");

describe("fingerprint", () => {
  it("is a keyed HMAC: another key gives another fingerprint, and it is not a plain hash", () => {
    const inputs = { sources: [{ path: "secret/app", version: 3 }], secretKey: "password" };
    const fp = fingerprint(key, inputs);
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint(key, inputs)).toBe(fp);
    expect(fingerprint(Buffer.from("another-key-of-sufficient-length"), inputs)).not.toBe(fp);
    expect(fp).not.toBe(createHash("sha256").update(canonicalJson(inputs)).digest("hex"));
  });

  it("does not depend on key order but does on every value", () => {
    expect(fingerprint(key, { a: 1, b: { c: 2, d: 3 } })).toBe(fingerprint(key, { b: { d: 3, c: 2 }, a: 1 }));
    expect(fingerprint(key, { a: 1, b: { c: 2, d: 3 } })).not.toBe(
      fingerprint(key, { a: 1, b: { c: 2, d: 4 } }),
    );
  });

  it("derives a 32-64 character token that changes with the fingerprint", () => {
    const a = idempotencyToken(fingerprint(key, { v: 1 }));
    const b = idempotencyToken(fingerprint(key, { v: 2 }));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(a).not.toBe(b);
    expect(shortFingerprint(fingerprint(key, { v: 1 }))).toHaveLength(12);
  });

  it("loads the key from env or a file, and refuses to run without one", () => {
    expect(loadFingerprintKey({ PUSHSYNC_FINGERPRINT_KEY: "k".repeat(32) }).toString()).toBe("k".repeat(32));
    const dir = mkdtempSync(join(tmpdir(), "fpkey-"));
    writeFileSync(join(dir, "key"), "from-a-file-0123456789\n");
    expect(loadFingerprintKey({ PUSHSYNC_FINGERPRINT_KEY_FILE: join(dir, "key") }).toString()).toBe(
      "from-a-file-0123456789",
    );
    expect(() => loadFingerprintKey({})).toThrow(/no fingerprint key: set PUSHSYNC_FINGERPRINT_KEY/);
    expect(() => loadFingerprintKey({ PUSHSYNC_FINGERPRINT_KEY: "short" })).toThrow(/shorter than 16/);
    expect(() => loadFingerprintKey({ PUSHSYNC_FINGERPRINT_KEY_FILE: join(dir, "missing") })).toThrow(
      /cannot read the fingerprint key file/,
    );
    expect(loadFingerprintKey({}, { development: true }).length).toBeGreaterThanOrEqual(16);
  });
});

function entry(overrides: Partial<PushEntry> = {}): PushEntry {
  return {
    pushSecret: "default/app",
    store: "aws",
    remoteKey: "/app",
    source: { vaultStore: "vault", parts: [{ location: { mount: "secret", path: "app" } }] },
    conversionStrategy: "None",
    metadata: {},
    updatePolicy: "Replace",
    deletionPolicy: "None",
    adopt: false,
    ...overrides,
  };
}

describe("rendering", () => {
  const data = { password: "pw-1", port: 5432, nested: { a: "b" } };
  const dataOf = () => data;

  it("pushes one key, or the whole source as a JSON object of strings with sorted keys", () => {
    expect(renderEntry(entry({ secretKey: "password" }), dataOf).bytes.toString()).toBe("pw-1");
    expect(renderEntry(entry({ secretKey: "port" }), dataOf).bytes.toString()).toBe("5432");
    expect(JSON.parse(renderEntry(entry(), dataOf).bytes.toString())).toEqual({
      nested: '{"a":"b"}',
      password: "pw-1",
      port: "5432",
    });
  });

  it("builds the source from ExternalSecret-style parts: property, or the whole secret as JSON", () => {
    const parts = [
      { location: { mount: "secret", path: "db" }, secretKey: "pw", property: "password" },
      { location: { mount: "secret", path: "db" }, secretKey: "all" },
    ];
    const e = entry({ source: { vaultStore: "vault", parts } });
    expect(JSON.parse(renderEntry(e, dataOf).bytes.toString())).toEqual({
      pw: "pw-1",
      all: '{"nested":{"a":"b"},"password":"pw-1","port":5432}',
    });
    const missing = entry({
      source: {
        vaultStore: "vault",
        parts: [{ location: { mount: "secret", path: "db" }, secretKey: "x", property: "nope" }],
      },
    });
    expect(() => renderEntry(missing, dataOf)).toThrow('property "nope" not found in Vault secret secret/db');
  });

  it("applies the template before picking the key", () => {
    const e = entry({
      secretKey: "dsn",
      template: { text: "dsn: {{ .password }}@db", render: (d) => ({ ...d, dsn: `${d.password}@db` }) },
    });
    expect(renderEntry(e, dataOf).bytes.toString()).toBe("pw-1@db");
  });

  it("names a missing secret key without the value", () => {
    expect(() => renderEntry(entry({ secretKey: "token" }), dataOf)).toThrow(
      'secret key "token" not found in the source data of default/app',
    );
  });

  it("ReverseUnicode turns _UXXXX_ escapes in key names into characters", () => {
    expect(convertKeys("ReverseUnicode", { admin_U002E_password: "x" })).toEqual({ "admin.password": "x" });
    expect(convertKeys("None", { admin_U002E_password: "x" })).toEqual({ admin_U002E_password: "x" });
    expect(() => convertKeys("ReverseUnicode", { a_U002E_b: "1", "a.b": "2" })).toThrow(
      /two source keys become "a.b"/,
    );
  });

  it("merges properties into a JSON object and refuses anything else without quoting it", () => {
    const set = new Map([["user", new SecretValue(Buffer.from("u"))]]);
    expect(mergeProperties(undefined, set, [], "k")!.bytes.toString()).toBe('{"user":"u"}');
    expect(
      mergeProperties(Buffer.from('{"other":"o","gone":"g"}'), set, ["gone"], "k")!.bytes.toString(),
    ).toBe('{"other":"o","user":"u"}');
    expect(mergeProperties(Buffer.from('{"gone":"g"}'), new Map(), ["gone"], "k")).toBeUndefined();
    const canary = "not-json-canary-771";
    let message = "";
    try {
      mergeProperties(Buffer.from(canary), set, [], '"k" in store aws');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('remote secret "k" in store aws is not a JSON object; cannot set a property in it');
  });

  it("SecretValue never prints its bytes", () => {
    const v = new SecretValue(Buffer.from("hidden-value-123"));
    expect(JSON.stringify({ v })).not.toContain("hidden-value-123");
    expect(inspect({ v })).not.toContain("hidden-value-123");
    expect(`${v}`).not.toContain("hidden-value-123");
    expect(v.bytes.toString()).toBe("hidden-value-123");
  });
});

describe("resilience primitives", () => {
  it("retries retryable errors with backoff and gives up on others", async () => {
    let calls = 0;
    const result = await withRetries(
      async () => {
        calls += 1;
        if (calls < 3) throw new ProviderError("Throttled", "slow down", true);
        return "ok";
      },
      { baseDelayMs: 1 },
    );
    expect(result).toBe("ok");
    expect(calls).toBe(3);

    let permanent = 0;
    await expect(
      withRetries(async () => {
        permanent += 1;
        throw new ProviderError("NotOwned", "no");
      }),
    ).rejects.toThrow("no");
    expect(permanent).toBe(1);

    let bounded = 0;
    await expect(
      withRetries(
        async () => {
          bounded += 1;
          throw new ProviderError("Unavailable", "down", true);
        },
        { maxAttempts: 4, baseDelayMs: 1 },
      ),
    ).rejects.toThrow("down");
    expect(bounded).toBe(4);
  });

  it("waits at least retryAfterMs, and does not wait for one longer than the cap", async () => {
    let calls = 0;
    const started = Date.now();
    await withRetries(
      async () => {
        calls += 1;
        if (calls === 1) throw new ProviderError("Throttled", "wait", true, 300);
      },
      { baseDelayMs: 1 },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);

    let capped = 0;
    await expect(
      withRetries(
        async () => {
          capped += 1;
          throw new ProviderError("Throttled", "wait long", true, 60_000);
        },
        { maxDelayMs: 1_000 },
      ),
    ).rejects.toThrow("wait long");
    expect(capped).toBe(1);
  });

  it("a token bucket spreads takes at its rate after the burst", async () => {
    const bucket = new TokenBucket(20);
    const started = Date.now();
    await Promise.all(Array.from({ length: 30 }, () => bucket.take()));
    // 20 come from the initial burst, the next 10 at 20/s: about 500 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it("mapLimit keeps at most `limit` in flight and the input order", async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5 * (8 - n)));
      inFlight -= 1;
      return n * 10;
    });
    expect(out).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(peak).toBe(3);
  });

  it("KeyedLock runs one holder per key at a time, other keys in parallel", async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const job = (k: string, name: string, ms: number) =>
      lock.run(k, async () => {
        log.push(`${name}+`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${name}-`);
      });
    await Promise.all([job("a", "a1", 30), job("a", "a2", 1), job("b", "b1", 1)]);
    expect(log.indexOf("a2+")).toBeGreaterThan(log.indexOf("a1-"));
    expect(log.indexOf("b1-")).toBeLessThan(log.indexOf("a1-"));
    await expect(lock.run("a", async () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    await expect(lock.run("a", async () => "after a failure")).resolves.toBe("after a failure");
  });
});
