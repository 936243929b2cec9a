/**
 * The Cloud Functions as deployed: functions/gcp/index.ts registers them with the Functions
 * Framework, configured from the environment as deploy.sh sets it (pointed at the local clouds),
 * and each is served by the framework's own server (getTestServer) and called over HTTP. The
 * functions log in to the local Vault with Vault's GCP method (iam role, signJwt through the local
 * metadata server) and push to the local GCP, read back with @google-cloud/secret-manager.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getTestServer } from "@google-cloud/functions-framework/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import { signWebhook } from "../../shared/events/webhook.ts";
import {
  captureLogs,
  changeEvent,
  PROJECT,
  startStack,
  webhookRequest,
  WEBHOOK_SECRET,
  type LogRecord,
  type Stack,
} from "./helpers.ts";

let s: Stack;
const servers: Server[] = [];
let urls: { push: string; pubsub: string; reconcile: string };

async function serve(name: string): Promise<string> {
  const server = getTestServer(name);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

beforeAll(async () => {
  s = await startStack();
  Object.assign(process.env, s.env);
  vi.resetModules();
  await import("../../functions/gcp/index.ts");
  urls = {
    push: await serve("pushsyncPush"),
    pubsub: await serve("pushsyncPubSub"),
    reconcile: await serve("pushsyncReconcile"),
  };
});
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await s?.close();
});
beforeEach(() => s.gcp.faults.clear());

interface Answer {
  status: number;
  body: Record<string, unknown>;
  logs: LogRecord[];
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const { result, logs } = await captureLogs(async () => {
    const res = await fetch(url, { method: "POST", body, headers });
    const json = res.headers.get("content-type")?.startsWith("application/json");
    return { status: res.status, body: json ? ((await res.json()) as Record<string, unknown>) : {} };
  });
  return { ...result, logs };
}

const webhook = (events: VaultChangeEvent[], options?: Parameters<typeof webhookRequest>[1]) => {
  const req = webhookRequest(events, options);
  return post(urls.push, req.body, req.headers);
};

describe("pushsyncPush (the forwarder's webhook)", () => {
  it("pushes the secrets a signed batch names, logging in to Vault as the function's service account", async () => {
    const version = await s.vault.writeKv("secret", "app/a", { user: "svc-a", password: "pw-gcp-fn-a-1" });
    const logins = s.vault.requests.get("gcp.login");
    const answer = await webhook([changeEvent("app/a", version)]);

    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ attempt: 1, events: 1, failed: 0, totals: { created: 1, error: 0 } });
    expect(JSON.parse((await s.gcpValue("app-a"))!)).toEqual({ user: "svc-a", password: "pw-gcp-fn-a-1" });
    expect(s.vault.requests.get("gcp.login") - logins).toBe(1);
    expect(s.metadata.requests.get("signJwt")).toBeGreaterThanOrEqual(1);
    const text = JSON.stringify(answer);
    expect(text).not.toContain("pw-gcp-fn-a-1");
    expect(answer.logs.find((l) => l.message === "webhook delivery")).toMatchObject({
      severity: "INFO",
      events: 1,
    });
  });

  it("refuses forged, stale, unsigned and replayed requests with 401, logging and counting each", async () => {
    const version = await s.vault.writeKv("secret", "app/b", { password: "pw-gcp-fn-b-1" });
    const event = changeEvent("app/b", version);
    const reads = s.vault.requests.get("kv2.read");

    const forged = await webhook([event], { secret: "not-the-key" });
    const stale = await webhook([event], { timestamp: Math.floor(Date.now() / 1000) - 600 });
    const unsigned = await post(urls.push, JSON.stringify({ events: [event] }), {
      "content-type": "application/json",
    });
    const genuine = webhookRequest([event]);
    const first = await post(urls.push, genuine.body, genuine.headers);
    const replayed = await post(urls.push, genuine.body, genuine.headers);

    expect([forged, stale, unsigned, replayed].map((a) => [a.status, a.body.reason])).toEqual([
      [401, "bad-signature"],
      [401, "stale"],
      [401, "missing-header"],
      [401, "replayed"],
    ]);
    expect(first.status).toBe(200);
    const rejections = [forged, stale, unsigned, replayed].map((a) =>
      a.logs.find((l) => l.message === "webhook rejected")!,
    );
    expect(rejections.map((r) => [r.severity, r.reason])).toEqual([
      ["WARNING", "bad-signature"],
      ["WARNING", "stale"],
      ["WARNING", "missing-header"],
      ["WARNING", "replayed"],
    ]);
    const totals = rejections.map((r) => Number(r.rejectedTotal));
    expect(totals.slice(1).map((t, i) => t - totals[i]!)).toEqual([1, 1, 1]);
    // Only the genuine request read Vault.
    expect(s.vault.requests.get("kv2.read") - reads).toBe(1);
  });

  it("answers 400 to a signed body that is not a batch of events, and 405 to a GET", async () => {
    const body = JSON.stringify({ events: [{ ...changeEvent("app/a", 1), operation: "rename" }] });
    const now = Math.floor(Date.now() / 1000);
    const answer = await post(urls.push, body, {
      "content-type": "application/json",
      ...signWebhook(WEBHOOK_SECRET, body, now),
    });
    expect(answer.status).toBe(400);
    expect(String(answer.body.error)).toContain("events[0]: operation");
    expect((await fetch(urls.push)).status).toBe(405);
  });

  it("answers 500 to a retryable store failure; the forwarder's next attempt pushes", async () => {
    const version = await s.vault.writeKv("secret", "app/c", { password: "pw-gcp-fn-c-1" });
    const event = changeEvent("app/c", version);
    s.gcp.faults.inject({ status: 503, times: 10 });
    const failed = await webhook([event]);
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ events: 1, failed: 1 });

    s.gcp.faults.clear();
    const retried = await webhook([event], { attempt: 2 });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ attempt: 2, failed: 0 });
    expect(JSON.parse((await s.gcpValue("app-c"))!)).toEqual({ password: "pw-gcp-fn-c-1" });
  });
});

/** A Pub/Sub message as Eventarc delivers it to a 2nd gen function: a binary-mode CloudEvent. */
function pubsubEvent(data: string, messageId = `m-${Math.random().toString(36).slice(2)}`) {
  return {
    body: JSON.stringify({
      message: {
        data: Buffer.from(data).toString("base64"),
        messageId,
        publishTime: new Date().toISOString(),
      },
      subscription: `projects/${PROJECT}/subscriptions/eventarc-pushsync`,
    }),
    headers: {
      "content-type": "application/json",
      "ce-id": messageId,
      "ce-specversion": "1.0",
      "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
      "ce-source": `//pubsub.googleapis.com/projects/${PROJECT}/topics/pushsync-events`,
      "ce-time": new Date().toISOString(),
    },
  };
}

