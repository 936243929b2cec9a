/**
 * infra/k8s: `kubectl kustomize` renders it, every object parses, the Deployment has its
 * security settings, RBAC is least privilege, the alerts and dashboard only use metrics the
 * puller exports, and the CRDs are accepted by an API server (the local one, through kubectl).
 */
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { startLocalKubernetes, type LocalKubernetes } from "../../infra/local/kubernetes/index.ts";
import { PullerMetrics } from "../../functions/cluster/metrics.ts";
import type { Json } from "./helpers.ts";

const root = path.join(import.meta.dirname, "..", "..");
let objects: Json[];

const find = (kind: string, name?: string): Json => {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ""}`).toBeDefined();
  return found;
};

beforeAll(() => {
  const rendered = execFileSync("kubectl", ["kustomize", path.join(root, "infra", "k8s")], {
    encoding: "utf8",
  });
  const docs = parseAllDocuments(rendered);
  for (const d of docs) expect(d.errors).toEqual([]);
  objects = docs.map((d) => d.toJS() as Json);
});

describe("kubectl kustomize infra/k8s", () => {
  it("renders every object, namespaced ones in pushsync-system", () => {
    const kinds = objects.map((o) => o.kind).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "CustomResourceDefinition",
        "Deployment",
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PrometheusRule",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
      ]),
    );
    const clusterScoped = new Set([
      "Namespace",
      "CustomResourceDefinition",
      "ClusterRole",
      "ClusterRoleBinding",
    ]);
    for (const o of objects) {
      expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(
        clusterScoped.has(o.kind) ? undefined : "pushsync-system",
      );
    }
  });

  it("has ESO-compatible CRDs with a status subresource", () => {
    const crds = objects.filter((o) => o.kind === "CustomResourceDefinition");
    expect(crds.map((c) => c.metadata.name).sort()).toEqual([
      "clustersecretstores.external-secrets.io",
      "externalsecrets.external-secrets.io",
      "pushsecrets.external-secrets.io",
      "secretstores.external-secrets.io",
    ]);
    for (const crd of crds) {
      expect(crd.spec.versions.filter((v: Json) => v.storage)).toHaveLength(1);
      for (const v of crd.spec.versions) {
        expect(v.subresources?.status).toEqual({});
        expect(v.schema.openAPIV3Schema.type).toBe("object");
      }
    }
    const es = find("CustomResourceDefinition", "externalsecrets.external-secrets.io");
    expect(es.spec.versions.map((v: Json) => [v.name, v.served, v.storage])).toEqual([
      ["v1", true, true],
      ["v1beta1", true, false],
    ]);
    const target = es.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.target;
    expect(target.properties.creationPolicy.enum).toEqual([
      "Owner",
      "Orphan",
      "Merge",
      "None",
      "CreateOrMerge",
    ]);
    expect(find("CustomResourceDefinition", "clustersecretstores.external-secrets.io").spec.scope).toBe(
      "Cluster",
    );
  });

  it("runs three hardened replicas with probes, resources and the pod name for the Lease", () => {
    const d = find("Deployment", "pushsync-puller");
    expect(d.spec.replicas).toBe(3);
    const pod = d.spec.template.spec;
    expect(pod.affinity.podAntiAffinity).toBeDefined();
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    const [c] = pod.containers;
    expect(c.args[0]).toBe("pull");
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.livenessProbe.httpGet.path).toBe("/healthz");
    expect(c.readinessProbe.httpGet.path).toBe("/readyz");
    const podName = c.env.find((e: Json) => e.name === "POD_NAME");
    expect(podName.valueFrom.fieldRef.fieldPath).toBe("metadata.name");
    const pdb = find("PodDisruptionBudget");
    expect(pdb.spec.maxUnavailable === 1 || pdb.spec.minAvailable === 2).toBe(true);
  });

  it("grants least privilege: no wildcards, leases and pods only in its namespace", () => {
    const cr = find("ClusterRole", "pushsync-puller");
    for (const rule of cr.rules) {
      expect(rule.verbs).not.toContain("*");
      expect(rule.resources).not.toContain("*");
      expect(rule.resources).not.toContain("leases");
    }
    const esRule = cr.rules.find((r: Json) => r.resources.includes("externalsecrets"));
    expect(esRule.verbs.sort()).toEqual(["get", "list", "watch"]);
    expect(cr.rules.find((r: Json) => r.resources.includes("externalsecrets/status")).verbs).not.toContain(
      "delete",
    );
    const role = find("Role");
    expect(role.rules.some((r: Json) => r.resources.includes("leases"))).toBe(true);
    expect(find("RoleBinding").subjects[0]).toMatchObject({
      kind: "ServiceAccount",
      name: "pushsync-puller",
    });
  });

  it("lets egress reach Vault, the API server and DNS only", () => {
    const np = find("NetworkPolicy");
    expect(np.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    const ports = np.spec.egress.flatMap((e: Json) => e.ports.map((p: Json) => p.port)).sort();
    expect(ports).toEqual([443, 53, 53, 6443, 8200]);
  });

  it("alerts and dashboard use only metrics the puller exports (or kube-state-metrics)", () => {
    const exported = new Set(
      [
        ...new PullerMetrics({ isLeader: () => true, queueDepth: () => 0, informers: () => [] }).registry
          .render()
          .matchAll(/^# TYPE (\S+)/gm),
      ].map((m) => m[1]),
    );
    const rules = find("PrometheusRule").spec.groups.flatMap((g: Json) => g.rules);
    expect(rules.map((r: Json) => r.alert)).toEqual(
      expect.arrayContaining([
        "ExternalSecretSyncFailure",
        "SecretStoreConnectionFailure",
        "HighReconciliationErrors",
        "ExternalSecretRefreshLag",
        "ControllerRestarts",
        "AzureKeyVaultRateLimit",
        "AwsSecretsManagerRateLimit",
        "GcpSecretManagerRateLimit",
      ]),
    );
    expect(rules.find((r: Json) => r.alert === "ExternalSecretSyncFailure").for).toBe("5m");
    const dashboard = JSON.parse(find("ConfigMap", "pushsync-puller-dashboard").data["dashboard.json"]);
    const exprs = [
      ...rules.map((r: Json) => r.expr as string),
      ...dashboard.panels.flatMap((p: Json) => p.targets.map((t: Json) => t.expr as string)),
    ];
    const used = new Set(
      exprs.flatMap((e) => [...e.matchAll(/\b((?:externalsecret|pushsync)_[a-z_]+)\b/g)].map((m) => m[1]!)),
    );
    expect(used.size).toBeGreaterThan(8);
    for (const name of used) expect(exported, name).toContain(name);
    expect(find("ServiceMonitor").spec.endpoints[0]).toMatchObject({ port: "http", path: "/metrics" });
    expect(find("ConfigMap", "pushsync-vault-snippets").data["events-policy.hcl"]).toContain(
      "subscribe_event_types",
    );
  });
});

describe("the CRDs on an API server", () => {
  let k8s: LocalKubernetes;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "pushsync-k8s-assets-"));
    k8s = await startLocalKubernetes({ port: 0, kubeconfigPath: path.join(dir, "kubeconfig") });
  });

  afterAll(async () => {
    await k8s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("kubectl applies them", async () => {
    const file = path.join(dir, "crds.yaml");
    writeFileSync(
      file,
      objects
        .filter((o) => o.kind === "CustomResourceDefinition")
        .map((o) => stringify(o))
        .join("---\n"),
    );
    // Asynchronously: the API server runs in this process.
    const kubectl = async (...args: string[]) =>
      (
        await promisify(execFile)("kubectl", [`--kubeconfig=${k8s.kubeconfigPath}`, ...args], {
          encoding: "utf8",
        })
      ).stdout;
    expect(await kubectl("apply", "-f", file)).toMatch(
      /externalsecrets\.external-secrets\.io (configured|created|unchanged)/,
    );
    expect(
      await kubectl(
        "get",
        "crd",
        "externalsecrets.external-secrets.io",
        "-o",
        "jsonpath={.spec.versions[*].name}",
      ),
    ).toBe("v1 v1beta1");
  });
});
