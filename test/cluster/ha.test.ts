/**
 * High availability: two pullers share a Lease (2 s here; client-go's defaults otherwise).
 * Only the leader writes; when it dies without handing the Lease back the other takes over
 * within the lease duration; a graceful stop hands it over at once; a leader that finds the
 * Lease taken stops writing.
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
  getSecret,
  metric,
  metricsText,
  secretWith,
  startStack,
  startTestPuller,
  until,
  type Json,
  type Stack,
} from "./helpers.ts";

const LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/pushsync-puller";
let stack: Stack;
const running: Puller[] = [];

async function start(identity: string): Promise<Puller> {
  const p = await startTestPuller(stack, { identity, webhookSecret: "ha-webhook-key" });
  running.push(p);
  return p;
}

async function stop(p: Puller, releaseLease: boolean): Promise<void> {
  await p.close({ releaseLease });
  running.splice(running.indexOf(p), 1);
}

const lease = (): Promise<Json> => stack.kube.request("GET", LEASE);

beforeAll(async () => {
  stack = await startStack();
  await stack.vault.writeKv("secret", "ha/app", { v: "one" });
  await apply(
    stack.kube,
    externalSecret("ha", { data: [{ secretKey: "v", remoteRef: { key: "ha/app", property: "v" } }] }),
  );
});

afterAll(async () => {
  for (const p of [...running]) await p.close();
  await stack?.close();
});

describe("leader election", () => {
  it("one leader writes; the follower keeps its informers warm and writes nothing", async () => {
    const a = await start("puller-a");
    const b = await start("puller-b");
    await until(() => a.isLeader() !== b.isLeader() && a.ready() && b.ready());
    const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
    await secretWith(stack.kube, "ha", (d) => d.v === "one");
    const spec = (await lease()).spec;
    expect(spec).toMatchObject({ holderIdentity: leader.identity, leaseDurationSeconds: 2 });
    // MicroTime, as client-go writes it.
    expect(spec.renewTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(Date.parse(spec.acquireTime)).toBeLessThanOrEqual(Date.parse(spec.renewTime));
    const created = (await eventsFor(stack.kube, "ha")).find((e) => e.reason === "Created");
    expect(created?.source?.host).toBe(leader.identity);

    expect(follower.informers.externalsecrets.get("default/ha")).toBeDefined();
    const followerMetrics = await metricsText(follower);
    expect(metric(followerMetrics, "pushsync_puller_is_leader")).toBe(0);
    expect(
      metric(followerMetrics, 'externalsecret_sync_calls_total{name="ha",namespace="default"}'),
    ).toBeUndefined();
    expect((await fetch(`http://127.0.0.1:${follower.port}/readyz`)).status).toBe(200);

    // The follower sends webhooks back, so the forwarder retries towards the leader.
    const body = JSON.stringify({ events: [] });
    const res = await fetch(`http://127.0.0.1:${follower.port}/vault-events`, {
      method: "POST",
      headers: signWebhook("ha-webhook-key", body, Math.floor(Date.now() / 1000)),
      body,
    });
    expect(res.status).toBe(503);
  });

  it("a leader that dies without handing back the Lease is replaced once the lease runs out", async () => {
    const [leader] = running.filter((p) => p.isLeader());
    const other = running.find((p) => p !== leader)!;
    await stop(leader!, false);
    const killedAt = Date.now();
    const last = (await lease()).spec;
    const lastRenewal = Date.parse(last.renewTime);
    await until(() => other.isLeader(), 4_000, "takeover");
    const now = Date.now();
    console.log(
      `leader killed → new leader after ${now - killedAt} ms; ${now - lastRenewal} ms after its last renewal (lease 2000 ms, retry 250 ms)`,
    );
    // The follower waits a lease duration from when it saw the last renewal, then up to one retry period.
    expect(now - lastRenewal).toBeGreaterThanOrEqual(2_000);
    expect(now - lastRenewal).toBeLessThan(2_000 + 1_500);
    const spec = (await lease()).spec;
    expect(spec.holderIdentity).toBe(other.identity);
    expect(spec.leaseTransitions).toBe((last.leaseTransitions ?? 0) + 1);

    await stack.vault.writeKv("secret", "ha/app", { v: "two" });
    await forceSync(stack.kube, "ha");
    await secretWith(stack.kube, "ha", (d) => d.v === "two");
  });

  it("a graceful stop hands the Lease over at once", async () => {
    const leader = running.find((p) => p.isLeader())!;
    const next = await start("puller-c");
    await until(() => next.ready());
    const stoppedAt = performance.now();
    await stop(leader, true);
    expect((await lease()).spec).toMatchObject({ leaseDurationSeconds: 1 });
    await until(() => next.isLeader(), 2_000, "takeover after release");
    const handoverMs = performance.now() - stoppedAt;
    console.log(`leader stopped gracefully → new leader after ${handoverMs.toFixed(0)} ms`);
    expect(handoverMs).toBeLessThan(1_000);
  });

  it("a leader that finds the Lease held by someone else stops writing at once", async () => {
    const leader = running.find((p) => p.isLeader())!;
    const current = await lease();
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
    await stack.kube.request("PUT", LEASE, {
      body: {
        ...current,
        spec: {
          ...current.spec,
          holderIdentity: "intruder",
          leaseDurationSeconds: 30,
          renewTime: now,
          acquireTime: now,
        },
      },
    });
    await until(() => !leader.isLeader(), 1_000, "leadership lost");

    await stack.vault.writeKv("secret", "ha/app", { v: "three" });
    await forceSync(stack.kube, "ha");
    await new Promise((r) => setTimeout(r, 500));
    expect(decoded(await getSecret(stack.kube, "ha"))).toEqual({ v: "two" });

    // The intruder leaves: the Lease is free, the puller leads again and catches up.
    const taken = await lease();
    await stack.kube.request("PUT", LEASE, {
      body: { ...taken, spec: { ...taken.spec, holderIdentity: "" } },
    });
    await until(() => leader.isLeader(), 2_000, "leadership regained");
    await secretWith(stack.kube, "ha", (d) => d.v === "three");
  });
});
