/**
 * When Secrets are refreshed: refreshPolicy (Periodic, CreatedOnce, OnChange), the force-sync
 * annotation, a Secret edited by hand, and instant updates from Vault's event stream (latency
 * printed) and from the forwarder's signed webhooks.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Puller } from "../../functions/cluster/puller.ts";
import { signWebhook } from "../../shared/events/webhook.ts";
import {
  apply,
  decoded,
  eventsFor,
  externalSecret,
  forceSync,
  get,
  getSecret,
  mergePatch,
  metric,
  metricsText,
  readyWith,
  secretWith,
  startStack,
  startTestPuller,
  until,
  type Stack,
} from "./helpers.ts";

const WEBHOOK_SECRET = "webhook-signing-key-for-tests";
let stack: Stack;
let puller: Puller;

/** Resolves once the puller has reconciled the ExternalSecret `n` more times. */
async function reconciled(name: string, n: number): Promise<void> {
  const series = `externalsecret_sync_calls_total{name="${name}",namespace="default"}`;
  const count = async () => metric(await metricsText(puller), series) ?? 0;
  const start = await count();
  await until(async () => (await count()) >= start + n, 4_000, `${n} reconciles of ${name}`);
}

const esFor = (name: string, path: string, spec: Record<string, unknown> = {}) =>
  externalSecret(name, { data: [{ secretKey: "v", remoteRef: { key: path, property: "v" } }], ...spec });

beforeAll(async () => {
  stack = await startStack();
  puller = await startTestPuller(stack, {
    vaultEvents: { address: stack.vault.url, token: stack.vault.rootToken },
    webhookSecret: WEBHOOK_SECRET,
  });
  await until(() => puller.vaultEventsConnected());
});

afterAll(async () => {
  await puller?.close();
  await stack?.close();
});

describe("refreshPolicy", () => {
  it("Periodic refreshes every refreshInterval", async () => {
    await stack.vault.writeKv("secret", "r/periodic", { v: "1" });
    await apply(
      stack.kube,
      esFor("periodic", "r/periodic", { refreshPolicy: "Periodic", refreshInterval: "1s" }),
    );
    await secretWith(stack.kube, "periodic", (d) => d.v === "1");
    // Nothing changes in Vault or the cluster from here: only the interval brings the reads.
    const reads = () => stack.vault.requests.get("kv2.read");
    const before = reads();
    await until(() => reads() >= before + 2, 4_000, "two periodic reads");
  });

  it("CreatedOnce writes the Secret once and never refreshes it", async () => {
    await stack.vault.writeKv("secret", "r/once", { v: "first" });
    await apply(stack.kube, esFor("once", "r/once", { refreshPolicy: "CreatedOnce", refreshInterval: "1s" }));
    await secretWith(stack.kube, "once", (d) => d.v === "first");
    const done = reconciled("once", 3);
    await stack.vault.writeKv("secret", "r/once", { v: "second" });
    await forceSync(stack.kube, "once");
    // Looked at again after the event, the annotation and the interval: nothing to refresh.
    await done;
    expect(decoded(await getSecret(stack.kube, "once"))).toEqual({ v: "first" });
  });

  it("OnChange refreshes when the ExternalSecret changes, not when Vault does", async () => {
    await stack.vault.writeKv("secret", "r/onchange", { v: "first" });
    await apply(
      stack.kube,
      esFor("onchange", "r/onchange", { refreshPolicy: "OnChange", refreshInterval: "1s" }),
    );
    await secretWith(stack.kube, "onchange", (d) => d.v === "first");
    const done = reconciled("onchange", 2);
    await stack.vault.writeKv("secret", "r/onchange", { v: "second" });
    await done;
    expect(decoded(await getSecret(stack.kube, "onchange"))).toEqual({ v: "first" });
    await mergePatch(stack.kube, externalSecret("onchange", {}), {
      metadata: { labels: { touched: "yes" } },
    });
    await secretWith(stack.kube, "onchange", (d) => d.v === "second");
  });

  it("force-sync: a new annotation value refreshes at once, whatever the interval", async () => {
    await stack.vault.writeKv("secret", "r/forced", { v: "first" });
    await apply(stack.kube, esFor("forced", "r/forced", { refreshInterval: "1h" }));
    await secretWith(stack.kube, "forced", (d) => d.v === "first");
    const synced = (await readyWith(stack.kube, "forced", "SecretSynced")).status.syncedResourceVersion;
    const reads = stack.vault.requests.get("kv2.read");
    await forceSync(stack.kube, "forced", "1700000000");
    const after = await until(async () => {
      const got = await get(stack.kube, externalSecret("forced", {}));
      return got.status.syncedResourceVersion !== synced ? got : undefined;
    });
    expect(stack.vault.requests.get("kv2.read")).toBeGreaterThan(reads);
    // The generation is the same (no spec change); the labels-and-annotations hash is not.
    expect(after.status.syncedResourceVersion.split("-")[0]).toBe(synced.split("-")[0]);
  });
});

