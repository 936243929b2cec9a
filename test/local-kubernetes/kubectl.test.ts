/**
 * The real kubectl binary against the local API server, with nothing but the kubeconfig the
 * server wrote. kubectl ships with the image: when it is missing these tests fail.
 */
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, b64, kubectl, secret, startCluster, until, type Cluster } from "./helpers.ts";

const FIXTURES = path.join(import.meta.dirname, "fixtures");
const MANIFESTS = path.resolve(import.meta.dirname, "../fixtures/manifests");

describe("local Kubernetes with kubectl", () => {
  let c: Cluster;
  const run = async (...args: string[]) => {
    const result = await kubectl(c, args);
    if (result.code !== 0)
      throw new Error(`kubectl ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
    return result.stdout;
  };
  const rows = (table: string) =>
    table
      .trim()
      .split("\n")
      .map((line) => line.trim().split(/\s{2,}/));

  beforeAll(async () => {
    c = await startCluster();
  });
  afterAll(() => c.close());

  it("reads the server version and lists namespaces", async () => {
    const version = JSON.parse(await run("version", "-o", "json"));
    expect(version.serverVersion.gitVersion).toBe("v1.32.0-pushsync.local");
    const table = rows(await run("get", "ns"));
    expect(table[0]).toEqual(["NAME", "STATUS", "AGE"]);
    expect(table.slice(1).map((r) => r.slice(0, 2))).toEqual([
      ["default", "Active"],
      ["kube-node-lease", "Active"],
      ["kube-public", "Active"],
      ["kube-system", "Active"],
    ]);
  });

  it("explains built-in and custom kinds from the OpenAPI v3 documents", async () => {
    expect(await run("explain", "secret.data")).toMatch(/KIND:\s+Secret[\s\S]*FIELD: data <Object>/);
    const es = await run("explain", "externalsecrets");
    expect(es).toMatch(/GROUP:\s+external-secrets\.io/);
    expect(es).toMatch(/spec\s+<Object>/);
  });

  it("fails with kubectl's login message when the kubeconfig's token is wrong", async () => {
    const wrong = path.join(c.dir, "wrong-kubeconfig");
    await writeFile(
      wrong,
      (await readFile(c.k8s.kubeconfigPath, "utf8")).replace(c.k8s.token, "not-the-token"),
    );
    const result = await kubectl(c, ["get", "ns"], wrong);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("You must be logged in to the server");
  });

  it("applies the ExternalSecrets and stores of the example manifests and lists them across namespaces", async () => {
    await run("create", "namespace", "argocd");
    const applied = await kubectl(c, [
      "apply",
      "-f",
      path.join(MANIFESTS, "database.yaml"),
      "-f",
      path.join(MANIFESTS, "stores.yaml"),
    ]);
    expect(applied.code).toBe(0);
    expect(applied.stdout.trim().split("\n")).toEqual([
      "externalsecret.external-secrets.io/database-credentials created",
      "externalsecret.external-secrets.io/api-keys created",
      "externalsecret.external-secrets.io/app-db created",
      "clustersecretstore.external-secrets.io/vault-secretstore created",
      "secretstore.external-secrets.io/vault-backend created",
      "secretstore.external-secrets.io/vault-backend created",
      "secretstore.external-secrets.io/aws-secrets-manager created",
      "secretstore.external-secrets.io/gcp-secret-manager created",
      "secretstore.external-secrets.io/azure-key-vault created",
    ]);
    expect(applied.stderr).toContain("Warning: external-secrets.io/v1beta1 ExternalSecret is deprecated");

    const table = rows(await run("get", "externalsecrets", "-A"));
    expect(table[0]).toEqual([
      "NAMESPACE",
      "NAME",
      "STORETYPE",
      "STORE",
      "REFRESH INTERVAL",
      "STATUS",
      "READY",
    ]);
    expect(table.slice(1).map((r) => r.slice(0, 4))).toEqual([
      ["default", "api-keys", "SecretStore", "vault-backend"],
      ["default", "app-db", "SecretStore", "vault-backend"],
      ["default", "database-credentials", "ClusterSecretStore", "vault-secretstore"],
    ]);
    expect(rows(await run("get", "ss", "-n", "argocd", "-o", "name"))).toEqual([
      ["secretstore.external-secrets.io/vault-backend"],
    ]);
    // The Status and Ready columns read the Ready condition through a JSONPath filter.
    await api(
      c.k8s,
      "PATCH",
      "/apis/external-secrets.io/v1/namespaces/default/externalsecrets/app-db/status",
      {
        body: {
          status: {
            conditions: [
              { type: "Other", status: "False" },
              { type: "Ready", status: "True", reason: "SecretSynced" },
            ],
          },
        },
      },
    );
    expect(rows(await run("get", "es", "app-db"))[1]).toEqual([
      "app-db",
      "SecretStore",
      "vault-backend",
      "1h",
      "SecretSynced",
      "True",
    ]);
    const again = await run("apply", "-f", path.join(MANIFESTS, "database.yaml"));
    expect(again).toContain("externalsecret.external-secrets.io/app-db unchanged");
  });

  it("applies a CRD, waits for it to be established, and serves its kind with printer columns", async () => {
    expect(await run("apply", "-f", path.join(FIXTURES, "widgets-crd.yaml"))).toBe(
      "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n",
    );
    await run("wait", "--for", "condition=established", "crd/widgets.example.com", "--timeout=5s");
    expect(await run("apply", "-f", path.join(FIXTURES, "widget.yaml"))).toBe(
      "widget.example.com/gear created\n",
    );
    expect(rows(await run("get", "wd"))).toEqual([
      ["NAME", "SIZE"],
      ["gear", "3"],
    ]);
    // A changed manifest is applied as a JSON merge patch: changed fields change, removed fields go.
    const changed = path.join(c.dir, "widget.yaml");
    await writeFile(
      changed,
      (await readFile(path.join(FIXTURES, "widget.yaml"), "utf8"))
        .replace("size: 3", "size: 4")
        .replace("  color: blue\n", ""),
    );
    expect(await run("apply", "-f", changed)).toBe("widget.example.com/gear configured\n");
    const gear = JSON.parse(await run("get", "widget", "gear", "-o", "json"));
    expect(gear.spec).toEqual({ size: 4 });
    expect(gear.metadata.generation).toBe(2);
  });

  it("creates a Secret, reads it as JSON, patches, labels and describes it without showing values, and deletes it", async () => {
    expect(
      await run(
        "create",
        "secret",
        "generic",
        "db",
        "--from-literal=password=hunter2",
        "--from-literal=user=admin",
      ),
    ).toBe("secret/db created\n");
    const created = JSON.parse(await run("get", "secret", "db", "-o", "json"));
    expect(created).toMatchObject({
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      data: { password: b64("hunter2"), user: b64("admin") },
    });

    expect(
      await run("patch", "secret", "db", "--type", "merge", "-p", '{"stringData":{"password":"rotated"}}'),
    ).toBe("secret/db patched\n");
    expect(JSON.parse(await run("get", "secret", "db", "-o", "json")).data.password).toBe(b64("rotated"));
    await run("label", "secret", "db", "tier=data");
    expect(rows(await run("get", "secrets", "-l", "tier=data"))).toEqual([
      ["NAME", "TYPE", "DATA", "AGE"],
      ["db", "Opaque", "2", expect.stringMatching(/^\d+s$/)],
    ]);
    const described = await run("describe", "secret", "db");
    expect(described).toContain("Labels:       tier=data");
    expect(described).toMatch(/password:\s+7 bytes/);
    expect(described).not.toContain("rotated");

    expect(await run("delete", "secret", "db")).toBe('secret "db" deleted\n');
    const missing = await kubectl(c, ["get", "secret", "db"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Error from server (NotFound): secrets "db" not found');
  });

  it("applies a Secret manifest with a three-way strategic merge: keys removed from the manifest are removed", async () => {
    expect(await run("apply", "-f", path.join(FIXTURES, "app-secret.yaml"))).toBe("secret/app created\n");
    const changed = path.join(c.dir, "app-secret.yaml");
    await writeFile(
      changed,
      (await readFile(path.join(FIXTURES, "app-secret.yaml"), "utf8"))
        .replace(`  token: ${b64("first")}\n`, "")
        .replace(`user: ${b64("admin")}`, `user: ${b64("root")}`),
    );
    expect(await run("apply", "-f", changed)).toBe("secret/app configured\n");
    const app = JSON.parse(await run("get", "secret", "app", "-o", "json"));
    expect(app.data).toEqual({ user: b64("root") });
    expect(app.metadata.labels).toEqual({ app: "web" });
  });

  it("watches with get -w: the current rows, then every change", async () => {
    await api(c.k8s, "POST", "/api/v1/namespaces", { body: { metadata: { name: "watched" } } });
    await api(c.k8s, "POST", "/api/v1/namespaces/watched/secrets", { body: secret("before", { a: "1" }) });
    const env = { ...process.env, KUBECONFIG: c.k8s.kubeconfigPath, KUBECACHEDIR: path.join(c.dir, "cache") };
    const child = spawn("kubectl", ["get", "secrets", "-n", "watched", "-w"], { env });
    let out = "";
    child.stdout.on("data", (d) => (out += String(d)));
    child.stderr.on("data", (d) => (out += String(d)));
    const exited = new Promise((done) => child.on("exit", done));
    try {
      await until(() => c.k8s.openWatches === 1 && out.includes("before"), 10_000);
      await api(c.k8s, "POST", "/api/v1/namespaces/watched/secrets", {
        body: secret("during", { a: "1", b: "2" }),
      });
      await until(() => out.includes("during"));
      await api(c.k8s, "DELETE", "/api/v1/namespaces/watched/secrets/before");
      await until(() => out.trim().split("\n").length === 4);
    } finally {
      child.kill();
      await exited;
    }
    expect(rows(out).map((r) => r.slice(0, 3))).toEqual([
      ["NAME", "TYPE", "DATA"],
      ["before", "Opaque", "1"],
      ["during", "Opaque", "2"],
      ["before", "Opaque", "1"],
    ]);
  });
});
