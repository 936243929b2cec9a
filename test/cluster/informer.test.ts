/**
 * The informer against the local Kubernetes API: watches cut by the server, 410 Gone as an ERROR
 * event and as an HTTP status (objects deleted meanwhile are reported), bookmarks, a silent
 * stream; and the puller still repairing Secrets through all of that.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalKubernetes, type LocalKubernetes } from "../../infra/local/kubernetes/index.ts";
import { Informer, type InformerEvent } from "../../functions/cluster/informer.ts";
import { KubeClient, type KubeObject } from "../../functions/cluster/kube.ts";
import type { Puller } from "../../functions/cluster/puller.ts";
import {
  apply,
  externalSecret,
  mergePatch,
  metric,
  metricsText,
  remove,
  secretObject,
  secretWith,
  startStack,
  startTestPuller,
  until,
  type Stack,
} from "./helpers.ts";

let stack: Stack;
let client: KubeClient;
const informers: Informer<KubeObject>[] = [];

/** Resolves once one more watch stream is open on the server than `before`. */
const watching = (before: number, k8s = stack.k8s) =>
  until(() => k8s.openWatches > before, 3_000, "watch open");

function secretsInformer(options: { silenceMs?: number; initialBackoffMs?: number } = {}, c = client) {
  const seen: { event: InformerEvent; name: string }[] = [];
  const informer = new Informer<KubeObject>(c, { path: "/api/v1/namespaces/default/secrets", ...options });
  informer.on((event, obj) => seen.push({ event, name: obj.metadata.name }));
  informer.start();
  informers.push(informer);
  return { informer, seen };
}

beforeAll(async () => {
  stack = await startStack();
  client = KubeClient.load(stack.k8s.kubeconfigPath);
});

afterAll(async () => {
  for (const i of informers) await i.close();
  client?.close();
  await stack?.close();
});

describe("informer", () => {
  it("lists, then watches again from its resourceVersion when the server cuts the stream", async () => {
    const before = stack.k8s.openWatches;
    const { informer, seen } = secretsInformer();
    await watching(before);
    expect(informer.get("default/vault-token")).toBeDefined();
    stack.k8s.dropWatches();
    await apply(stack.kube, secretObject("default", "after-drop", { k: "v" }));
    await until(() => seen.some((s) => s.event === "add" && s.name === "after-drop"));
    expect(informer.counters.get("lists")).toBe(1);
    expect(informer.counters.get("watches")).toBeGreaterThanOrEqual(2);
  });

  it("lists again after a 410 ERROR event", async () => {
    const before = stack.k8s.openWatches;
    const { informer, seen } = secretsInformer();
    await watching(before);
    stack.k8s.expireWatchHistory();
    await until(() => informer.counters.get("relists") >= 1, 3_000, "relist");
    await apply(stack.kube, secretObject("default", "after-410", { k: "v" }));
    await until(() => seen.some((s) => s.event === "add" && s.name === "after-410"));
    expect(informer.counters.get("lists")).toBe(2);
  });

  it("after an outage and a compaction, the new list reports what was deleted meanwhile", async () => {
    await apply(stack.kube, secretObject("default", "doomed", { k: "v" }));
    const { informer, seen } = secretsInformer({ initialBackoffMs: 50 });
    await until(() => informer.get("default/doomed") !== undefined);
    stack.k8s.faults.inject({ operation: "watch secrets", status: 500 });
    stack.k8s.dropWatches();
    await until(() => informer.counters.get("errors") >= 1, 3_000, "watch failing");
    await remove(stack.kube, secretObject("default", "doomed", {}));
    stack.k8s.compact();
    stack.k8s.faults.clear();
    await until(
      () => seen.some((s) => s.event === "delete" && s.name === "doomed"),
      5_000,
      "delete reported",
    );
    expect(informer.get("default/doomed")).toBeUndefined();
    expect(informer.counters.get("relists")).toBeGreaterThanOrEqual(1);
  });

  it("replaces a stream that stays silent, and misses nothing", async () => {
    const { informer, seen } = secretsInformer({ silenceMs: 200 });
    await until(() => informer.hasSynced());
    await until(() => informer.counters.get("silentRestarts") >= 2, 3_000, "silent restarts");
    await apply(stack.kube, secretObject("default", "after-silence", { k: "v" }));
    await until(() => seen.some((s) => s.event === "add" && s.name === "after-silence"));
  });
});

describe("informer with bookmarks", () => {
  let k8s: LocalKubernetes;
  let bookmarked: KubeClient;

  beforeAll(async () => {
    k8s = await startLocalKubernetes({
      port: 0,
      kubeconfigPath: `${stack.dir}/bookmarks-kubeconfig`,
      bookmarkIntervalMs: 50,
    });
    bookmarked = KubeClient.load(k8s.kubeconfigPath);
  });

  afterAll(async () => {
    bookmarked.close();
    await k8s.close();
  });

  it("counts bookmarks as signs of life: a quiet stream with bookmarks is kept", async () => {
    const { informer } = secretsInformer({ silenceMs: 300 }, bookmarked);
    await until(() => informer.counters.get("bookmarks") >= 10, 3_000, "bookmarks");
    expect(informer.counters.get("silentRestarts")).toBe(0);
    expect(informer.counters.get("watches")).toBe(1);
  });
});

describe("the puller through watch trouble", () => {
  let puller: Puller;

  afterAll(async () => {
    await puller?.close();
  });

  it("keeps repairing Secrets after dropped watches and a 410", async () => {
    puller = await startTestPuller(stack, { informer: { initialBackoffMs: 50 } });
    await stack.vault.writeKv("secret", "w/app", { v: "right" });
    await apply(
      stack.kube,
      externalSecret("watched", { data: [{ secretKey: "v", remoteRef: { key: "w/app", property: "v" } }] }),
    );
    await secretWith(stack.kube, "watched", (d) => d.v === "right");

    const secretRef = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "watched", namespace: "default" },
    };
    stack.k8s.dropWatches();
    await mergePatch(stack.kube, secretRef, { data: { v: Buffer.from("wrong").toString("base64") } });
    await secretWith(stack.kube, "watched", (d) => d.v === "right");

    stack.k8s.expireWatchHistory();
    await until(() => puller.informers.secrets.counters.get("relists") >= 1, 3_000, "relist");
    await mergePatch(stack.kube, secretRef, { data: { v: Buffer.from("wrong again").toString("base64") } });
    await secretWith(stack.kube, "watched", (d) => d.v === "right");

    const text = await metricsText(puller);
    expect(
      metric(text, 'pushsync_puller_watch_restarts_total{resource="secrets",reason="relists"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metric(text, 'pushsync_puller_watch_restarts_total{resource="externalsecrets",reason="relists"}'),
    ).toBeGreaterThanOrEqual(1);
  });
});
