import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startCluster, type Cluster, type JsonBody } from "./helpers.ts";

const NS = "/api/v1/namespaces/list-ns/configmaps";
const names = (reply: { body: JsonBody }) => reply.body.items.map((i: JsonBody) => i.metadata.name);
const q = (s: string) => encodeURIComponent(s);

describe("local Kubernetes: lists", () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster({ historyLimit: 50 });
    await api(c.k8s, "POST", "/api/v1/namespaces", { body: { metadata: { name: "list-ns" } } });
    const labels: Record<string, Record<string, string>> = {
      a: { env: "prod", tier: "web" },
      b: { env: "prod", tier: "db" },
      c: { env: "dev", tier: "web" },
      d: { env: "staging" },
      e: {},
    };
    for (const [name, l] of Object.entries(labels)) {
      await api(c.k8s, "POST", NS, { body: { metadata: { name, labels: l } } });
    }
  });
  afterAll(() => c.close());

  it("lists with kind, apiVersion, list metadata and items in name order, without apiVersion/kind on built-in items", async () => {
    const reply = await api(c.k8s, "GET", NS);
    expect(reply.body.kind).toBe("ConfigMapList");
    expect(reply.body.apiVersion).toBe("v1");
    expect(reply.body.metadata).toEqual({ resourceVersion: String(c.k8s.resourceVersion) });
    expect(names(reply)).toEqual(["a", "b", "c", "d", "e"]);
    expect(reply.body.items[0].kind).toBeUndefined();
    const all = await api(c.k8s, "GET", "/api/v1/configmaps");
    expect(names(all)).toEqual(["a", "b", "c", "d", "e"]);
  });

  it.each([
    ["env=prod", ["a", "b"]],
    ["env==prod", ["a", "b"]],
    ["env!=prod", ["c", "d", "e"]],
    ["env in (prod,dev)", ["a", "b", "c"]],
    ["env notin (prod,dev)", ["d", "e"]],
    ["tier", ["a", "b", "c"]],
    ["!tier", ["d", "e"]],
    ["env=prod,tier=web", ["a"]],
    ["env in (prod), tier notin (db)", ["a"]],
    ["", ["a", "b", "c", "d", "e"]],
  ])("selects by label %j", async (selector, expected) => {
    expect(names(await api(c.k8s, "GET", `${NS}?labelSelector=${q(selector)}`))).toEqual(expected);
  });

  it("refuses malformed label selectors with 400", async () => {
    for (const selector of ["env in (prod", "env=bad value!", "=x"]) {
      const reply = await api(c.k8s, "GET", `${NS}?labelSelector=${q(selector)}`);
      expect([selector, reply.status, reply.body.reason]).toEqual([selector, 400, "BadRequest"]);
    }
  });

  it("selects by field: metadata.name, metadata.namespace, and fields a kind allows", async () => {
    expect(names(await api(c.k8s, "GET", `${NS}?fieldSelector=${q("metadata.name=c")}`))).toEqual(["c"]);
    expect(names(await api(c.k8s, "GET", `${NS}?fieldSelector=${q("metadata.name!=c")}`))).toEqual([
      "a",
      "b",
      "d",
      "e",
    ]);
    const byNamespace = await api(
      c.k8s,
      "GET",
      `/api/v1/configmaps?fieldSelector=${q("metadata.namespace=list-ns,metadata.name==a")}`,
    );
    expect(names(byNamespace)).toEqual(["a"]);
    const byPhase = await api(
      c.k8s,
      "GET",
      `/api/v1/namespaces?fieldSelector=${q("status.phase=Active,metadata.name=list-ns")}`,
    );
    expect(names(byPhase)).toEqual(["list-ns"]);
    const unsupported = await api(c.k8s, "GET", `${NS}?fieldSelector=${q("data.a=1")}`);
    expect([unsupported.status, unsupported.body.message]).toEqual([
      400,
      "field label not supported: data.a",
    ]);
  });

  it("pages with limit and continue, at the first page's resourceVersion", async () => {
    const first = await api(c.k8s, "GET", `${NS}?limit=2`);
    expect(names(first)).toEqual(["a", "b"]);
    expect(first.body.metadata.remainingItemCount).toBe(3);
    const rv = first.body.metadata.resourceVersion;
    // Changes after the first page do not show in the next ones.
    await api(c.k8s, "POST", NS, { body: { metadata: { name: "bb" } } });
    await api(c.k8s, "DELETE", `${NS}/d`);
    const second = await api(c.k8s, "GET", `${NS}?limit=2&continue=${first.body.metadata.continue}`);
    expect(names(second)).toEqual(["c", "d"]);
    expect(second.body.metadata.resourceVersion).toBe(rv);
    const third = await api(c.k8s, "GET", `${NS}?limit=2&continue=${second.body.metadata.continue}`);
    expect(names(third)).toEqual(["e"]);
    expect(third.body.metadata.continue).toBeUndefined();
    const fresh = await api(c.k8s, "GET", NS);
    expect(names(fresh)).toEqual(["a", "b", "bb", "c", "e"]);
    const filtered = await api(c.k8s, "GET", `${NS}?limit=1&labelSelector=${q("env=prod")}`);
    expect(names(filtered)).toEqual(["a"]);
    expect(filtered.body.metadata.remainingItemCount).toBeUndefined();
    const next = await api(
      c.k8s,
      "GET",
      `${NS}?limit=1&labelSelector=${q("env=prod")}&continue=${filtered.body.metadata.continue}`,
    );
    expect(names(next)).toEqual(["b"]);
    expect((await api(c.k8s, "GET", `${NS}?continue=not-a-token`)).status).toBe(400);
  });

  it("lists at an exact older resourceVersion, and answers 410 Expired once it is compacted", async () => {
    const before = String(c.k8s.resourceVersion);
    await api(c.k8s, "POST", NS, { body: { metadata: { name: "later" } } });
    await api(c.k8s, "DELETE", `${NS}/a`);
    const exact = await api(c.k8s, "GET", `${NS}?resourceVersion=${before}&resourceVersionMatch=Exact`);
    expect(names(exact)).toContain("a");
    expect(names(exact)).not.toContain("later");
    expect(exact.body.metadata.resourceVersion).toBe(before);
    const notOlder = await api(
      c.k8s,
      "GET",
      `${NS}?resourceVersion=${before}&resourceVersionMatch=NotOlderThan`,
    );
    expect(names(notOlder)).toContain("later");
    const page = await api(c.k8s, "GET", `${NS}?limit=1`);
    await api(c.k8s, "POST", NS, { body: { metadata: { name: "before-compaction" } } });

    c.k8s.compact();
    const gone = await api(c.k8s, "GET", `${NS}?resourceVersion=${before}&resourceVersionMatch=Exact`);
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({
      reason: "Expired",
      code: 410,
      message: "The resourceVersion for the provided list is too old.",
    });
    const staleContinue = await api(c.k8s, "GET", `${NS}?limit=1&continue=${page.body.metadata.continue}`);
    expect([staleContinue.status, staleContinue.body.reason]).toEqual([410, "Expired"]);
    const tooNew = await api(c.k8s, "GET", `${NS}?resourceVersion=${c.k8s.resourceVersion + 100}`);
    expect([tooNew.status, tooNew.body.reason]).toEqual([504, "Timeout"]);
    expect((await api(c.k8s, "GET", `${NS}?resourceVersionMatch=Exact`)).status).toBe(400);
  });

  it("forgets the oldest changes beyond historyLimit", async () => {
    const old = String(c.k8s.resourceVersion);
    for (let i = 0; i < 51; i++) await api(c.k8s, "PATCH", `${NS}/b`, { body: { data: { n: String(i) } } });
    const reply = await api(c.k8s, "GET", `${NS}?resourceVersion=${old}&resourceVersionMatch=Exact`);
    expect(reply.status).toBe(410);
  });
});
