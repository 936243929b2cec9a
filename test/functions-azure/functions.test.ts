/**
 * The Azure Functions handlers invoked as the Functions host invokes them, with the package's own
 * HttpRequest and InvocationContext (trigger metadata, a log handler keeping what they log). They
 * log in to the local Vault with Vault's Azure method (the App Service identity endpoint stand-in)
 * and push to the local Key Vault over HTTPS, read back with @azure/keyvault-secrets.
 */
import { HttpRequest } from "@azure/functions";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createAzureFunctions, type AzureFunctions } from "../../functions/azure/handlers.ts";
import { signWebhook } from "../../shared/events/webhook.ts";
import {
  captureLogs,
  changeEvent,
  invocation,
  startStack,
  WEBHOOK_SECRET,
  webhookRequest,
  type LogEntry,
  type Stack,
} from "./helpers.ts";

let s: Stack;
let fns: AzureFunctions;

beforeAll(async () => {
  s = await startStack();
  fns = createAzureFunctions({ env: s.env, azure: { ca: s.azure.caCertPem } });
});
afterAll(async () => {
  await fns?.host.close();
  await s?.close();
});
beforeEach(() => s.azure.faults.clear());

const timer = () => {
  const now = new Date().toISOString();
  return {
    isPastDue: false,
    schedule: { adjustForDST: false },
    scheduleStatus: { last: now, next: now, lastUpdated: now },
  };
};

/** Calls the HTTP handler as the host does for POST /api/pushsyncPush. */
async function push(body: string, headers: Record<string, string>, method = "POST") {
  const { context, logs } = invocation("pushsyncPush");
  const request = new HttpRequest({
    method,
    url: "https://pushsync-fn.azurewebsites.net/api/pushsyncPush",
    headers,
    ...(method === "POST" ? { body: { string: body } } : {}),
  });
  const { result } = await captureLogs(() => fns.push(request, context));
  return { status: result.status, body: result.jsonBody as Record<string, unknown>, logs };
}

const record = (logs: LogEntry[], msg: string) => logs.find((l) => l.record.msg === msg);

describe("pushsyncPush (HTTP trigger)", () => {
  it("pushes a signed batch to Key Vault, logging in to Vault with the app's managed identity", async () => {
    const version = await s.vault.writeKv("secret", "az/a", { password: "pw-az-fn-a-1" });
    const logins = s.vault.requests.get("azure.login");
    const req = webhookRequest([changeEvent("az/a", version)]);
    const answer = await push(req.body, req.headers);

    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ events: 1, failed: 0, totals: { created: 1 } });
    expect(JSON.parse((await s.keyVaultValue("az-a"))!)).toEqual({ password: "pw-az-fn-a-1" });
    expect(s.vault.requests.get("azure.login") - logins).toBe(1);
    expect(s.identity.requests.get("appservice")).toBeGreaterThanOrEqual(1);
    expect(record(answer.logs, "webhook delivery")).toMatchObject({ level: "information" });
    expect(JSON.stringify(answer)).not.toContain("pw-az-fn-a-1");
  });

  it("refuses forged and replayed requests with 401, each logged as a warning and counted", async () => {
    const version = await s.vault.writeKv("secret", "az/b", { password: "pw-az-fn-b-1" });
    const before = fns.host.webhook().rejected.snapshot();
    const forged = webhookRequest([changeEvent("az/b", version)], { secret: "guessed" });
    const genuine = webhookRequest([changeEvent("az/b", version)]);
    const refused = await push(forged.body, forged.headers);
    const accepted = await push(genuine.body, genuine.headers);
    const replayed = await push(genuine.body, genuine.headers);

    expect([refused.status, accepted.status, replayed.status]).toEqual([401, 200, 401]);
    expect(record(refused.logs, "webhook rejected")).toMatchObject({
      level: "warning",
      record: { reason: "bad-signature" },
    });
    expect(record(replayed.logs, "webhook rejected")).toMatchObject({
      level: "warning",
      record: { reason: "replayed" },
    });
    const after = fns.host.webhook().rejected.snapshot();
    expect((after["bad-signature"] ?? 0) - (before["bad-signature"] ?? 0)).toBe(1);
    expect((after.replayed ?? 0) - (before.replayed ?? 0)).toBe(1);
  });

  it("answers 500 on a retryable Key Vault failure and 400 to a signed body that is not events", async () => {
    const version = await s.vault.writeKv("secret", "az/c", { password: "pw-az-fn-c-1" });
    s.azure.faults.inject({ operation: "SetSecret", status: 503, times: 10 });
    const req = webhookRequest([changeEvent("az/c", version)]);
    const failed = await push(req.body, req.headers);
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ events: 1, failed: 1 });

    const body = JSON.stringify({ events: "app/c" });
    const bad = await push(body, {
      "content-type": "application/json",
      ...signWebhook(WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000)),
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe("events: a list is required");
  });
});

