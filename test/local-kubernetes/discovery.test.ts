import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { api, startCluster, type Cluster, type JsonBody } from "./helpers.ts";

const AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

describe("local Kubernetes: kubeconfig, auth and discovery", () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster();
  });
  afterAll(() => c.close());

  it("writes a kubeconfig with an HTTPS server, its CA, a bearer token and the pushsync-local context", async () => {
    const config = parse(await readFile(c.k8s.kubeconfigPath, "utf8"));
    expect(config["current-context"]).toBe("pushsync-local");
    expect(config.contexts).toEqual([
      {
        name: "pushsync-local",
        context: { cluster: "pushsync-local", user: "pushsync-local", namespace: "default" },
      },
    ]);
    expect(config.clusters[0].cluster.server).toBe(c.k8s.url);
    expect(c.k8s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(Buffer.from(config.clusters[0].cluster["certificate-authority-data"], "base64").toString()).toBe(
      c.k8s.caCertPem,
    );
    expect(config.users[0].user.token).toBe(c.k8s.token);
    expect(c.k8s.token.length).toBeGreaterThanOrEqual(32);
  });

  it("answers 401 Unauthorized without the token or with another one, and serves health checks openly", async () => {
    for (const token of [null, "wrong-token", `${c.k8s.token}x`]) {
      const reply = await api(c.k8s, "GET", "/api/v1/namespaces", { token });
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "Unauthorized",
        reason: "Unauthorized",
        code: 401,
      });
    }
    for (const path of ["/healthz", "/livez", "/readyz"]) {
      const reply = await api(c.k8s, "GET", path, { token: null });
      expect([reply.status, reply.text]).toEqual([200, "ok"]);
    }
  });

  it("serves /version and the legacy discovery documents", async () => {
    const version = await api(c.k8s, "GET", "/version");
    expect(version.body).toMatchObject({ major: "1", minor: "32", platform: "linux/amd64" });

    const apiDoc = await api(c.k8s, "GET", "/api");
    expect(apiDoc.body).toEqual({
      kind: "APIVersions",
      versions: ["v1"],
      serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: `127.0.0.1:${c.k8s.port}` }],
    });

    const core = (await api(c.k8s, "GET", "/api/v1")).body;
    expect(core.kind).toBe("APIResourceList");
    expect(core.groupVersion).toBe("v1");
    const byName = Object.fromEntries(core.resources.map((r: JsonBody) => [r.name, r]));
    expect(byName.secrets).toEqual({
      name: "secrets",
      singularName: "secret",
      namespaced: true,
      kind: "Secret",
      verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    });
    expect(byName.namespaces).toMatchObject({ namespaced: false, shortNames: ["ns"] });
    expect(byName["namespaces/status"]).toMatchObject({
      kind: "Namespace",
      verbs: ["get", "patch", "update"],
    });
    expect(Object.keys(byName).sort()).toEqual([
      "configmaps",
      "events",
      "namespaces",
      "namespaces/status",
      "secrets",
    ]);

    const groups = (await api(c.k8s, "GET", "/apis")).body;
    expect(groups.kind).toBe("APIGroupList");
    const eso = groups.groups.find((g: JsonBody) => g.name === "external-secrets.io");
    expect(eso.versions.map((v: JsonBody) => v.version)).toEqual(["v1", "v1beta1", "v1alpha1"]);
    expect(eso.preferredVersion).toEqual({ groupVersion: "external-secrets.io/v1", version: "v1" });
    expect(groups.groups.map((g: JsonBody) => g.name)).toEqual([
      "coordination.k8s.io",
      "apiextensions.k8s.io",
      "external-secrets.io",
    ]);

    const group = (await api(c.k8s, "GET", "/apis/coordination.k8s.io")).body;
    expect(group).toMatchObject({
      kind: "APIGroup",
      name: "coordination.k8s.io",
      preferredVersion: { version: "v1" },
    });

    const v1 = (await api(c.k8s, "GET", "/apis/external-secrets.io/v1")).body;
    const names = v1.resources.map((r: JsonBody) => r.name).sort();
    expect(names).toEqual([
      "clustersecretstores",
      "clustersecretstores/status",
      "externalsecrets",
      "externalsecrets/status",
      "secretstores",
      "secretstores/status",
    ]);
    const css = v1.resources.find((r: JsonBody) => r.name === "clustersecretstores");
    expect(css).toMatchObject({
      namespaced: false,
      kind: "ClusterSecretStore",
      shortNames: ["css"],
      categories: ["external-secrets"],
    });
    const alpha = (await api(c.k8s, "GET", "/apis/external-secrets.io/v1alpha1")).body;
    expect(alpha.resources.map((r: JsonBody) => r.name)).toEqual(["pushsecrets", "pushsecrets/status"]);
  });

  it("serves aggregated discovery when the Accept header asks for it", async () => {
    const accept = `${AGGREGATED},application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json`;
    const core = await api(c.k8s, "GET", "/api", { headers: { accept } });
    expect(core.headers["content-type"]).toBe(AGGREGATED);
    expect(core.body.kind).toBe("APIGroupDiscoveryList");
    expect(core.body.apiVersion).toBe("apidiscovery.k8s.io/v2");
    const secrets = core.body.items[0].versions[0].resources.find((r: JsonBody) => r.resource === "secrets");
    expect(secrets).toEqual({
      resource: "secrets",
      responseKind: { group: "", version: "v1", kind: "Secret" },
      scope: "Namespaced",
      singularResource: "secret",
      verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    });

    const apis = await api(c.k8s, "GET", "/apis", { headers: { accept } });
    const eso = apis.body.items.find((g: JsonBody) => g.metadata.name === "external-secrets.io");
    expect(eso.versions.map((v: JsonBody) => [v.version, v.freshness])).toEqual([
      ["v1", "Current"],
      ["v1beta1", "Current"],
      ["v1alpha1", "Current"],
    ]);
    const es = eso.versions[0].resources.find((r: JsonBody) => r.resource === "externalsecrets");
    expect(es.subresources).toEqual([
      {
        subresource: "status",
        responseKind: { group: "external-secrets.io", version: "v1", kind: "ExternalSecret" },
        verbs: ["get", "patch", "update"],
      },
    ]);
    expect(es.shortNames).toEqual(["es"]);

    const plain = await api(c.k8s, "GET", "/apis", { headers: { accept: "application/json" } });
    expect(plain.body.kind).toBe("APIGroupList");
  });

  it("serves OpenAPI v3: a root with hashed URLs and per group-version PATCH operations with fieldValidation", async () => {
    const root = (await api(c.k8s, "GET", "/openapi/v3")).body;
    expect(Object.keys(root.paths).sort()).toEqual([
      "api/v1",
      "apis/apiextensions.k8s.io/v1",
      "apis/coordination.k8s.io/v1",
      "apis/external-secrets.io/v1",
      "apis/external-secrets.io/v1alpha1",
      "apis/external-secrets.io/v1beta1",
    ]);
    const url = root.paths["apis/external-secrets.io/v1"].serverRelativeURL;
    expect(url).toMatch(/^\/openapi\/v3\/apis\/external-secrets\.io\/v1\?hash=[0-9A-F]{64}$/);
    const doc = (await api(c.k8s, "GET", url)).body;
    const patch =
      doc.paths["/apis/external-secrets.io/v1/namespaces/{namespace}/externalsecrets/{name}"].patch;
    expect(patch["x-kubernetes-group-version-kind"]).toEqual({
      group: "external-secrets.io",
      version: "v1",
      kind: "ExternalSecret",
    });
    expect(patch.parameters.map((p: JsonBody) => [p.name, p.in])).toContainEqual([
      "fieldValidation",
      "query",
    ]);
    expect(Object.keys(patch.requestBody.content)).not.toContain("application/strategic-merge-patch+json");
    expect((await api(c.k8s, "GET", "/openapi/v2")).status).toBe(404);
  });

  it("answers 404 NotFound Status for unknown paths and resources", async () => {
    for (const path of [
      "/api/v2",
      "/apis/nope.example.com/v1",
      "/api/v1/pods",
      "/api/v1/secrets/name-without-namespace",
      "/nothing",
    ]) {
      const reply = await api(c.k8s, "GET", path);
      expect(reply.status).toBe(404);
      expect(reply.body).toMatchObject({ kind: "Status", reason: "NotFound", code: 404 });
    }
  });
});
