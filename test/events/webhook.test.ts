import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { generate } from "selfsigned";
import type { Listening } from "../../infra/local/common/server.ts";
import { Faults, listen, readBody, RequestCounter } from "../../infra/local/common/server.ts";
import { PushsyncError } from "../../shared/errors/index.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import {
  createWebhookSink,
  ReplayCache,
  SIGNATURE_HEADER,
  signWebhook,
  TIMESTAMP_HEADER,
  verifyWebhook,
} from "../../shared/events/webhook.ts";

const secret = "whsec-test-3f9a1c";

function ev(path: string, mount = "secret"): VaultChangeEvent {
  return {
    id: `id-${path}`,
    mount,
    path,
    operation: "write",
    namespace: "",
    time: "2024-05-02T10:15:30Z",
    source: "audit",
  };
}

describe("verifyWebhook", () => {
  const body = '{"events":[]}';
  const now = 1_700_000_000_000;
  const ts = now / 1000;
  const headers = (b = body, t = ts, s = secret): Record<string, string> => signWebhook(s, b, t);

  it("accepts a signed request, with headers in any case", () => {
    const lower = Object.fromEntries(Object.entries(headers()).map(([k, v]) => [k.toLowerCase(), v]));
    expect(verifyWebhook({ secret, body, headers: lower, now })).toEqual({ ok: true, timestamp: ts });
    expect(verifyWebhook({ secret, body: Buffer.from(body), headers: headers(), now }).ok).toBe(true);
  });

  it("rejects forged signatures", () => {
    const reason = (r: ReturnType<typeof verifyWebhook>): string | undefined => (r.ok ? undefined : r.reason);
    expect(reason(verifyWebhook({ secret, body, headers: headers(body, ts, "other-secret"), now }))).toBe(
      "bad-signature",
    );
    expect(reason(verifyWebhook({ secret, body: '{"events":[1]}', headers: headers(), now }))).toBe(
      "bad-signature",
    );
    const h = headers();
    expect(reason(verifyWebhook({ secret, body, headers: { ...h, [SIGNATURE_HEADER]: "v1=00" }, now }))).toBe(
      "bad-signature",
    );
    const moved = { ...h, [TIMESTAMP_HEADER]: String(ts + 1) }; // signature was for another timestamp
    expect(reason(verifyWebhook({ secret, body, headers: moved, now }))).toBe("bad-signature");
  });

  it("rejects requests outside the time window, both ways", () => {
    expect(verifyWebhook({ secret, body, headers: headers(body, ts - 301), now })).toEqual({
      ok: false,
      reason: "stale",
    });
    expect(verifyWebhook({ secret, body, headers: headers(body, ts + 301), now })).toEqual({
      ok: false,
      reason: "stale",
    });
    expect(verifyWebhook({ secret, body, headers: headers(body, ts - 299), now }).ok).toBe(true);
    expect(
      verifyWebhook({ secret, body, headers: headers(body, ts - 60), now, toleranceSeconds: 30 }).ok,
    ).toBe(false);
  });

  it("rejects a replay when given a replay cache, until the window has passed", () => {
    const cache = new ReplayCache();
    const h = headers();
    expect(verifyWebhook({ secret, body, headers: h, now, replayCache: cache }).ok).toBe(true);
    expect(verifyWebhook({ secret, body, headers: h, now: now + 1000, replayCache: cache })).toEqual({
      ok: false,
      reason: "replayed",
    });
    expect(verifyWebhook({ secret, body, headers: h, now: now + 1000 }).ok).toBe(true); // no cache, no memory
    expect(verifyWebhook({ secret, body, headers: h, now: now + 301_000, replayCache: cache })).toEqual({
      ok: false,
      reason: "stale",
    });
  });

  it("does not let forged requests fill the replay cache", () => {
    const cache = new ReplayCache(1);
    const h = headers();
    verifyWebhook({ secret, body, headers: headers(body, ts, "forger"), now, replayCache: cache });
    expect(verifyWebhook({ secret, body, headers: h, now, replayCache: cache }).ok).toBe(true);
    expect(verifyWebhook({ secret, body, headers: h, now, replayCache: cache }).ok).toBe(false);
  });

  it("reports missing or unreadable headers", () => {
    const h = headers();
    expect(verifyWebhook({ secret, body, headers: {}, now })).toEqual({
      ok: false,
      reason: "missing-header",
    });
    expect(
      verifyWebhook({ secret, body, headers: { [TIMESTAMP_HEADER]: h[TIMESTAMP_HEADER] }, now }),
    ).toEqual({
      ok: false,
      reason: "missing-header",
    });
    expect(verifyWebhook({ secret, body, headers: { ...h, [TIMESTAMP_HEADER]: "soon" }, now })).toEqual({
      ok: false,
      reason: "bad-timestamp",
    });
  });
});

