import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  ES_V1,
  externalSecret,
  secret,
  startCluster,
  until,
  watch,
  type Cluster,
  type JsonBody,
} from "./helpers.ts";

const SECRETS = "/api/v1/namespaces/default/secrets";
const ES = `${ES_V1}/namespaces/default/externalsecrets`;

const ownerRef = (owner: JsonBody) => ({
  apiVersion: owner.apiVersion,
  kind: owner.kind,
  name: owner.metadata.name,
  uid: owner.metadata.uid,
  controller: true,
  blockOwnerDeletion: true,
});

describe("local Kubernetes: status, generation, finalizers, garbage collection, CRDs", () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster();
  });
  afterAll(() => c.close());

  const exists = async (path: string) => (await api(c.k8s, "GET", path)).status === 200;
  const gone = (path: string) => until(async () => !(await exists(path)));

  it("status subresource: creates and main-resource writes drop status changes, /status changes only status", async () => {
    const created = await api(c.k8s, "POST", ES, {
      body: externalSecret("st", { status: { set: "at-create" } }),
    });
    expect(created.body.status).toBeUndefined();
    const status = await api(c.k8s, "PUT", `${ES}/st/status`, {
      body: {
        ...created.body,
        spec: { changed: true },
        metadata: { ...created.body.metadata, labels: { x: "y" } },
        status: { ready: true },
      },
    });
    expect(status.status).toBe(200);
    expect(status.body.status).toEqual({ ready: true });
    expect(status.body.spec).toEqual(created.body.spec);
    expect(status.body.metadata.labels).toBeUndefined();
    expect(status.body.metadata.generation).toBe(1);

    const main = await api(c.k8s, "PATCH", `${ES}/st`, {
      body: { status: { ready: false }, metadata: { labels: { a: "b" } } },
    });
    expect(main.body.status).toEqual({ ready: true });
    expect(main.body.metadata.labels).toEqual({ a: "b" });
    const patched = await api(c.k8s, "PATCH", `${ES}/st/status`, {
      body: { status: { conditions: [{ type: "Ready", status: "True" }] } },
    });
    expect(patched.body.status).toEqual({ ready: true, conditions: [{ type: "Ready", status: "True" }] });
    expect((await api(c.k8s, "GET", `${ES}/st/status`)).body.status.ready).toBe(true);
    expect((await api(c.k8s, "GET", `${SECRETS.replace("secrets", "configmaps")}/x/status`)).status).toBe(
      404,
    );
  });

  it("generation grows on spec changes only", async () => {
    const created = (await api(c.k8s, "POST", ES, { body: externalSecret("gen") })).body;
    expect(created.metadata.generation).toBe(1);
    const labelled = await api(c.k8s, "PATCH", `${ES}/gen`, { body: { metadata: { labels: { a: "b" } } } });
    expect(labelled.body.metadata.generation).toBe(1);
    const status = await api(c.k8s, "PATCH", `${ES}/gen/status`, {
      body: { status: { refreshTime: "now" } },
    });
    expect(status.body.metadata.generation).toBe(1);
    const spec = await api(c.k8s, "PATCH", `${ES}/gen`, { body: { spec: { refreshInterval: "5m" } } });
    expect(spec.body.metadata.generation).toBe(2);
    const put = await api(c.k8s, "PUT", `${ES}/gen`, {
      body: { ...spec.body, spec: { ...spec.body.spec, refreshInterval: "10m" } },
    });
    expect(put.body.metadata.generation).toBe(3);
  });

  it("serves one object at every version of its CRD, with a deprecation warning on v1beta1", async () => {
    await api(c.k8s, "POST", ES, { body: externalSecret("versions") });
    const beta = await api(
      c.k8s,
      "GET",
      "/apis/external-secrets.io/v1beta1/namespaces/default/externalsecrets/versions",
    );
    expect(beta.body.apiVersion).toBe("external-secrets.io/v1beta1");
    expect(beta.headers.warning).toBe('299 - "external-secrets.io/v1beta1 ExternalSecret is deprecated"');
    const list = await api(c.k8s, "GET", "/apis/external-secrets.io/v1beta1/externalsecrets");
    expect(list.body.kind).toBe("ExternalSecretList");
    expect(list.body.items.every((i: JsonBody) => i.apiVersion === "external-secrets.io/v1beta1")).toBe(true);
  });

  it("finalizers keep a deleted object, marked with deletionTimestamp, until the last one goes", async () => {
    const created = (
      await api(c.k8s, "POST", ES, {
        body: externalSecret("fin", { metadata: { finalizers: ["example.com/cleanup"] } }),
      })
    ).body;
    const w = await watch(
      c.k8s,
      `${ES}?watch=1&fieldSelector=metadata.name%3Dfin&resourceVersion=${created.metadata.resourceVersion}`,
    );
    const deleted = await api(c.k8s, "DELETE", `${ES}/fin`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.kind).toBe("ExternalSecret");
    expect(deleted.body.metadata.deletionTimestamp).toBeDefined();
    expect(deleted.body.metadata.deletionGracePeriodSeconds).toBe(0);
    expect(deleted.body.metadata.generation).toBe(2);
    expect(await exists(`${ES}/fin`)).toBe(true);

    const more = await api(c.k8s, "PATCH", `${ES}/fin`, {
      body: { metadata: { finalizers: ["example.com/cleanup", "example.com/new"] } },
    });
    expect(more.status).toBe(422);
    expect(more.body.message).toBe(
      'ExternalSecret "fin" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted',
    );
    const again = await api(c.k8s, "DELETE", `${ES}/fin`);
    expect(again.body.metadata.deletionTimestamp).toBe(deleted.body.metadata.deletionTimestamp);

    const done = await api(c.k8s, "PATCH", `${ES}/fin`, { body: { metadata: { finalizers: null } } });
    expect(done.status).toBe(200);
    expect(await exists(`${ES}/fin`)).toBe(false);
    await until(() => w.events.length === 2);
    expect(w.events.map((e) => e.type)).toEqual(["MODIFIED", "DELETED"]);
    w.stop();
  });

  it("collects the Secret owned by an ExternalSecret once the ExternalSecret is deleted (background)", async () => {
    const owner = (await api(c.k8s, "POST", ES, { body: externalSecret("owner") })).body;
    await api(c.k8s, "POST", SECRETS, {
      body: secret("owned", { k: "v" }, { metadata: { ownerReferences: [ownerRef(owner)] } }),
    });
    await api(c.k8s, "POST", SECRETS, { body: secret("unowned") });
    await new Promise((r) => setTimeout(r, 20));
    expect(await exists(`${SECRETS}/owned`)).toBe(true);
    const deleted = await api(c.k8s, "DELETE", `${ES}/owner`, { body: { propagationPolicy: "Background" } });
    expect(deleted.body.status).toBe("Success");
    await gone(`${SECRETS}/owned`);
    expect(await exists(`${SECRETS}/unowned`)).toBe(true);
  });

  it("keeps a dependent that another owner still holds, dropping the reference to the gone owner", async () => {
    const a = (await api(c.k8s, "POST", ES, { body: externalSecret("owner-a") })).body;
    const b = (await api(c.k8s, "POST", ES, { body: externalSecret("owner-b") })).body;
    await api(c.k8s, "POST", SECRETS, {
      body: secret(
        "shared",
        {},
        { metadata: { ownerReferences: [ownerRef(a), { ...ownerRef(b), controller: false }] } },
      ),
    });
    await api(c.k8s, "DELETE", `${ES}/owner-a`);
    const owners = async () =>
      ((await api(c.k8s, "GET", `${SECRETS}/shared`)).body.metadata.ownerReferences ?? []).map(
        (r: JsonBody) => r.name,
      );
    await until(async () => (await owners()).length === 1);
    expect(await owners()).toEqual(["owner-b"]);
  });

  it("foreground deletion keeps the owner until its dependents are gone; orphan deletion keeps the dependents", async () => {
    const fg = (await api(c.k8s, "POST", ES, { body: externalSecret("fg") })).body;
    await api(c.k8s, "POST", SECRETS, {
      body: secret("fg-dep", {}, { metadata: { ownerReferences: [ownerRef(fg)] } }),
    });
    const pending = await api(c.k8s, "DELETE", `${ES}/fg`, { body: { propagationPolicy: "Foreground" } });
    expect(pending.body.metadata.finalizers).toEqual(["foregroundDeletion"]);
    await gone(`${ES}/fg`);
    expect(await exists(`${SECRETS}/fg-dep`)).toBe(false);

    const orphaning = (await api(c.k8s, "POST", ES, { body: externalSecret("orph") })).body;
    await api(c.k8s, "POST", SECRETS, {
      body: secret("orph-dep", {}, { metadata: { ownerReferences: [ownerRef(orphaning)] } }),
    });
    const orphaned = await api(c.k8s, "DELETE", `${ES}/orph?propagationPolicy=Orphan`);
    expect(orphaned.body.metadata.finalizers).toEqual(["orphan"]);
    await gone(`${ES}/orph`);
    const dep = await api(c.k8s, "GET", `${SECRETS}/orph-dep`);
    expect(dep.status).toBe(200);
    expect(dep.body.metadata.ownerReferences).toBeUndefined();
  });

  it("collects objects whose owner does not exist", async () => {
    const ghost = {
      apiVersion: "v1",
      kind: "ConfigMap",
      name: "ghost",
      uid: "00000000-0000-0000-0000-000000000000",
    };
    await api(c.k8s, "POST", SECRETS, {
      body: secret("orphan-at-birth", {}, { metadata: { ownerReferences: [ghost] } }),
    });
    await gone(`${SECRETS}/orphan-at-birth`);
  });

  it("deleting a namespace marks it Terminating, empties it and then removes it", async () => {
    await api(c.k8s, "POST", "/api/v1/namespaces", { body: { metadata: { name: "doomed" } } });
    const ns = (await api(c.k8s, "GET", "/api/v1/namespaces/doomed")).body;
    expect(ns.metadata.labels).toEqual({ "kubernetes.io/metadata.name": "doomed" });
    expect(ns.spec).toEqual({ finalizers: ["kubernetes"] });
    expect(ns.status).toEqual({ phase: "Active" });
    await api(c.k8s, "POST", "/api/v1/namespaces/doomed/secrets", { body: secret("inside") });
    await api(c.k8s, "POST", "/api/v1/namespaces/doomed/configmaps", {
      body: { metadata: { name: "held", finalizers: ["example.com/hold"] } },
    });
    const deleting = await api(c.k8s, "DELETE", "/api/v1/namespaces/doomed");
    expect(deleting.body.status.phase).toBe("Terminating");
    const refused = await api(c.k8s, "POST", "/api/v1/namespaces/doomed/secrets", { body: secret("late") });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toBe(
      'secrets "late" is forbidden: unable to create new content in namespace doomed because it is being terminated',
    );
    await gone("/api/v1/namespaces/doomed/secrets/inside");
    expect(await exists("/api/v1/namespaces/doomed")).toBe(true);
    await api(c.k8s, "PATCH", "/api/v1/namespaces/doomed/configmaps/held", {
      body: { metadata: { finalizers: null } },
    });
    await gone("/api/v1/namespaces/doomed");
  });

  it("registers the kinds of a CRD written through the API, and removes them and their objects with it", async () => {
    const crd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "widgets.example.com" },
      spec: {
        group: "example.com",
        names: { kind: "Widget", plural: "widgets", singular: "widget", shortNames: ["wd"] },
        scope: "Cluster",
        versions: [
          { name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object" } } },
        ],
      },
    };
    const created = await api(c.k8s, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
      body: crd,
    });
    expect(created.status).toBe(201);
    expect(created.body.status.conditions.map((x: JsonBody) => [x.type, x.status])).toEqual([
      ["NamesAccepted", "True"],
      ["Established", "True"],
    ]);
    const discovery = await api(c.k8s, "GET", "/apis/example.com/v1");
    expect(discovery.body.resources).toEqual([
      expect.objectContaining({ name: "widgets", kind: "Widget", namespaced: false, shortNames: ["wd"] }),
    ]);
    const w = await api(c.k8s, "POST", "/apis/example.com/v1/widgets", {
      body: { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" }, spec: { size: 1 } },
    });
    expect(w.status).toBe(201);
    expect(w.body.metadata.namespace).toBeUndefined();
    // No status subresource here: status is an ordinary field.
    const withStatus = await api(c.k8s, "PATCH", "/apis/example.com/v1/widgets/w", {
      body: { status: { s: 1 } },
    });
    expect(withStatus.body.status).toEqual({ s: 1 });
    expect((await api(c.k8s, "GET", "/apis/example.com/v1/widgets/w/status")).status).toBe(404);

    const badName = await api(c.k8s, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
      body: { ...crd, metadata: { name: "gadgets.example.com" } },
    });
    expect(badName.status).toBe(422);
    expect(badName.body.message).toContain(
      'metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group',
    );

    const removed = await api(
      c.k8s,
      "DELETE",
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
    );
    expect(removed.status).toBe(200);
    expect((await api(c.k8s, "GET", "/apis/example.com/v1/widgets")).status).toBe(404);
    expect((await api(c.k8s, "GET", "/apis/example.com/v1")).status).toBe(404);
    await api(c.k8s, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", { body: crd });
    expect((await api(c.k8s, "GET", "/apis/example.com/v1/widgets")).body.items).toEqual([]);
  });

  it("stores leases with their holder, with 409 on concurrent acquisition", async () => {
    const path = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    const lease = (
      await api(c.k8s, "POST", path, {
        body: {
          metadata: { name: "leader" },
          spec: { holderIdentity: "a", leaseDurationSeconds: 15, renewTime: "2025-01-01T00:00:00.000000Z" },
        },
      })
    ).body;
    const b = await api(c.k8s, "PUT", `${path}/leader`, {
      body: { ...lease, spec: { ...lease.spec, holderIdentity: "b" } },
    });
    const cAttempt = await api(c.k8s, "PUT", `${path}/leader`, {
      body: { ...lease, spec: { ...lease.spec, holderIdentity: "c" } },
    });
    expect([b.status, cAttempt.status]).toEqual([200, 409]);
    expect((await api(c.k8s, "GET", `${path}/leader`)).body.spec).toEqual({
      ...lease.spec,
      holderIdentity: "b",
    });
  });
});
