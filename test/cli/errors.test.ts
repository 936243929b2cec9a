/**
 * Failing entries against test/fixtures/manifests: one entry that fails gives exit code 1 while
 * the others still sync; and a canary value planted in Vault, pushed by entries that fail in
 * several ways, never shows in what plan and sync print (text, JSON, engine logs).
 */
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtures, json, manifestDir, pushsync, startClouds, type Clouds, type Result } from "./helpers.ts";

const CANARY = "canary-7f3a9c21-value-that-must-never-print";

/** PushSecrets that fail with the canary as their source value, using the fixtures' stores. */
const failing = (name: string, store: string, remoteKey: string, template: string) => `
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: ${name}, namespace: default }
spec:
  secretStoreRefs: [{ name: vault-secretstore, kind: ClusterSecretStore }, { name: ${store} }]
  selector: { secret: { name: canary } }
  template: { data: { out: '${template}' } }
  data:
    - match: { secretKey: out, remoteRef: { remoteKey: ${remoteKey} } }
`;

let c: Clouds;
let extra: string;
beforeAll(async () => {
  c = await startClouds();
  await c.vault.writeKv("secret", "lambda-db-password", { password: "lambda-db-password-1" });
  await c.vault.writeKv("secret", "prod/lambda", {
    username: "lambda",
    password: CANARY,
    "api-token": CANARY,
  });
  await c.vault.writeKv("secret", "prod/database", { username: "app", password: CANARY });
  await c.vault.writeKv("secret", "prod/api-keys", { stripe: CANARY, sendgrid: "sendgrid-key-1" });
  await c.vault.writeKv("secret", "canary", { value: CANARY });
  extra = manifestDir({
    "failing.yaml": [
      failing("bad-base64", "aws-secrets-manager", "/canary/b64", "{{ .value | b64dec }}"),
      failing("bad-json", "gcp-secret-manager", "canary-json", "{{ (.value | fromJson).x }}"),
      failing(
        "too-large",
        "azure-key-vault",
        "canary-large",
        `{{ printf "%s%s" .value "${"x".repeat(26_000)}" }}`,
      ),
    ].join("---"),
  });
  // Someone else's secret where push-to-aws wants to write: pushsync must not take it over.
  const sdk = new SecretsManagerClient({
    region: "us-east-1",
    endpoint: c.aws.url,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  await sdk.send(new CreateSecretCommand({ Name: "/prod/lambda/db-password", SecretString: "not-ours" }));
  sdk.destroy();
});
afterAll(async () => {
  await c?.close();
  if (extra) rmSync(extra, { recursive: true, force: true });
});

describe("failing entries", () => {
  it("exit 1 for the entry that fails; the other fixture entries still sync", async () => {
    const result = await pushsync(["sync", "--local", "--manifests", fixtures], c.cwd);
    expect(result.code).toBe(1);
    const lines = result.stdout.split("\n");
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^ {2}error +\/prod\/lambda\/db-password +default\/push-to-aws +[0-9a-f]{12} +secret\/lambda-db-password@1 +NotOwned: remote secret "\/prod\/lambda\/db-password" in store default\/aws-secrets-manager exists and is not managed by pushsync$/,
      ),
    );
    expect(lines.filter((l) => l.startsWith("  created"))).toHaveLength(5);
    expect(lines).toContainEqual(
      expect.stringMatching(/^Sync: 5 created, 0 updated, 0 unchanged, 0 skipped, 0 deleted, 1 error in /),
    );
  });

  it("never prints the canary value, in plan or sync, text or JSON, with engine logs on", async () => {
    const outputs: Result[] = [];
    for (const command of ["plan", "sync"]) {
      for (const output of ["text", "json"]) {
        const args = [command, "--local", "--manifests", fixtures, "--manifests", extra, "--output", output];
        outputs.push(await pushsync(args, c.cwd, { PUSHSYNC_LOG_LEVEL: "debug" }));
      }
    }
    const report = json<{ entries: { remoteKey: string; outcome: string; error?: { code: string } }[] }>(
      outputs[3]!,
    );
    const errors = Object.fromEntries(
      report.entries.filter((e) => e.error).map((e) => [e.remoteKey, e.error!.code]),
    );
    expect(errors).toEqual({
      "/prod/lambda/db-password": "NotOwned",
      "/canary/b64": "Invalid",
      "canary-json": "Invalid",
      "canary-large": "TooLarge",
    });
    for (const r of outputs) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('"msg":"vault login"');
      expect(r.stdout + r.stderr).not.toContain(CANARY);
      expect(r.stdout + r.stderr).not.toContain(CANARY.slice(0, 20));
    }
  });
});