describe("webhook sink against a real HTTP endpoint", () => {
  let server: Listening;
  const faults = new Faults();
  const requests = new RequestCounter();
  const replay = new ReplayCache();
  let received: Array<{
    verified: string;
    body: { delivery: string; attempt: number; events: VaultChangeEvent[] };
  }> = [];

  beforeAll(async () => {
    server = await listen(async (req, res) => {
      requests.add("Deliver");
      const body = await readBody(req);
      const check = verifyWebhook({ secret, body, headers: req.headers, replayCache: replay });
      received.push({ verified: check.ok ? "ok" : check.reason, body: JSON.parse(body.toString()) });
      await faults.delay();
      const fault = faults.take("Deliver");
      if (fault) {
        const h: Record<string, string> = fault.retryAfterSeconds
          ? { "retry-after": String(fault.retryAfterSeconds) }
          : {};
        res.writeHead(fault.status, h).end();
        return;
      }
      res.writeHead(check.ok ? 204 : 401).end();
    });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    faults.clear();
    requests.reset();
    received = [];
  });

  const sink = (extra: Partial<Parameters<typeof createWebhookSink>[0]> = {}) =>
    createWebhookSink({
      name: "hook",
      url: `${server.url}/hooks/pushsync`,
      secret,
      baseDelayMs: 5,
      maxDelayMs: 50,
      ...extra,
    });

  it("posts a signed batch the verifier accepts", async () => {
    const s = sink();
    await s.publish([ev("a"), ev("b")]);
    await s.close?.();
    expect(received).toHaveLength(1);
    expect(received[0]!.verified).toBe("ok");
    expect(received[0]!.body.events.map((e) => e.path)).toEqual(["a", "b"]);
  });

  it("retries 5xx with fresh signatures that pass a replay cache", async () => {
    faults.inject({ operation: "Deliver", status: 503, times: 2 });
    const s = sink();
    await s.publish([ev("a")]);
    await s.close?.();
    expect(requests.get("Deliver")).toBe(3);
    expect(received.map((r) => [r.verified, r.body.attempt])).toEqual([
      ["ok", 1],
      ["ok", 2],
      ["ok", 3],
    ]);
    expect(new Set(received.map((r) => r.body.delivery)).size).toBe(1);
  });

  it("waits for Retry-After on 429, within the cap", async () => {
    faults.inject({ operation: "Deliver", status: 429, times: 1, retryAfterSeconds: 1 });
    const s = sink({ maxDelayMs: 2_000 });
    const started = Date.now();
    await s.publish([ev("a")]);
    await s.close?.();
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(requests.get("Deliver")).toBe(2);
  });

  it("gives up after maxAttempts with a retryable error that names the endpoint, not the secret", async () => {
    faults.inject({ operation: "Deliver", status: 500 });
    const s = sink({ maxAttempts: 4 });
    const err = await s.publish([ev("a")]).catch((e: unknown) => e);
    await s.close?.();
    expect(err).toBeInstanceOf(PushsyncError);
    expect(err).toMatchObject({ code: "Unavailable", retryable: true });
    expect((err as Error).message).toContain("/hooks/pushsync");
    expect((err as Error).message).toContain("status 500");
    expect((err as Error).message).not.toContain(secret);
    expect(requests.get("Deliver")).toBe(4);
  });

  it("does not retry other 4xx answers", async () => {
    const s = sink({ secret: "wrong-secret" }); // the endpoint answers 401
    const err = await s.publish([ev("a")]).catch((e: unknown) => e);
    await s.close?.();
    expect(err).toMatchObject({ code: "Invalid", retryable: false });
    expect(requests.get("Deliver")).toBe(1);
  });

  it("retries network errors", async () => {
    const gone = await listen((_req, res) => res.end());
    await gone.close(); // nothing listens on this port any more
    const s = createWebhookSink({ name: "gone", url: gone.url, secret, maxAttempts: 3, baseDelayMs: 5 });
    const err = await s.publish([ev("a")]).catch((e: unknown) => e);
    await s.close?.();
    expect(err).toMatchObject({ code: "Unavailable", retryable: true });
    expect((err as Error).message).toMatch(/after 3 attempts .*ECONNREFUSED/);
  });

  it("times out a hanging endpoint and retries", async () => {
    faults.latencyMs = 300;
    const s = sink({ timeoutMs: 100, maxAttempts: 2 });
    const err = await s.publish([ev("a")]).catch((e: unknown) => e);
    await s.close?.();
    expect((err as Error).message).toMatch(/no answer within 100 ms/);
    expect(requests.get("Deliver")).toBe(2);
  });

  it("sends only the events the endpoint serves, and nothing when none", async () => {
    const s = sink({ accept: (e) => e.mount === "payments" });
    await s.publish([ev("a"), ev("b", "payments")]);
    await s.publish([ev("c")]);
    await s.close?.();
    expect(received.map((r) => r.body.events.map((e) => e.path))).toEqual([["b"]]);
  });
});

describe("webhook sink over HTTPS", () => {
  it("delivers to an endpoint whose CA it is given, and refuses an unknown one", async () => {
    const pems = await generate([{ name: "commonName", value: "localhost" }], { keySize: 2048 });
    const got: string[] = [];
    const server = await listen(
      async (req, res) => {
        const body = await readBody(req);
        got.push(verifyWebhook({ secret, body, headers: req.headers }).ok ? "ok" : "bad");
        res.writeHead(204).end();
      },
      { tls: { key: pems.private, cert: pems.cert } },
    );
    try {
      const trusted = createWebhookSink({ name: "tls", url: server.url, secret, ca: pems.cert });
      await trusted.publish([ev("a")]);
      await trusted.close?.();
      const untrusted = createWebhookSink({ name: "tls", url: server.url, secret, maxAttempts: 1 });
      await expect(untrusted.publish([ev("a")])).rejects.toThrow(/certificate/);
      await untrusted.close?.();
      expect(got).toEqual(["ok"]);
    } finally {
      await server.close();
    }
  });
});
