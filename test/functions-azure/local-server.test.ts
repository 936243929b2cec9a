/**
 * startAzureFunctionsServer (functions/azure/local.ts): the HTTP adapter that runs the Azure
 * handlers without the Functions host, fed by the forwarder's own webhook sink and the host's
 * admin paths, as `pushsync dev` runs it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzureFunctionsServer, type AzureFunctionsServer } from "../../functions/azure/local.ts";
import { createWebhookSink } from "../../shared/events/webhook.ts";
import { captureLogs, changeEvent, startStack, WEBHOOK_SECRET, type Stack } from "./helpers.ts";

let s: Stack;
let server: AzureFunctionsServer;

beforeAll(async () => {
  s = await startStack();
  server = await startAzureFunctionsServer({ port: 0, env: s.env, azure: { ca: s.azure.caCertPem } });
});
afterAll(async () => {
  await server?.close();
  await s?.close();
});

/** Silences the invocation logs the adapter writes to stderr. */
const quiet = <T>(fn: () => Promise<T>) => captureLogs(fn).then((r) => r.result);

describe("the local Azure functions server", () => {
  it("takes the forwarder's signed batches on /api/pushsyncPush and pushes them to Key Vault", async () => {
    const version = await s.vault.writeKv("secret", "az/a", { password: "pw-az-local-a" });
    const sink = createWebhookSink({
      name: "azure",
      url: server.urls.push,
      secret: WEBHOOK_SECRET,
      maxAttempts: 1,
    });
    try {
      await quiet(() => sink.publish([changeEvent("az/a", version)]));
    } finally {
      await sink.close?.();
    }
    expect(JSON.parse((await s.keyVaultValue("az-a"))!)).toEqual({ password: "pw-az-local-a" });
    const refused = await quiet(() => fetch(server.urls.push, { method: "POST", body: "{}" }));
    expect(refused.status).toBe(401);
  });

  it("runs the queue and timer functions through the admin paths: 202 when done, 500 when they threw", async () => {
    const version = await s.vault.writeKv("secret", "az/b", { password: "pw-az-local-b" });
    const invoke = (url: string, body: unknown) =>
      quiet(() =>
        fetch(url, {
          method: "POST",
          body: JSON.stringify(body),
          headers: { "content-type": "application/json" },
        }),
      );
    const message = JSON.stringify(changeEvent("az/b", version));

    s.azure.faults.inject({ operation: "SetSecret", status: 503 });
    const failed = await invoke(server.urls.queue, { input: message, dequeueCount: 2 });
    expect(failed.status).toBe(500);
    expect(((await failed.json()) as { error: string }).error).toContain("failed retryably");
    s.azure.faults.clear();

    expect((await invoke(server.urls.queue, { input: message })).status).toBe(202);
    expect(JSON.parse((await s.keyVaultValue("az-b"))!)).toEqual({ password: "pw-az-local-b" });
    expect((await invoke(server.urls.reconcile, {})).status).toBe(202);
    expect((await invoke(`${server.url}/admin/functions/unknown`, {})).status).toBe(404);
  });
});
