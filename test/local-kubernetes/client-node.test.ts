import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { b64, until, startCluster, type Cluster, type JsonBody } from "./helpers.ts";

const GROUP = "external-secrets.io";

async function failure(p: Promise<unknown>): Promise<{ code: number; body: JsonBody }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiException) return { code: err.code, body: JSON.parse(String(err.body)) };
    throw err;
  }
  throw new Error("expected the call to fail");
}

describe("local Kubernetes with @kubernetes/client-node", () => {
  let c: Cluster;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  beforeAll(async () => {
    c = await startCluster();
    core = c.kc.makeApiClient(CoreV1Api);
    custom = c.kc.makeApiClient(CustomObjectsApi);
  });
  afterAll(() => c.close());

  it("CoreV1Api: namespaces, Secrets and ConfigMaps through create, read, list, replace, patch and delete", async () => {
    const namespaces = await core.listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toEqual([
      "default",
      "kube-node-lease",
      "kube-public",
      "kube-system",
    ]);
    await core.createNamespace({ body: { metadata: { name: "apps" } } });

    const created = await core.createNamespacedSecret({
      namespace: "apps",
      body: {
        metadata: { name: "db", labels: { app: "db" } },
        stringData: { password: "pw" },
        type: "Opaque",
      },
    });
    expect(created.data).toEqual({ password: b64("pw") });
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);

    const read = await core.readNamespacedSecret({ name: "db", namespace: "apps" });
    const replaced = await core.replaceNamespacedSecret({
      name: "db",
      namespace: "apps",
      body: { ...read, data: { ...read.data, user: b64("admin") } },
    });
    expect(Object.keys(replaced.data ?? {}).sort()).toEqual(["password", "user"]);
    const stale = await failure(core.replaceNamespacedSecret({ name: "db", namespace: "apps", body: read }));
    expect(stale.code).toBe(409);
    expect(stale.body.reason).toBe("Conflict");

    const patched = await core.patchNamespacedSecret(
      { name: "db", namespace: "apps", body: { metadata: { annotations: { rotated: "yes" } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    expect(patched.metadata?.annotations).toEqual({ rotated: "yes" });
    const jsonPatched = await core.patchNamespacedSecret({
      name: "db",
      namespace: "apps",
      body: [{ op: "remove", path: "/data/user" }],
    });
    expect(Object.keys(jsonPatched.data ?? {})).toEqual(["password"]);

    const listed = await core.listSecretForAllNamespaces({ labelSelector: "app=db" });
    expect(listed.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)).toEqual(["apps/db"]);
    await core.createNamespacedConfigMap({
      namespace: "apps",
      body: { metadata: { name: "cfg" }, data: { a: "1" } },
    });
    expect((await core.readNamespacedConfigMap({ name: "cfg", namespace: "apps" })).data).toEqual({ a: "1" });

    const status = await core.deleteNamespacedSecret({ name: "db", namespace: "apps" });
    expect(status.status).toBe("Success");
    const missing = await failure(core.readNamespacedSecret({ name: "db", namespace: "apps" }));
    expect([missing.code, missing.body.reason, missing.body.message]).toEqual([
      404,
      "NotFound",
      'secrets "db" not found',
    ]);
  });

  it("CoreV1Api: events about an object, found by involvedObject field selectors", async () => {
    await core.createNamespacedEvent({
      namespace: "default",
      body: {
        metadata: { name: "es-synced.1" },
        involvedObject: {
          apiVersion: `${GROUP}/v1`,
          kind: "ExternalSecret",
          name: "db",
          namespace: "default",
        },
        reason: "Updated",
        message: "secret synced",
        type: "Normal",
      },
    });
    const events = await core.listNamespacedEvent({
      namespace: "default",
      fieldSelector: "involvedObject.kind=ExternalSecret,involvedObject.name=db",
    });
    expect(events.items.map((e) => e.reason)).toEqual(["Updated"]);
  });

  it("CustomObjectsApi: ExternalSecrets with their status subresource, and cluster-scoped ClusterSecretStores", async () => {
    const body = {
      apiVersion: `${GROUP}/v1`,
      kind: "ExternalSecret",
      metadata: { name: "es" },
      spec: { secretStoreRef: { name: "vault", kind: "SecretStore" }, target: { name: "es" } },
    };
    const created = await custom.createNamespacedCustomObject({
      group: GROUP,
      version: "v1",
      namespace: "default",
      plural: "externalsecrets",
      body,
    });
    expect(created.metadata.generation).toBe(1);
    const withStatus = await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: "v1",
        namespace: "default",
        plural: "externalsecrets",
        name: "es",
        body: { status: { conditions: [{ type: "Ready", status: "True", reason: "SecretSynced" }] } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    expect(withStatus.status.conditions[0].reason).toBe("SecretSynced");
    const replaced = await custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: "v1",
      namespace: "default",
      plural: "externalsecrets",
      name: "es",
      body: { ...withStatus, status: { refreshTime: "2025-01-01T00:00:00Z" } },
    });
    expect(replaced.status).toEqual({ refreshTime: "2025-01-01T00:00:00Z" });
    const list = await custom.listNamespacedCustomObject({
      group: GROUP,
      version: "v1beta1",
      namespace: "default",
      plural: "externalsecrets",
    });
    expect(list.items.map((i: JsonBody) => [i.apiVersion, i.metadata.name])).toEqual([
      [`${GROUP}/v1beta1`, "es"],
    ]);

    await custom.createClusterCustomObject({
      group: GROUP,
      version: "v1",
      plural: "clustersecretstores",
      body: {
        apiVersion: `${GROUP}/v1`,
        kind: "ClusterSecretStore",
        metadata: { name: "vault" },
        spec: { provider: {} },
      },
    });
    const css = await custom.getClusterCustomObject({
      group: GROUP,
      version: "v1",
      plural: "clustersecretstores",
      name: "vault",
    });
    expect(css.metadata.namespace).toBeUndefined();
    const dup = await failure(
      custom.createClusterCustomObject({
        group: GROUP,
        version: "v1",
        plural: "clustersecretstores",
        body: { apiVersion: `${GROUP}/v1`, kind: "ClusterSecretStore", metadata: { name: "vault" } },
      }),
    );
    expect([dup.code, dup.body.message]).toEqual([
      409,
      'clustersecretstores.external-secrets.io "vault" already exists',
    ]);
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: "v1",
      namespace: "default",
      plural: "externalsecrets",
      name: "es",
    });
    await until(
      async () =>
        (
          await custom.listNamespacedCustomObject({
            group: GROUP,
            version: "v1",
            namespace: "default",
            plural: "externalsecrets",
          })
        ).items.length === 0,
    );
  });

  it("CoordinationV1Api: a lease acquired, renewed, and contested with 409", async () => {
    const leases = c.kc.makeApiClient(CoordinationV1Api);
    const lease = await leases.createNamespacedLease({
      namespace: "default",
      body: {
        metadata: { name: "puller" },
        spec: { holderIdentity: "a", leaseDurationSeconds: 15, acquireTime: new V1MicroTime() },
      },
    });
    expect(lease.spec?.holderIdentity).toBe("a");
    const renewed = await leases.replaceNamespacedLease({
      name: "puller",
      namespace: "default",
      body: { ...lease, spec: { ...lease.spec, renewTime: new V1MicroTime() } },
    });
    expect(String(renewed.spec?.renewTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const contested = await failure(
      leases.replaceNamespacedLease({
        name: "puller",
        namespace: "default",
        body: { ...lease, spec: { ...lease.spec, holderIdentity: "b" } },
      }),
    );
    expect(contested.code).toBe(409);
  });

  it("KubernetesObjectApi: resolves kinds through discovery and applies generic objects", async () => {
    const objects = KubernetesObjectApi.makeApiClient(c.kc);
    const store = await objects.create({
      apiVersion: `${GROUP}/v1`,
      kind: "SecretStore",
      metadata: { name: "generic", namespace: "default" },
      spec: { provider: { vault: { server: "http://127.0.0.1:8200" } } },
    } as JsonBody);
    expect(store.metadata.uid).toBeDefined();
    const read = await objects.read({
      apiVersion: `${GROUP}/v1`,
      kind: "SecretStore",
      metadata: { name: "generic", namespace: "default" },
    });
    expect((read as JsonBody).spec.provider.vault.server).toBe("http://127.0.0.1:8200");
    const secrets = await objects.list("v1", "Secret", "default");
    expect(secrets.kind).toBe("SecretList");
  });
});