describe("pushsyncPubSub (Pub/Sub CloudEvent)", () => {
  it("pushes one event, or a batch, from message.data and acknowledges with 2xx", async () => {
    const va = await s.vault.writeKv("secret", "app/a", { password: "pw-gcp-fn-a-2" });
    const one = pubsubEvent(JSON.stringify(changeEvent("app/a", va)));
    const first = await post(urls.pubsub, one.body, one.headers);
    expect(first.status).toBeGreaterThanOrEqual(200);
    expect(first.status).toBeLessThan(300);
    expect(JSON.parse((await s.gcpValue("app-a"))!)).toEqual({ password: "pw-gcp-fn-a-2" });

    const vb = await s.vault.writeKv("secret", "app/b", { password: "pw-gcp-fn-b-2" });
    const vc = await s.vault.writeKv("secret", "app/c", { password: "pw-gcp-fn-c-2" });
    const batch = pubsubEvent(
      JSON.stringify({ events: [changeEvent("app/b", vb), changeEvent("app/c", vc)] }),
    );
    const second = await post(urls.pubsub, batch.body, batch.headers);
    expect(second.status).toBeLessThan(300);
    expect(second.logs.find((l) => l.message === "pubsub delivery")).toMatchObject({ events: 2, failed: 0 });
    expect(JSON.parse((await s.gcpValue("app-b"))!)).toEqual({ password: "pw-gcp-fn-b-2" });
    expect(JSON.parse((await s.gcpValue("app-c"))!)).toEqual({ password: "pw-gcp-fn-c-2" });
  });

  it("fails the delivery (500, so Pub/Sub redelivers) on a retryable failure", async () => {
    const version = await s.vault.writeKv("secret", "app/a", { password: "pw-gcp-fn-a-3" });
    const msg = pubsubEvent(JSON.stringify(changeEvent("app/a", version)));
    s.gcp.faults.inject({ status: 503, times: 10 });
    const failed = await post(urls.pubsub, msg.body, msg.headers);
    expect(failed.status).toBe(500);
    expect(failed.logs.find((l) => l.message === "pubsub delivery")).toMatchObject({
      retry: true,
      failed: 1,
    });

    s.gcp.faults.clear();
    const redelivered = await post(urls.pubsub, msg.body, msg.headers);
    expect(redelivered.status).toBeLessThan(300);
    expect(JSON.parse((await s.gcpValue("app-a"))!)).toEqual({ password: "pw-gcp-fn-a-3" });
  });

  it("acknowledges a malformed message with an error log rather than having it redelivered", async () => {
    const msg = pubsubEvent("not json at all");
    const answer = await post(urls.pubsub, msg.body, msg.headers);
    expect(answer.status).toBeLessThan(300);
    expect(
      answer.logs.find((l) => l.message === "malformed Pub/Sub message: acknowledged, not retried"),
    ).toMatchObject({
      severity: "ERROR",
      reason: "the body is not JSON (15 characters)",
    });
  });
});

describe("pushsyncReconcile (Cloud Scheduler)", () => {
  it("reconciles every entry and answers a per-store summary", async () => {
    await s.vault.writeKv("secret", "app/b", { password: "pw-gcp-fn-b-3" });
    const answer = await post(urls.reconcile, "", {});
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      retryable: 0,
      stores: { "default/gcp": { totals: { updated: 1 } } },
    });
    expect(JSON.parse((await s.gcpValue("app-b"))!)).toEqual({ password: "pw-gcp-fn-b-3" });
    expect(answer.logs.find((l) => l.message === "reconcile finished")).toMatchObject({ retryable: 0 });
    expect(JSON.stringify(answer)).not.toContain("pw-gcp-fn-b-3");
  });

  it("answers 500 when an entry failed retryably, so the job shows as failed", async () => {
    await s.vault.writeKv("secret", "app/c", { password: "pw-gcp-fn-c-3" });
    s.gcp.faults.inject({ operation: "AddSecretVersion", status: 503, times: 10 });
    const answer = await post(urls.reconcile, "", {});
    expect(answer.status).toBe(500);
    expect(Number(answer.body.retryable)).toBeGreaterThanOrEqual(1);
  });
});
