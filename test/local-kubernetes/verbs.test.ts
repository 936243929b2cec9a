import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, b64, ES_V1, externalSecret, secret, startCluster, type Cluster } from "./helpers.ts";

const SECRETS = "/api/v1/namespaces/default/secrets";
const ES = `${ES_V1}/namespaces/default/externalsecrets`;

describe("local Kubernetes: verbs and their errors", () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster();
  });
  afterAll(() => c.close());

  it("creates with uid, creationTimestamp and a new resourceVersion, and gets the object back", async () => {
    const before = c.k8s.resourceVersion;
    const created = await api(c.k8s, "POST", SECRETS, { body: secret("create-me", { a: "1" }) });
    expect(created.status).toBe(201);
    const meta = created.body.metadata;
    expect(meta.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(meta.creationTimestamp)).toBeGreaterThan(Date.now() - 10_000);
    expect(Number(meta.resourceVersion)).toBe(before + 1);
    expect(created.body).toMatchObject({
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      data: { a: b64("1") },
    });
    expect(meta.generation).toBeUndefined();

    const got = await api(c.k8s, "GET", `${SECRETS}/create-me`);
    expect(got.body).toEqual(created.body);
  });

  it("generates names from generateName", async () => {
    const a = await api(c.k8s, "POST", SECRETS, { body: { metadata: { generateName: "gen-" } } });
    const b = await api(c.k8s, "POST", SECRETS, { body: { metadata: { generateName: "gen-" } } });
    expect(a.body.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(b.body.metadata.name).not.toBe(a.body.metadata.name);
  });

  it("refuses a second object of the same name with 409 AlreadyExists", async () => {
    await api(c.k8s, "POST", SECRETS, { body: secret("twice") });
    const again = await api(c.k8s, "POST", SECRETS, { body: secret("twice") });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'secrets "twice" already exists',
      reason: "AlreadyExists",
      details: { name: "twice", kind: "secrets" },
      code: 409,
    });
  });

  it("answers 404 NotFound for missing objects and namespaces, with the group for custom resources", async () => {
    const missing = await api(c.k8s, "GET", `${SECRETS}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('secrets "nope" not found');
    const cr = await api(c.k8s, "GET", `${ES}/nope`);
    expect(cr.body).toMatchObject({
      message: 'externalsecrets.external-secrets.io "nope" not found',
      details: { name: "nope", group: "external-secrets.io", kind: "externalsecrets" },
    });
    const noNamespace = await api(c.k8s, "POST", "/api/v1/namespaces/ghost/secrets", { body: secret("x") });
    expect([noNamespace.status, noNamespace.body.message]).toEqual([404, 'namespaces "ghost" not found']);
  });

  it("updates with optimistic concurrency: 409 Conflict on a stale resourceVersion", async () => {
    const created = (await api(c.k8s, "POST", SECRETS, { body: secret("occ", { v: "1" }) })).body;
    const first = await api(c.k8s, "PUT", `${SECRETS}/occ`, { body: { ...created, data: { v: b64("2") } } });
    expect(first.status).toBe(200);
    expect(Number(first.body.metadata.resourceVersion)).toBeGreaterThan(
      Number(created.metadata.resourceVersion),
    );
    const stale = await api(c.k8s, "PUT", `${SECRETS}/occ`, { body: { ...created, data: { v: b64("3") } } });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({
      reason: "Conflict",
      message:
        'Operation cannot be fulfilled on secrets "occ": the object has been modified; please apply your changes to the latest version and try again',
      details: { name: "occ", kind: "secrets" },
    });
    // Secrets allow an update without resourceVersion; custom resources do not.
    const unconditional = await api(c.k8s, "PUT", `${SECRETS}/occ`, { body: secret("occ", { v: "4" }) });
    expect(unconditional.status).toBe(200);
    await api(c.k8s, "POST", ES, { body: externalSecret("occ-es") });
    const noRv = await api(c.k8s, "PUT", `${ES}/occ-es`, { body: externalSecret("occ-es") });
    expect(noRv.status).toBe(422);
    expect(noRv.body.message).toBe(
      'ExternalSecret "occ-es" is invalid: metadata.resourceVersion: Invalid value: "0x0": must be specified for an update',
    );
  });

  it("stores nothing for an update that changes nothing", async () => {
    const created = (await api(c.k8s, "POST", SECRETS, { body: secret("same", { a: "1" }) })).body;
    const rv = c.k8s.resourceVersion;
    const again = await api(c.k8s, "PUT", `${SECRETS}/same`, { body: created });
    expect(again.body.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    expect(c.k8s.resourceVersion).toBe(rv);
  });

  it("refuses a body whose name, namespace or apiVersion does not match the URL (400)", async () => {
    await api(c.k8s, "POST", SECRETS, { body: secret("named") });
    const name = await api(c.k8s, "PUT", `${SECRETS}/named`, { body: secret("other") });
    expect([name.status, name.body.message]).toEqual([
      400,
      "the name of the object (other) does not match the name on the URL (named)",
    ]);
    const ns = await api(c.k8s, "POST", SECRETS, {
      body: secret("x", {}, { metadata: { namespace: "kube-system" } }),
    });
    expect([ns.status, ns.body.reason]).toEqual([400, "BadRequest"]);
    const version = await api(c.k8s, "POST", ES, {
      body: { ...externalSecret("v"), apiVersion: "external-secrets.io/v1beta1" },
    });
    expect(version.body.message).toBe(
      "the API version in the data (external-secrets.io/v1beta1) does not match the expected API version (external-secrets.io/v1)",
    );
    const json = await api(c.k8s, "POST", SECRETS, {
      body: '{"metadata": {"name": "x"}, "data": {"k": "c2VjcmV0',
    });
    expect(json.status).toBe(400);
    expect(json.text).not.toContain("c2VjcmV0");
  });

  it("validates names and labels with 422 Invalid and field causes", async () => {
    const bad = await api(c.k8s, "POST", SECRETS, { body: secret("Not_Valid") });
    expect(bad.status).toBe(422);
    expect(bad.body.reason).toBe("Invalid");
    expect(bad.body.message).toMatch(
      /^Secret "Not_Valid" is invalid: metadata\.name: Invalid value: "Not_Valid": a lowercase RFC 1123 subdomain/,
    );
    expect(bad.body.details.causes).toEqual([
      expect.objectContaining({ reason: "FieldValueInvalid", field: "metadata.name" }),
    ]);
    const label = await api(c.k8s, "POST", SECRETS, {
      body: secret("l", {}, { metadata: { labels: { app: "bad value!" } } }),
    });
    expect(label.status).toBe(422);
    const missing = await api(c.k8s, "POST", SECRETS, { body: { metadata: {} } });
    expect(missing.body.message).toBe(
      'Secret "" is invalid: metadata.name: Required value: name or generateName is required',
    );
    const ns = await api(c.k8s, "POST", "/api/v1/namespaces", { body: { metadata: { name: "a.b" } } });
    expect(ns.status).toBe(422);
  });

  it("patches with JSON merge patch, JSON patch and strategic merge patch", async () => {
    await api(c.k8s, "POST", SECRETS, {
      body: secret(
        "p",
        { a: "1", b: "2" },
        { metadata: { labels: { keep: "yes", drop: "yes" }, finalizers: ["example.com/one"] } },
      ),
    });
    const merge = await api(c.k8s, "PATCH", `${SECRETS}/p`, {
      body: { metadata: { labels: { drop: null, added: "1" } }, data: { b: null, c: b64("3") } },
    });
    expect(merge.status).toBe(200);
    expect(merge.body.metadata.labels).toEqual({ keep: "yes", added: "1" });
    expect(merge.body.data).toEqual({ a: b64("1"), c: b64("3") });

    const json = await api(c.k8s, "PATCH", `${SECRETS}/p`, {
      contentType: "application/json-patch+json",
      body: [
        { op: "test", path: "/data/a", value: b64("1") },
        { op: "replace", path: "/data/a", value: b64("9") },
        { op: "add", path: "/metadata/annotations", value: { "example.com/note": "x" } },
        { op: "remove", path: "/data/c" },
      ],
    });
    expect(json.status).toBe(200);
    expect(json.body.data).toEqual({ a: b64("9") });
    expect(json.body.metadata.annotations).toEqual({ "example.com/note": "x" });
    const failed = await api(c.k8s, "PATCH", `${SECRETS}/p`, {
      contentType: "application/json-patch+json",
      body: [{ op: "test", path: "/data/a", value: b64("wrong") }],
    });
    expect(failed.status).toBe(422);
    expect(failed.text).not.toContain(b64("9"));

    // Strategic merge: finalizers merge as a set, ownerReferences by uid, $patch directives.
    const strategic = await api(c.k8s, "PATCH", `${SECRETS}/p`, {
      contentType: "application/strategic-merge-patch+json",
      body: { metadata: { finalizers: ["example.com/two"], labels: { keep: null } }, data: { d: b64("4") } },
    });
    expect(strategic.body.metadata.finalizers).toEqual(["example.com/one", "example.com/two"]);
    expect(strategic.body.metadata.labels).toEqual({ added: "1" });
    expect(strategic.body.data).toEqual({ a: b64("9"), d: b64("4") });
    // Real owners: references to missing ones would get the Secret garbage-collected.
    const owner = async (name: string) =>
      (await api(c.k8s, "POST", "/api/v1/namespaces/default/configmaps", { body: { metadata: { name } } }))
        .body.metadata.uid;
    const ref = (uid: string, name: string) => ({ apiVersion: "v1", kind: "ConfigMap", name, uid });
    const uidA = await owner("owner-a");
    const uidB = await owner("owner-b");
    const sm = (body: unknown) =>
      api(c.k8s, "PATCH", `${SECRETS}/p`, { contentType: "application/strategic-merge-patch+json", body });
    await sm({ metadata: { ownerReferences: [ref(uidA, "a"), ref(uidB, "b")] } });
    const merged = await sm({ metadata: { ownerReferences: [{ ...ref(uidB, "b"), controller: true }] } });
    expect(merged.body.metadata.ownerReferences).toEqual([
      ref(uidA, "a"),
      { ...ref(uidB, "b"), controller: true },
    ]);
    const removedRef = await sm({ metadata: { ownerReferences: [{ uid: uidA, $patch: "delete" }] } });
    expect(removedRef.body.metadata.ownerReferences.map((r: { uid: string }) => r.uid)).toEqual([uidB]);
    const removeOne = await sm({ metadata: { "$deleteFromPrimitiveList/finalizers": ["example.com/one"] } });
    expect(removeOne.body.metadata.finalizers).toEqual(["example.com/two"]);
    const replaced = await sm({
      data: { $patch: "replace", only: b64("x") },
      metadata: { finalizers: null, ownerReferences: null },
    });
    expect(replaced.body.data).toEqual({ only: b64("x") });
    expect(replaced.body.metadata.finalizers).toBeUndefined();

    // A resourceVersion in a patch is a precondition.
    const stale = await api(c.k8s, "PATCH", `${SECRETS}/p`, {
      body: { metadata: { resourceVersion: "1" }, data: {} },
    });
    expect(stale.status).toBe(409);
  });

  it("answers 415 for strategic merge patch on custom resources and for server-side apply", async () => {
    await api(c.k8s, "POST", ES, { body: externalSecret("smp") });
    const smp = await api(c.k8s, "PATCH", `${ES}/smp`, {
      contentType: "application/strategic-merge-patch+json",
      body: {},
    });
    expect(smp.status).toBe(415);
    expect(smp.body.reason).toBe("UnsupportedMediaType");
    expect(smp.body.message).toContain("application/merge-patch+json");
    const ssa = await api(c.k8s, "PATCH", `${SECRETS}/twice?fieldManager=me`, {
      contentType: "application/apply-patch+yaml",
      body: "{}",
    });
    expect(ssa.status).toBe(415);
    expect(ssa.body.message).toContain("server-side apply is not supported");
  });

  it("deletes: a Status of kind Success, then 404; preconditions give 409", async () => {
    const created = (await api(c.k8s, "POST", SECRETS, { body: secret("gone") })).body;
    const wrong = await api(c.k8s, "DELETE", `${SECRETS}/gone`, {
      body: { preconditions: { uid: "not-the-uid" } },
    });
    expect(wrong.status).toBe(409);
    const deleted = await api(c.k8s, "DELETE", `${SECRETS}/gone`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name: "gone", kind: "secrets", uid: created.metadata.uid },
    });
    expect((await api(c.k8s, "GET", `${SECRETS}/gone`)).status).toBe(404);
    expect((await api(c.k8s, "DELETE", `${SECRETS}/gone`)).status).toBe(404);
  });

  it("deletes a collection by label selector", async () => {
    await api(c.k8s, "POST", "/api/v1/namespaces", { body: { metadata: { name: "bulk" } } });
    for (const [name, tier] of [
      ["a", "x"],
      ["b", "x"],
      ["c", "y"],
    ]) {
      await api(c.k8s, "POST", "/api/v1/namespaces/bulk/configmaps", {
        body: { metadata: { name, labels: { tier } } },
      });
    }
    const removed = await api(c.k8s, "DELETE", "/api/v1/namespaces/bulk/configmaps?labelSelector=tier%3Dx");
    expect(removed.body.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual([
      "a",
      "b",
    ]);
    const left = await api(c.k8s, "GET", "/api/v1/namespaces/bulk/configmaps");
    expect(left.body.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(["c"]);
  });

  it("leaves the store untouched with dryRun=All", async () => {
    const rv = c.k8s.resourceVersion;
    const dry = await api(c.k8s, "POST", `${SECRETS}?dryRun=All`, { body: secret("dry", { a: "1" }) });
    expect(dry.status).toBe(201);
    expect(dry.body.metadata.uid).toBeDefined();
    expect((await api(c.k8s, "GET", `${SECRETS}/dry`)).status).toBe(404);
    expect(c.k8s.resourceVersion).toBe(rv);
  });

  it("decodes protobuf request bodies of built-in kinds, as client-go's typed clients send them", async () => {
    // Length-delimited protobuf fields: enough for strings, bytes, maps and nested messages.
    const field = (no: number, value: Buffer | string) => {
      const bytes = Buffer.from(value);
      return Buffer.concat([Buffer.from([(no << 3) | 2, bytes.length]), bytes]);
    };
    const entry = (no: number, key: string, value: Buffer | string) =>
      field(no, Buffer.concat([field(1, key), field(2, value)]));
    const envelope = (kind: string, raw: Buffer) =>
      Buffer.concat([
        Buffer.from("k8s\0"),
        field(1, Buffer.concat([field(1, "v1"), field(2, kind)])),
        field(2, raw),
      ]);
    const proto = "application/vnd.kubernetes.protobuf";

    const body = envelope(
      "Secret",
      Buffer.concat([
        field(1, Buffer.concat([field(1, "from-proto"), entry(11, "app", "web")])),
        entry(2, "key", Buffer.from([0, 1, 2, 255])),
        field(3, "example.com/custom"),
      ]),
    );
    const created = await api(c.k8s, "POST", SECRETS, { body, contentType: proto });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      metadata: { name: "from-proto", labels: { app: "web" } },
      data: { key: Buffer.from([0, 1, 2, 255]).toString("base64") },
      type: "example.com/custom",
    });
    expect(created.body.metadata.generateName).toBeUndefined();

    const owner = (
      await api(c.k8s, "POST", "/api/v1/namespaces/default/configmaps", {
        body: { metadata: { name: "proto-owner" } },
      })
    ).body;
    const orphan = envelope("DeleteOptions", field(4, "Orphan"));
    const deleted = await api(
      c.k8s,
      "DELETE",
      `/api/v1/namespaces/default/configmaps/${owner.metadata.name}`,
      {
        body: orphan,
        contentType: proto,
      },
    );
    expect(deleted.body.metadata.finalizers).toEqual(["orphan"]);

    const unknown = await api(c.k8s, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", {
      body: envelope("Lease", field(1, field(1, "l"))),
      contentType: proto,
    });
    expect([unknown.status, unknown.body.reason]).toEqual([415, "UnsupportedMediaType"]);
  });

  it("answers 405 for verbs a path does not take", async () => {
    const reply = await api(c.k8s, "POST", `${SECRETS}/twice`, { body: secret("twice") });
    expect([reply.status, reply.body.reason]).toEqual([405, "MethodNotAllowed"]);
  });

  it("injects faults per operation: 429 TooManyRequests with Retry-After, 500, and latency", async () => {
    c.k8s.requests.reset();
    c.k8s.faults.inject({ operation: "list secrets", status: 429, times: 1, retryAfterSeconds: 2 });
    const throttled = await api(c.k8s, "GET", SECRETS);
    expect(throttled.status).toBe(429);
    expect(throttled.headers["retry-after"]).toBe("2");
    expect(throttled.body).toMatchObject({ reason: "TooManyRequests", details: { retryAfterSeconds: 2 } });
    expect((await api(c.k8s, "GET", SECRETS)).status).toBe(200);

    c.k8s.faults.inject({ operation: "get externalsecrets.external-secrets.io", status: 500, times: 1 });
    expect((await api(c.k8s, "GET", `${ES}/smp`)).body.reason).toBe("InternalError");
    expect((await api(c.k8s, "GET", `${ES}/smp`)).status).toBe(200);

    c.k8s.faults.latencyMs = 150;
    const started = Date.now();
    await api(c.k8s, "GET", `${SECRETS}/twice`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    c.k8s.faults.clear();
    expect(c.k8s.requests.get("list secrets")).toBe(2);
    expect(c.k8s.requests.get("get externalsecrets.external-secrets.io")).toBe(2);
  });
});
