/**
 * startGcpFunctionsServer (functions/gcp/local.ts): the three functions behind one port, fed by
 * the forwarder's own webhook sink, as `pushsync dev` runs them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGcpFunctionsServer, type GcpFunctionsServer } from "../../functions/gcp/local.ts";
import { createWebhookSink } from "../../shared/events/webhook.ts";
import { captureLogs, changeEvent, PROJECT, startStack, WEBHOOK_SECRET, type Stack } from "./helpers.ts";

let s: Stack;
let server: GcpFunctionsServer;

beforeAll(async () => {
  s = await startStack();
  server = await startGcpFunctionsServer({ port: 0, env: s.env });
});
afterAll(async () => {
  await server?.close();
  await s?.close();
});

describe("the local GCP functions server", () => {
  it("takes the forwarder's signed batches and pushes them; a forged batch is refused and counted", async () => {
    const version = await s.vault.writeKv("secret", "app/a", { password: "pw-gcp-local-a" });
    const sink = createWebhookSink({
      name: "gcp",
      url: server.urls.push,
      secret: WEBHOOK_SECRET,
      maxAttempts: 1,
    });
    const forged = createWebhookSink({
      name: "forged",
      url: server.urls.push,
      secret: "wrong",
      maxAttempts: 1,
    });
    try {
      await captureLogs(() => sink.publish([changeEvent("app/a", version)]));
      expect(JSON.parse((await s.gcpValue("app-a"))!)).toEqual({ password: "pw-gcp-local-a" });

      const { result } = await captureLogs(() =>
        forged.publish([changeEvent("app/a", version)]).then(
          () => "delivered",
          (err: Error) => err.message,
        ),
      );
      expect(result).toContain("endpoint answered 401");
      expect(server.functions.host.webhook().rejected.snapshot()).toEqual({ "bad-signature": 1 });
    } finally {
      await sink.close?.();
      await forged.close?.();
    }
  });

  it("serves the Pub/Sub function (structured-mode CloudEvent) and the reconcile function by path", async () => {
    const version = await s.vault.writeKv("secret", "app/b", { password: "pw-gcp-local-b" });
    const data = Buffer.from(JSON.stringify(changeEvent("app/b", version))).toString("base64");
    const { result: pubsub } = await captureLogs(() =>
      fetch(server.urls.pubsub, {
        method: "POST",
        headers: { "content-type": "application/cloudevents+json" },
        body: JSON.stringify({
          specversion: "1.0",
          id: "local-1",
          type: "google.cloud.pubsub.topic.v1.messagePublished",
          source: `//pubsub.googleapis.com/projects/${PROJECT}/topics/pushsync-events`,
          datacontenttype: "application/json",
          data: { message: { data, messageId: "local-1" }, subscription: "local" },
        }),
      }),
    );
    expect(pubsub.status).toBeLessThan(300);
    expect(JSON.parse((await s.gcpValue("app-b"))!)).toEqual({ password: "pw-gcp-local-b" });

    const { result: reconcile } = await captureLogs(() => fetch(server.urls.reconcile, { method: "POST" }));
    expect(reconcile.status).toBe(200);
    expect(await reconcile.json()).toMatchObject({ retryable: 0, stores: { "default/gcp": {} } });

    const missing = await fetch(`${server.url}/nothing`);
    expect(missing.status).toBe(404);
  });
});
