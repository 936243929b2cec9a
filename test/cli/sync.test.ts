/**
 * `pushsync plan` and `sync --local` against examples/manifests and the four local clouds:
 * the first sync creates every remote secret, the next one changes nothing and writes nothing,
 * a changed Vault secret is pushed again, and what was pushed reads back with each vendor's own
 * non-JavaScript client: the AWS CLI, gcloud and the Python Azure SDK.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PYTHON, canImport, hasCommand, skipWithout } from "../support/clients.ts";
import { examples, json, pushsync, startClouds, writes, type Clouds } from "./helpers.ts";

interface PlanJson {
  ok: boolean;
  errors: string[];
  warnings: string[];
  rows: {
    store: string;
    remoteKey: string;
    pushSecret: string;
    action: string;
    fingerprint: string;
    vault: string;
  }[];
  totals: Record<string, number>;
}
interface SyncJson {
  ok: boolean;
  entries: { store: string; remoteKey: string; outcome: string }[];
  totals: Record<string, number>;
  calls: Record<string, Record<string, number>>;
  vaultReads: { metadata: number; data: number };
}

let c: Clouds;
beforeAll(async () => {
  c = await startClouds();
});
afterAll(async () => {
  await c?.close();
});

const run = (command: string, ...args: string[]) =>
  pushsync([command, "--local", "--manifests", examples, ...args], c.cwd);

const EXPECTED = [
  ["default/aws", "/app/database", "default/database-json"],
  ["default/aws", "app-api-settings", "default/api-config"],
  ["default/aws", "app-database-password", "default/database"],
  ["default/azure", "app-database-password", "default/database"],
  ["default/azure", "app-db-dsn", "default/app-db-dsn"],
  ["default/gcp", "app-api-settings", "default/api-config"],
  ["default/gcp", "app-database-password", "default/database"],
  ["default/gcp", "app-db-dsn", "default/app-db-dsn"],
];

describe("pushsync plan and sync on the examples", () => {
  it("plans a create for every remote secret and writes nothing", async () => {
    const result = await run("plan", "--output", "json");
    expect(result.code).toBe(0);
    const plan = json<PlanJson>(result);
    expect(plan).toMatchObject({ ok: true, errors: [], warnings: [] });
    expect(plan.rows.map((r) => [r.store, r.remoteKey, r.pushSecret])).toEqual(EXPECTED);
    for (const r of plan.rows) {
      expect(r.action).toBe("create");
      expect(r.fingerprint).toMatch(/^[0-9a-f]{12}$/);
      expect(r.vault).toMatch(/^secret\/app\/(database|api)@1$/);
    }
    expect(plan.totals).toEqual({ create: 8, update: 0, delete: 0, unchanged: 0, skipped: 0, error: 0 });
    expect(writes(c)).toBe(0);
    expect(result.stderr).toContain("fingerprint key from .pushsync/fingerprint.key (created)");
  });

  it("creates everything on the first sync; the second is all unchanged with no writes and no value reads", async () => {
    const first = await run("sync", "--output", "json");
    expect(first.code).toBe(0);
    const report = json<SyncJson>(first);
    expect(report.totals).toMatchObject({ created: 8, updated: 0, error: 0 });
    expect(c.aws.requests.get("CreateSecret")).toBe(3);
    expect(c.gcp.requests.get("AddSecretVersion")).toBe(3);
    expect(c.azure.requests.get("SetSecret")).toBe(2);

    c.resetCounts();
    const second = await run("sync", "--output", "json");
    expect(second.code).toBe(0);
    const steady = json<SyncJson>(second);
    expect(steady.totals).toEqual({ created: 0, updated: 0, unchanged: 8, skipped: 0, deleted: 0, error: 0 });
    expect(writes(c)).toBe(0);
    expect(c.aws.requests.get("GetSecretValue") + c.gcp.requests.get("AccessSecretVersion")).toBe(0);
    expect(c.azure.requests.get("GetSecret")).toBe(0);
    expect(steady.vaultReads.data).toBe(0);
    expect(Object.keys(steady.calls["default/aws"]!)).toEqual(["ListSecrets"]);
  });

  it("pushes a changed Vault secret again and prints rows, counts and calls, without a progress bar off a terminal", async () => {
    await c.vault.writeKv("secret", "app/api", {
      url: "https://api.example.com",
      token: "rotated-api-token",
    });
    c.resetCounts();
    const result = await run("sync");
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^ {2}updated +app-api-settings +default\/api-config +[0-9a-f]{12} +secret\/app\/api@2$/,
      ),
    );
    expect(lines.filter((l) => l.startsWith("  updated"))).toHaveLength(2);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^Sync: 0 created, 2 updated, 6 unchanged, 0 skipped, 0 deleted, 0 error in \d+\.\d s$/,
      ),
    );
    expect(lines).toContain("Vault reads: 2 metadata, 1 data");
    expect(lines).toContain("  default/aws  ListSecrets 1, PutSecretValue 1, TagResource 1");
    expect(c.aws.requests.get("PutSecretValue")).toBe(1);
    expect(result.stderr.trim().split("\n")).toEqual([
      "pushsync: fingerprint key from .pushsync/fingerprint.key; production sets PUSHSYNC_FINGERPRINT_KEY or PUSHSYNC_FINGERPRINT_KEY_FILE",
    ]);
  });

  const awsCli = hasCommand("aws", ["--version"]);
  it.skipIf(skipWithout(awsCli))("leaves values the AWS CLI reads back", async () => {
    expect(awsCli, "the aws CLI must be on PATH when CI is set").toBe(true);
    const { stdout } = await promisify(execFile)(
      "aws",
      [
        "--endpoint-url",
        c.aws.url,
        "--output",
        "json",
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "app-api-settings",
      ],
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: c.cwd,
          AWS_ACCESS_KEY_ID: "test",
          AWS_SECRET_ACCESS_KEY: "test",
          AWS_DEFAULT_REGION: "us-east-1",
          AWS_CONFIG_FILE: "/dev/null",
          AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        },
      },
    );
    const secret = JSON.parse(stdout) as { SecretString: string };
    expect(JSON.parse(secret.SecretString)).toEqual({
      url: "https://api.example.com",
      token: "rotated-api-token",
    });
  });

  const gcloud = hasCommand("gcloud", ["--version"], 60_000);
  it.skipIf(skipWithout(gcloud))(
    "leaves values gcloud reads back from the local GCP",
    async () => {
      expect(gcloud, "gcloud must be on PATH when CI is set").toBe(true);
      const { stdout } = await promisify(execFile)(
        "gcloud",
        ["secrets", "versions", "access", "latest", "--secret", "app-database-password"],
        {
          timeout: 60_000,
          env: {
            PATH: process.env.PATH ?? "",
            HOME: c.cwd,
            CLOUDSDK_CONFIG: path.join(c.cwd, "gcloud"),
            CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER: `${c.gcp.url}/`,
            CLOUDSDK_AUTH_ACCESS_TOKEN: "local-token",
            CLOUDSDK_CORE_PROJECT: "pushsync-local",
            CLOUDSDK_CORE_DISABLE_PROMPTS: "1",
            CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: "true",
          },
        },
      );
      expect(stdout).toBe("local-only-database-password");
    },
    70_000,
  );

  const azureSdk = canImport(PYTHON, "azure.keyvault.secrets", 20_000);
  it.skipIf(skipWithout(azureSdk))(
    "leaves values the Python Azure SDK reads back from the local Key Vault",
    async () => {
      expect(azureSdk, `${PYTHON} must import azure.keyvault.secrets when CI is set`).toBe(true);
      const script = path.join(import.meta.dirname, "read_azure.py");
      const { stdout } = await promisify(execFile)(
        PYTHON,
        [script, c.azure.url, c.azure.caPath, "app-database-password"],
        { timeout: 25_000 },
      );
      expect(stdout).toBe("local-only-database-password");
    },
    30_000,
  );
});