describe("repair", () => {
  it("a Secret edited by hand is rewritten from Vault", async () => {
    await stack.vault.writeKv("secret", "r/repair", { v: "truth" });
    await apply(stack.kube, esFor("repaired", "r/repair"));
    await secretWith(stack.kube, "repaired", (d) => d.v === "truth");
    const tampered = Buffer.from("tampered").toString("base64");
    await mergePatch(
      stack.kube,
      { apiVersion: "v1", kind: "Secret", metadata: { name: "repaired", namespace: "default" } },
      { data: { v: tampered, extra: tampered } },
    );
    const s = await secretWith(stack.kube, "repaired", (d) => d.v === "truth");
    expect(decoded(s)).toEqual({ v: "truth" });
    const reasons = (await eventsFor(stack.kube, "repaired")).map((e) => `${e.type}/${e.reason}`);
    expect(reasons).toEqual(expect.arrayContaining(["Normal/Created", "Normal/Updated"]));
  });

  it("a deleted Secret is created again", async () => {
    await stack.vault.writeKv("secret", "r/recreate", { v: "back" });
    await apply(stack.kube, esFor("recreated", "r/recreate"));
    const first = await secretWith(stack.kube, "recreated", (d) => d.v === "back");
    await stack.kube.request("DELETE", "/api/v1/namespaces/default/secrets/recreated");
    const again = await secretWith(
      stack.kube,
      "recreated",
      (d, s) => d.v === "back" && s.metadata.uid !== first.metadata.uid,
    );
    expect(again.metadata.uid).not.toBe(first.metadata.uid);
  });
});

describe("instant updates", () => {
  it("a Vault write reaches the Secret through the event stream, well before the refresh interval", async () => {
    await stack.vault.writeKv("secret", "r/instant", { v: "v0" });
    await apply(stack.kube, esFor("instant", "r/instant", { refreshInterval: "1h" }));
    await secretWith(stack.kube, "instant", (d) => d.v === "v0");
    const latencies: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const started = performance.now();
      await stack.vault.writeKv("secret", "r/instant", { v: `v${i}` });
      await secretWith(stack.kube, "instant", (d) => d.v === `v${i}`, 3_000);
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `Vault write → Kubernetes Secret updated (event stream, 5 writes): median ${latencies[2]!.toFixed(0)} ms, max ${latencies[4]!.toFixed(0)} ms`,
    );
    const text = await metricsText(puller);
    expect(metric(text, 'pushsync_puller_vault_events_total{outcome="matched"}')).toBeGreaterThanOrEqual(5);
  });

  it("find prefixes are indexed: a new secret under the path appears", async () => {
    await stack.vault.writeKv("secret", "r/tree/a", { v: "a" });
    await apply(
      stack.kube,
      externalSecret("tree", { dataFrom: [{ find: { path: "r/tree" } }], refreshInterval: "1h" }),
    );
    await secretWith(stack.kube, "tree", (d) => d.r_tree_a !== undefined);
    await stack.vault.writeKv("secret", "r/tree/b", { v: "b" });
    await secretWith(stack.kube, "tree", (d) => d.r_tree_b !== undefined, 3_000);
  });

  it("the forwarder's signed webhook refreshes the ExternalSecrets reading the path; bad signatures are refused", async () => {
    await stack.vault.writeKv("secret", "r/hooked", { v: "before" });
    await apply(stack.kube, esFor("hooked", "r/hooked", { refreshInterval: "1h" }));
    await secretWith(stack.kube, "hooked", (d) => d.v === "before");
    await puller.close();
    // A puller without the event stream: only the webhook can tell it.
    puller = await startTestPuller(stack, { webhookSecret: WEBHOOK_SECRET });
    await until(() => puller.isLeader() && puller.ready());
    await stack.vault.writeKv("secret", "r/hooked", { v: "after" });
    const body = JSON.stringify({
      delivery: "d-1",
      attempt: 1,
      events: [
        {
          id: "e-1",
          mount: "secret",
          path: "r/hooked",
          namespace: "",
          operation: "write",
          time: new Date().toISOString(),
          source: "audit",
        },
      ],
    });
    const url = `http://127.0.0.1:${puller.port}/vault-events`;
    const post = (headers: Record<string, string>) =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    expect((await post(signWebhook("wrong key", body, Math.floor(Date.now() / 1000)))).status).toBe(401);
    const signed = signWebhook(WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000));
    expect((await post(signed)).status).toBe(204);
    expect((await post(signed)).status).toBe(401); // replayed
    await secretWith(stack.kube, "hooked", (d) => d.v === "after", 3_000);
  });
});

describe("status", () => {
  it("keeps lastTransitionTime while the condition holds", async () => {
    const es = await readyWith(stack.kube, "instant", "SecretSynced");
    const ready = es.status.conditions.find((c: { type: string }) => c.type === "Ready");
    expect(Date.parse(ready.lastTransitionTime)).toBeLessThanOrEqual(Date.parse(es.status.refreshTime));
  });
});
