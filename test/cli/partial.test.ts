/**
 * Runs that see only part of the manifests: --push-secret / --store filters, and manifests with
 * errors. Two PushSecrets read one Vault path with deletionPolicy Delete, so in a full run each
 * one would delete the other's remote secret once that one is no longer mapped: partial runs
 * must never do that.
 */
import { DescribeSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, manifestDir, pushsync, startClouds, type Clouds } from "./helpers.ts";
import { awsStore, vaultStore, yamlDocs } from "../support/manifests.ts";

interface Rows {
  rows?: { pushSecret?: string; remoteKey: string; property?: string; action: string; reason?: string }[];
  entries?: { pushSecret?: string; remoteKey: string; property?: string; outcome: string; reason?: string }[];
  totals: Record<string, number>;
  errors: string[];
}

const stores = `
${yamlDocs(vaultStore(), awsStore("forceDeleteWithoutRecovery: true"))}`;

const push = (name: string, vaultPath: string, remoteKey: string, property = "") => `
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: ${name}, namespace: default }
spec:
  deletionPolicy: Delete
  secretStoreRefs: [{ name: vault, kind: ClusterSecretStore }, { name: aws }]
  selector: { secret: { name: ${vaultPath} } }
  data:
    - match: { secretKey: password, remoteRef: { remoteKey: ${remoteKey}${property ? `, property: ${property}` : ""} } }
`;

let c: Clouds;
let dir: string;
let sdk: SecretsManagerClient;
beforeAll(async () => {
  c = await startClouds();
  await c.vault.writeKv("secret", "shared/db", { password: "shared-db-password" });
  await c.vault.writeKv("secret", "other/db", { password: "other-db-password" });
  dir = manifestDir({
    "stores.yaml": stores,
    "one.yaml": push("one", "shared/db", "team/one"),
    "two.yaml": push("two", "shared/db", "team/two"),
    "merge.yaml": [
      push("prop-a", "shared/db", "team/merged", "a"),
      push("prop-b", "other/db", "team/merged", "b"),
    ].join("---"),
  });
  sdk = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: c.aws.url,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
});
afterAll(async () => {
  sdk?.destroy();
  await c?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const run = (...args: string[]) => pushsync([...args, "--local", "--manifests", dir], c.cwd);
const exists = async (name: string) => {
  try {
    const out = await sdk.send(new DescribeSecretCommand({ SecretId: name }));
    return out.DeletedDate === undefined;
  } catch {
    return false;
  }
};

describe("partial runs", () => {
  it("a full sync creates every remote secret", async () => {
    const result = await run("sync", "--output", "json");
    expect(result.code).toBe(0);
    expect(json<Rows>(result).totals).toMatchObject({ created: 4, error: 0 });
  });

  it("--push-secret plans and syncs that PushSecret only, and deletes nothing it does not map", async () => {
    await c.vault.writeKv("secret", "shared/db", { password: "rotated-db-password" });
    const plan = json<Rows>(await run("plan", "--push-secret", "one", "--output", "json"));
    expect(plan.rows!.map((r) => [r.pushSecret, r.remoteKey, r.action])).toEqual([
      ["default/one", "team/one", "update"],
    ]);

    c.resetCounts();
    const result = await run("sync", "--push-secret", "default/one", "--output", "json");
    expect(result.code).toBe(0);
    expect(json<Rows>(result).entries!.map((e) => [e.remoteKey, e.outcome])).toEqual([
      ["team/one", "updated"],
    ]);
    expect(c.aws.requests.get("PutSecretValue")).toBe(1);
    expect(c.aws.requests.get("DeleteSecret")).toBe(0);
    expect(await exists("team/two")).toBe(true);
  });

  it("takes every entry writing a selected remote secret, so a property merge keeps the others", async () => {
    const plan = json<Rows>(
      await run("plan", "--push-secret", "prop-a", "--store", "aws", "--output", "json"),
    );
    expect(plan.rows!.map((r) => [r.pushSecret, r.remoteKey, r.property, r.action])).toEqual([
      ["default/prop-a", "team/merged", "a", "update"],
      ["default/prop-b", "team/merged", "b", "update"],
    ]);
  });

  it("refuses a filter that matches nothing, with exit code 2", async () => {
    const result = await run("sync", "--push-secret", "nope", "--store", "gcp");
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "--push-secret nope, --store gcp: matches no valid PushSecret or destination store",
    );
    expect(result.stdout).toBe("");
  });

  it("with manifest errors, prints them as validate does, syncs the rest and keeps unmapped secrets", async () => {
    const broken = path.join(dir, "two.yaml");
    writeFileSync(
      broken,
      push("two", "shared/db", "team/two").replace("deletionPolicy: Delete", "deletionPolicy: Remove"),
    );
    c.resetCounts();
    const result = await run("sync");
    expect(result.code).toBe(1);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toBe(
      `${broken}:6:19 PushSecret default/two: spec.deletionPolicy: must be one of Delete, None; got "Remove"`,
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^ {2}skipped +team\/two +default\/one,default\/prop-a +[0-9a-f]{12} +secret\/shared\/db@\d +not deleted: manifest errors leave PushSecrets out of this run$/,
      ),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^Sync: .*; 1 manifest or store error\(s\) in /));
    expect(c.aws.requests.get("DeleteSecret")).toBe(0);
    expect(await exists("team/two")).toBe(true);
  });

  it("a full, error-free run deletes what its owner no longer maps (what partial runs avoid)", async () => {
    rmSync(path.join(dir, "two.yaml"));
    const result = await run("sync", "--output", "json");
    expect(result.code).toBe(0);
    const report = json<Rows>(result);
    expect(report.entries!.filter((e) => e.outcome === "deleted").map((e) => e.remoteKey)).toEqual([
      "team/two",
    ]);
    expect(await exists("team/two")).toBe(false);
  });
});
