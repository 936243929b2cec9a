import { spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixtures } from "./helpers.ts";

const root = join(import.meta.dirname, "..", "..");

function run(args: string[], cwd = root): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "bin", "pushsync.mjs"), "validate", ...args], { cwd });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const rel = (p: string) => p.slice(root.length + 1);
const manifests = rel(join(fixtures, "manifests"));
const stores = rel(join(fixtures, "manifests", "stores.yaml"));
const invalid = rel(join(fixtures, "invalid", "push-secret.yaml"));

describe("pushsync validate", () => {
  it("prints a summary and exits 0 for valid manifests", async () => {
    const { code, stdout } = await run([manifests]);
    expect(code).toBe(0);
    expect(stdout).toContain(
      "7 file(s): 5 SecretStore, 1 ClusterSecretStore, 5 PushSecret, 4 ExternalSecret\n",
    );
    expect(stdout).toContain(
      [
        "PushSecret default/push-to-aws",
        "  source: Vault ClusterSecretStore vault-secretstore: secret/lambda-db-password",
        "  destination: SecretStore default/aws-secrets-manager (aws-secrets-manager)",
      ].join("\n"),
    );
    expect(stdout).toContain(
      [
        "PushSecret default/push-to-gcp",
        "  source: ExternalSecret default/app-db via Vault SecretStore default/vault-backend: secret/prod/database",
        "  destination: SecretStore default/gcp-secret-manager (gcp-secret-manager)",
      ].join("\n"),
    );
  });

  it("prints every error as file:line:column and exits 1", async () => {
    const { code, stdout } = await run([stores, invalid]);
    expect(code).toBe(1);
    expect(stdout.trimEnd().split("\n")).toEqual([
      `${invalid}:6:20 PushSecret default/push-to-aws: spec.refreshInterval: invalid duration "1 hour": expected a duration like 1h, 5m, 30s or 1h30m`,
      `${invalid}:7:17 PushSecret default/push-to-aws: spec.updatePolicy: must be one of Replace, IfNotExists; got "Overwrite"`,
      `${invalid}:18:9 PushSecret default/push-to-aws: spec.data[0].match.remoteRef.remoteKey: required`,
      `${invalid}:19:11 PushSecret default/push-to-aws: spec.data[0].match.remoteRef.remotekey: unknown field; did you mean "remoteKey"?`,
      `${invalid}:20:27 PushSecret default/push-to-aws: spec.data[0].conversionStrategy: expected a string, got an integer`,
      `${invalid}:21:3 PushSecret default/push-to-aws: spec.dataTo: supported by ESO but not by pushsync (list each key under data)`,
      "6 error(s)",
    ]);
  });

  it("prints warnings and the errors of every invalid fixture", async () => {
    const { code, stdout } = await run([
      stores,
      rel(join(fixtures, "manifests", "database.yaml")),
      rel(join(fixtures, "invalid")),
    ]);
    expect(code).toBe(1);
    expect(stdout).toContain("YAML syntax error: All mapping items must start at the same column");
    expect(stdout).toContain(
      'spec.target.template.data.config: unsupported template construct "range" (template line 2, column 4)',
    );
    expect(stdout).toContain(
      "warning: test/fixtures/invalid/references.yaml:61:1: skipped ConfigMap not-ours (v1): not handled by pushsync",
    );
    expect(stdout).toContain('"token" is not a key of the source (keys: dsn)');
  });

  it("prints JSON with --output json", async () => {
    const bad = JSON.parse((await run([stores, invalid, "--output", "json"])).stdout);
    expect(bad.ok).toBe(false);
    expect(bad.errors[2]).toEqual({
      file: invalid,
      line: 18,
      column: 9,
      resource: "PushSecret default/push-to-aws",
      field: "spec.data[0].match.remoteRef.remoteKey",
      message: "required",
    });
    expect(bad.errors).toHaveLength(6);
    expect(bad.summary.counts.PushSecret).toBe(0);

    const good = await run(["--output", "json", manifests]);
    expect(good.code).toBe(0);
    const out = JSON.parse(good.stdout);
    expect(out.ok).toBe(true);
    expect(out.errors).toEqual([]);
    expect(out.summary.counts).toEqual({
      SecretStore: 5,
      ClusterSecretStore: 1,
      PushSecret: 5,
      ExternalSecret: 4,
    });
    expect(out.summary.pushSecrets[0]).toEqual({
      id: "default/push-to-aws",
      source: "Vault ClusterSecretStore vault-secretstore: secret/lambda-db-password",
      destinations: ["SecretStore default/aws-secrets-manager (aws-secrets-manager)"],
    });
  });

  it("defaults to ./manifests, and rejects bad options", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pushsync-cli-"));
    try {
      const missing = await run([], dir);
      expect(missing.code).toBe(1);
      expect(missing.stdout).toBe("manifests: no such file or directory\n1 error(s)\n");
      await mkdir(join(dir, "manifests"));
      await copyFile(join(fixtures, "manifests", "stores.yaml"), join(dir, "manifests", "stores.yaml"));
      const found = await run([], dir);
      expect(found.code).toBe(0);
      expect(found.stdout).toBe(
        "1 file(s): 5 SecretStore, 1 ClusterSecretStore, 0 PushSecret, 0 ExternalSecret\n",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const bad = await run(["--output", "yaml"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--output must be text or json");
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Default path: manifests");
  });
});