describe("pushsyncPush limits and settings", () => {
  it("answers 413 to a body over 1 MiB before checking it, and 500 when no webhook key is set", async () => {
    const big = "x".repeat(1024 * 1024 + 1);
    const tooLarge = await push(big, { "content-type": "application/json" });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error).toBe("body over 1048576 bytes");

    const { PUSHSYNC_WEBHOOK_SECRET: _unset, ...env } = s.env;
    const unconfigured = createAzureFunctions({ env });
    const { context, logs } = invocation("pushsyncPush");
    const req = webhookRequest([changeEvent("az/a", 1)]);
    const request = new HttpRequest({
      method: "POST",
      url: "http://localhost/api/pushsyncPush",
      headers: req.headers,
      body: { string: req.body },
    });
    const answer = await unconfigured.push(request, context);
    expect(answer).toMatchObject({ status: 500, jsonBody: { error: "not configured" } });
    expect(record(logs, "webhook endpoint not configured")?.record.error).toMatchObject({
      message: "PUSHSYNC_WEBHOOK_SECRET is not set",
    });
  });
});

describe("pushsyncQueue (Storage queue trigger)", () => {
  it("pushes the message's event and logs its dequeueCount", async () => {
    const version = await s.vault.writeKv("secret", "az/a", { password: "pw-az-fn-a-2" });
    // The host hands a JSON message to the handler already parsed.
    const { context, logs } = invocation("pushsyncQueue", { id: "msg-1", dequeueCount: 1 });
    await captureLogs(() => fns.queue(changeEvent("az/a", version), context));
    expect(JSON.parse((await s.keyVaultValue("az-a"))!)).toEqual({ password: "pw-az-fn-a-2" });
    expect(record(logs, "queue delivery")?.record).toMatchObject({
      messageId: "msg-1",
      dequeueCount: 1,
      retry: false,
    });
  });

  it("throws on a retryable failure, so the host retries it; each attempt logs its dequeueCount", async () => {
    const version = await s.vault.writeKv("secret", "az/b", { password: "pw-az-fn-b-2" });
    const message = JSON.stringify({ events: [changeEvent("az/b", version)] });
    s.azure.faults.inject({ operation: "SetSecret", status: 503 });
    const attempts: LogEntry[][] = [];
    for (const dequeueCount of [1, 2]) {
      const { context, logs } = invocation("pushsyncQueue", { id: "msg-2", dequeueCount });
      attempts.push(logs);
      const thrown = await captureLogs(() =>
        fns.queue(message, context).then(
          () => undefined,
          (e: Error) => e,
        ),
      );
      expect(thrown.result?.message).toContain("the host retries the message until maxDequeueCount");
    }
    s.azure.faults.clear();
    const { context, logs } = invocation("pushsyncQueue", { id: "msg-2", dequeueCount: 3 });
    await captureLogs(() => fns.queue(message, context));
    attempts.push(logs);
    expect(
      attempts.map((l) => [
        record(l, "queue delivery")?.record.dequeueCount,
        record(l, "queue delivery")?.record.retry,
      ]),
    ).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    expect(JSON.parse((await s.keyVaultValue("az-b"))!)).toEqual({ password: "pw-az-fn-b-2" });
  });

  it("completes a malformed message with an error log instead of retrying it", async () => {
    const { context, logs } = invocation("pushsyncQueue", { id: "msg-3", dequeueCount: 1 });
    await expect(fns.queue("{not json", context)).resolves.toBeUndefined();
    expect(record(logs, "malformed queue message: completed, not retried")).toMatchObject({
      level: "error",
      record: { reason: "the body is not JSON (9 characters)", dequeueCount: 1 },
    });
  });
});

describe("pushsyncReconcile (timer trigger)", () => {
  it("reconciles every entry and logs the per-store summary through the invocation", async () => {
    await s.vault.writeKv("secret", "az/c", { password: "pw-az-fn-c-2" });
    const { context, logs } = invocation("pushsyncReconcile");
    await captureLogs(() => fns.reconcile(timer(), context));
    expect(JSON.parse((await s.keyVaultValue("az-c"))!)).toEqual({ password: "pw-az-fn-c-2" });
    expect(record(logs, "reconcile finished")?.record).toMatchObject({
      retryable: 0,
      stores: { "default/azure": { totals: { error: 0 } } },
    });
  });

  it("fails the run when an entry failed retryably", async () => {
    await s.vault.writeKv("secret", "az/a", { password: "pw-az-fn-a-3" });
    s.azure.faults.inject({ operation: "SetSecret", status: 503 });
    const { context } = invocation("pushsyncReconcile");
    const { result } = await captureLogs(() =>
      fns.reconcile(timer(), context).then(
        () => undefined,
        (e: Error) => e,
      ),
    );
    expect(result?.message).toMatch(/^\d+ entries failed retryably; the next run retries$/);
  });
});

describe("registration", () => {
  it("functions/azure/index.ts loads outside the Functions host (the package skips registration there)", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      vi.resetModules();
      const mod = await import("../../functions/azure/index.ts");
      expect(Object.keys(mod.pushsync).sort()).toEqual(["host", "push", "queue", "reconcile"]);
      const skipped = warn.mock.calls
        .map((c) => String(c[0]))
        .filter((m) => m.includes("Skipping call to register"));
      expect(skipped.map((m) => /function "(\w+)"/.exec(m)?.[1])).toEqual([
        "pushsyncPush",
        "pushsyncQueue",
        "pushsyncReconcile",
      ]);
      await mod.pushsync.host.close();
    } finally {
      warn.mockRestore();
    }
  });
});
