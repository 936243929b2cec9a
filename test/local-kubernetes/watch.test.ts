import { CoreV1Api, makeInformer, Watch, type V1Secret } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, secret, startCluster, until, watch, type Cluster, type JsonBody } from "./helpers.ts";

const SECRETS = "/api/v1/namespaces/default/secrets";
const summary = (events: JsonBody[]) => events.map((e) => [e.type, e.object.metadata?.name]);

describe("local Kubernetes: watches", () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster({ bookmarkIntervalMs: 50 });
  });
  afterAll(() => c.close());

  const ns = async (name: string) => {
    await api(c.k8s, "POST", "/api/v1/namespaces", { body: { metadata: { name } } });
    return `/api/v1/namespaces/${name}/secrets`;
  };

  it("without a resourceVersion: ADDED for what exists, then changes, one JSON object per line", async () => {
    const path = await ns("w-initial");
    await api(c.k8s, "POST", path, { body: secret("one") });
    const w = await watch(c.k8s, `${path}?watch=1`);
    expect(w.status).toBe(200);
    await api(c.k8s, "PATCH", `${path}/one`, { body: { metadata: { labels: { a: "b" } } } });
    await api(c.k8s, "POST", path, { body: secret("two") });
    await api(c.k8s, "DELETE", `${path}/one`);
    await until(() => w.events.length === 4);
    expect(summary(w.events)).toEqual([
      ["ADDED", "one"],
      ["MODIFIED", "one"],
      ["ADDED", "two"],
      ["DELETED", "one"],
    ]);
    expect(w.events[1].object).toMatchObject({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { labels: { a: "b" } },
    });
    const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs);
    w.stop();
  });

  it("from a resourceVersion: every change after it, from the history, then live ones", async () => {
    const path = await ns("w-from-rv");
    const created = (await api(c.k8s, "POST", path, { body: secret("a") })).body;
    await api(c.k8s, "PATCH", `${path}/a`, { body: { metadata: { labels: { x: "1" } } } });
    await api(c.k8s, "POST", path, { body: secret("b") });
    const w = await watch(c.k8s, `${path}?watch=true&resourceVersion=${created.metadata.resourceVersion}`);
    await until(() => w.events.length === 2);
    await api(c.k8s, "DELETE", `${path}/b`);
    await until(() => w.events.length === 3);
    expect(summary(w.events)).toEqual([
      ["MODIFIED", "a"],
      ["ADDED", "b"],
      ["DELETED", "b"],
    ]);
    w.stop();
  });

  it("from a compacted resourceVersion: an ERROR event with a 410 Expired Status, then the end", async () => {
    const path = await ns("w-expired");
    const old = c.k8s.resourceVersion;
    await api(c.k8s, "POST", path, { body: secret("x") });
    c.k8s.compact();
    const w = await watch(c.k8s, `${path}?watch=1&resourceVersion=${old}`);
    await w.ended;
    expect(w.status).toBe(200);
    expect(w.events).toEqual([
      {
        type: "ERROR",
        object: {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: `too old resource version: ${old} (${c.k8s.resourceVersion})`,
          reason: "Expired",
          code: 410,
        },
      },
    ]);
  });

  it("sends BOOKMARKs with the current resourceVersion when asked to, and only then", async () => {
    const path = await ns("w-bookmarks");
    const w = await watch(
      c.k8s,
      `${path}?watch=1&allowWatchBookmarks=true&resourceVersion=${c.k8s.resourceVersion}`,
    );
    const plain = await watch(c.k8s, `${path}?watch=1&resourceVersion=${c.k8s.resourceVersion}`);
    await until(() => w.events.length >= 2);
    expect(w.events[0]).toEqual({
      type: "BOOKMARK",
      object: {
        kind: "Secret",
        apiVersion: "v1",
        metadata: { resourceVersion: String(c.k8s.resourceVersion) },
      },
    });
    await api(c.k8s, "POST", path, { body: secret("after") });
    await until(() =>
      w.events.some(
        (e) => e.type === "BOOKMARK" && e.object.metadata.resourceVersion === String(c.k8s.resourceVersion),
      ),
    );
    expect(plain.events.map((e) => e.type)).toEqual(["ADDED"]);
    w.stop();
    plain.stop();
  });

  it("with sendInitialEvents: the current objects, then a BOOKMARK marking their end", async () => {
    const path = await ns("w-initial-events");
    await api(c.k8s, "POST", path, { body: secret("s1") });
    const w = await watch(
      c.k8s,
      `${path}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`,
    );
    await until(() => w.events.length >= 2);
    expect(w.events[0].type).toBe("ADDED");
    expect(w.events[1]).toMatchObject({
      type: "BOOKMARK",
      object: { metadata: { annotations: { "k8s.io/initial-events-end": "true" } } },
    });
    w.stop();
  });

  it("ends the stream after timeoutSeconds", async () => {
    const started = Date.now();
    const w = await watch(c.k8s, `${SECRETS}?watch=1&timeoutSeconds=1`);
    await w.ended;
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("follows one object on the legacy /watch/ path, and selectors turn label changes into ADDED and DELETED", async () => {
    const path = await ns("w-selectors");
    await api(c.k8s, "POST", path, { body: secret("mine") });
    await api(c.k8s, "POST", path, { body: secret("other") });
    const named = await watch(c.k8s, "/api/v1/watch/namespaces/w-selectors/secrets/mine");
    const labelled = await watch(c.k8s, `${path}?watch=1&labelSelector=team%3Dblue`);
    await api(c.k8s, "PATCH", `${path}/other`, { body: { metadata: { labels: { team: "blue" } } } });
    await api(c.k8s, "PATCH", `${path}/other`, { body: { metadata: { labels: { team: "red" } } } });
    await api(c.k8s, "PATCH", `${path}/mine`, { body: { metadata: { annotations: { a: "b" } } } });
    await until(() => named.events.length === 2 && labelled.events.length === 2);
    expect(summary(named.events)).toEqual([
      ["ADDED", "mine"],
      ["MODIFIED", "mine"],
    ]);
    expect(summary(labelled.events)).toEqual([
      ["ADDED", "other"],
      ["DELETED", "other"],
    ]);
    named.stop();
    labelled.stop();
  });

  it("sends Table events when the Accept header asks for Tables (kubectl get -w)", async () => {
    const path = await ns("w-table");
    const w = await watch(c.k8s, `${path}?watch=1`, {
      accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    });
    await api(c.k8s, "POST", path, { body: secret("t", { a: "1", b: "2" }) });
    await until(() => w.events.length === 1);
    const table = w.events[0].object;
    expect(table.kind).toBe("Table");
    expect(table.columnDefinitions.map((col: JsonBody) => col.name)).toEqual(["Name", "Type", "Data", "Age"]);
    expect(table.rows[0].cells.slice(0, 3)).toEqual(["t", "Opaque", 2]);
    expect(table.rows[0].object).toMatchObject({
      kind: "PartialObjectMetadata",
      metadata: { name: "t", namespace: "w-table" },
    });
    w.stop();
  });

  it("expireWatchHistory ends open watches with a 410 ERROR event; dropWatches ends them without one", async () => {
    const a = await watch(c.k8s, `${SECRETS}?watch=1&resourceVersion=${c.k8s.resourceVersion}`);
    await until(() => c.k8s.openWatches >= 1);
    c.k8s.expireWatchHistory();
    await a.ended;
    expect(a.events.map((e) => [e.type, e.object.code, e.object.reason])).toEqual([
      ["ERROR", 410, "Expired"],
    ]);
    const b = await watch(c.k8s, `${SECRETS}?watch=1&resourceVersion=${c.k8s.resourceVersion}`);
    await until(() => c.k8s.openWatches === 1);
    c.k8s.dropWatches();
    await b.ended;
    expect(b.events).toEqual([]);
    expect(c.k8s.openWatches).toBe(0);
  });

  it("client-node Watch: events through the callback, done when the server cuts the stream", async () => {
    const path = await ns("w-client");
    const seen: string[] = [];
    let done: unknown = "not yet";
    await new Watch(c.kc).watch(
      path,
      { resourceVersion: String(c.k8s.resourceVersion) },
      (type, obj: V1Secret) => seen.push(`${type} ${obj.metadata?.name}`),
      (err) => (done = err),
    );
    await until(() => c.k8s.openWatches === 1);
    await api(c.k8s, "POST", path, { body: secret("cw") });
    await until(() => seen.length === 1);
    c.k8s.dropWatches();
    await until(() => done !== "not yet");
    expect(seen).toEqual(["ADDED cw"]);
    expect(done).toBeNull();
  });

  it("client-node informer: reconnects after dropped watches without missing changes, relists after 410", async () => {
    const path = await ns("w-informer");
    const core = c.kc.makeApiClient(CoreV1Api);
    const informer = makeInformer(c.kc, path, () => core.listNamespacedSecret({ namespace: "w-informer" }));
    const log: string[] = [];
    informer.on("add", (o) => log.push(`add ${o.metadata?.name}`));
    informer.on("update", (o) => log.push(`update ${o.metadata?.name}`));
    informer.on("delete", (o) => log.push(`delete ${o.metadata?.name}`));
    await api(c.k8s, "POST", path, { body: secret("first") });
    await informer.start();
    await until(() => log.length === 1 && c.k8s.openWatches === 1);

    c.k8s.dropWatches();
    // Written while no watch is open: the informer resumes from its last resourceVersion.
    await api(c.k8s, "POST", path, { body: secret("while-away") });
    await until(() => log.includes("add while-away"));
    const lists = c.k8s.requests.get("list secrets");

    await until(() => c.k8s.openWatches === 1);
    c.k8s.expireWatchHistory();
    await api(c.k8s, "DELETE", `${path}/first`);
    await until(() => log.includes("delete first"));
    expect(c.k8s.requests.get("list secrets")).toBe(lists + 1);

    await api(c.k8s, "PATCH", `${path}/while-away`, { body: { metadata: { labels: { v: "2" } } } });
    await until(() => log.includes("update while-away"));
    expect(informer.list().map((o) => o.metadata?.name)).toEqual(["while-away"]);
    await informer.stop();
  });
});
