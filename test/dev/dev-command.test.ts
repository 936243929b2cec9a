/**
 * `pushsync dev` as a user runs it: spawned in a temporary working directory on free ports,
 * without a terminal (one line per table change). A Vault client written elsewhere (Python's
 * hvac, required under CI; plain HTTP otherwise) writes a secret, and each cloud's SDK reads it
 * back: from the local AWS once the forwarder, the queue and the push worker have carried it
 * there, from the local GCP and Azure once the forwarder's webhooks reached each cloud's function.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { TokenCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import type { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localClouds } from "../../bin/commands/local.ts";
import { KubeClient } from "../../functions/cluster/kube.ts";
import type { LocalState } from "../../bin/lib/local-state.ts";
import { PYTHON, canImport, clientsRequired } from "../support/clients.ts";
import { awsStore, azureStore, gcpStore, vaultStore, yamlDocs } from "../support/manifests.ts";
import { until } from "../support/until.ts";
import { localGcpClient } from "../../infra/local/gcp/client.ts";

const CLI = path.resolve(import.meta.dirname, "../../bin/pushsync.mjs");
const hvacInstalled = canImport(PYTHON, "hvac");

const MANIFESTS = `
${yamlDocs(vaultStore(), awsStore(), gcpStore("dev-test"), azureStore("https://127.0.0.1:8443"))}---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: seeded, namespace: default }
spec:
  secretStoreRefs: [{ name: vault, kind: ClusterSecretStore }, { name: aws }]
  selector: { secret: { name: app/seeded } }
  data:
    - match: { remoteRef: { remoteKey: dev-seed } }
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: live, namespace: default }
spec:
  secretStoreRefs: [{ name: vault, kind: ClusterSecretStore }, { name: aws }, { name: gcp }, { name: azure }]
  selector: { secret: { name: app/live } }
  data:
    - match: { secretKey: password, remoteRef: { remoteKey: dev-live } }
`;

const SEED = `secret/app/seeded:
  password: seeded-value
secret/app/database:
  username: app
  password: seeded-database-password
`;
const CLUSTER_EXAMPLE = path.resolve(import.meta.dirname, "../../examples/cluster");

let cwd: string;
let child: ChildProcess;
let stdout = "";
let stderr = "";
let exit: Promise<number | null>;
let state: LocalState;
let sm: SecretsManagerClient;
let gsm: SecretManagerServiceClient;
let kv: SecretClient;

/** Waits for `check` while pushsync dev runs; a failure shows what it printed. */
function waitFor<T extends object | string | boolean | null | undefined>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs: number,
) {
  const running = async () => {
    if (child.exitCode !== null) throw new Error(`${what}: pushsync dev exited`);
    return check();
  };
  return until(running, timeoutMs, what).catch((err: Error) => {
    throw new Error(`${err.message}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
  });
}

/** Writes secret/<at> with hvac when installed (required under CI), else over Vault's HTTP API. */
function writeVault(at: string, password: string, username?: string): void {
  const data = { password, ...(username !== undefined ? { username } : {}) };
  const vault = state.vault!;
  if (hvacInstalled) {
    const script = `import sys, hvac
import json
hvac.Client(url=sys.argv[1], token=sys.argv[2]).secrets.kv.v2.create_or_update_secret(
    path=sys.argv[3], secret=json.loads(sys.argv[4]), mount_point="secret")`;
    const run = spawnSync(PYTHON, ["-c", script, vault.address, vault.token, at, JSON.stringify(data)]);
    if (run.status !== 0) throw new Error(`hvac failed: ${run.stderr}`);
    return;
  }
  const out = spawnSync("curl", [
    "-sf",
    "-H",
    `X-Vault-Token: ${vault.token}`,
    `${vault.address}/v1/secret/data/${at}`,
    "-d",
    JSON.stringify({ data }),
  ]);
  if (out.status !== 0) throw new Error(`curl failed: ${out.stderr}`);
}

async function awsValue(name: string): Promise<string | undefined> {
  try {
    return (await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString;
  } catch (err) {
    if ((err as Error).name === "ResourceNotFoundException") return undefined;
    throw err;
  }
}

async function gcpValue(name: string): Promise<string | undefined> {
  try {
    const [version] = await gsm.accessSecretVersion({
      name: `projects/dev-test/secrets/${name}/versions/latest`,
    });
    return Buffer.from(version.payload?.data ?? "").toString();
  } catch (err) {
    if ((err as { code?: unknown }).code === 5) return undefined; // NOT_FOUND
    throw err;
  }
}

async function azureValue(name: string): Promise<string | undefined> {
  try {
    return (await kv.getSecret(name)).value;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

const readers = { aws: awsValue, gcp: gcpValue, azure: azureValue };

/**
 * Writes, then polls every cloud until the value is there; returns the latency seen per cloud,
 * from the writing client's exit.
 */
async function writeAndWait(password: string): Promise<Record<keyof typeof readers, number>> {
  writeVault("app/live", password);
  const written = performance.now();
  const seen = await Promise.all(
    Object.entries(readers).map(async ([cloud, read]) => {
      await waitFor(`value in ${cloud}`, async () => (await read("dev-live")) === password, 10_000);
      return [cloud, Math.round(performance.now() - written)] as const;
    }),
  );
  return Object.fromEntries(seen) as Record<keyof typeof readers, number>;
}

const tableLine = (...cells: string[]) => new RegExp(`^${cells.join("\\s+")}\\s*$`, "m");

beforeAll(async () => {
  expect(
    hvacInstalled || !clientsRequired,
    "python3-hvac is not installed (apt-get install -y python3-hvac)",
  ).toBe(true);
  cwd = mkdtempSync(path.join(tmpdir(), "pushsync-dev-"));
  mkdirSync(path.join(cwd, "manifests"));
  writeFileSync(path.join(cwd, "manifests", "pushes.yaml"), MANIFESTS);
  writeFileSync(path.join(cwd, "seed.yaml"), SEED);
  const names = [
    ...localClouds.map((c) => c.name),
    "forwarder",
    "metrics",
    "gcp-functions",
    "azure-functions",
  ];
  const ports = names.flatMap((n) => [`--port-${n}`, "0"]);
  child = spawn(
    process.execPath,
    [
      CLI,
      "dev",
      "--manifests",
      "manifests",
      "--seed",
      "seed.yaml",
      "--cluster",
      CLUSTER_EXAMPLE,
      "--no-tty",
      ...ports,
    ],
    {
      cwd,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: cwd,
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  exit = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  await waitFor("the ready line", () => stdout.includes("pushsync dev: ready"), 30_000);
  state = JSON.parse(readFileSync(path.join(cwd, ".pushsync", "local.json"), "utf8")) as LocalState;
  sm = new SecretsManagerClient({
    endpoint: state.aws!.endpoint,
    region: state.aws!.region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  gsm = localGcpClient(state.gcp!.emulatorHost);
  const token: TokenCredential = {
    getToken: async () => ({ token: "test", expiresOnTimestamp: Date.now() + 3_600_000 }),
  };
  kv = new SecretClient(state.azure!.vaultUrl, token, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: readFileSync(state.azure!.caPath, "utf8") },
  });
}, 40_000);

afterAll(async () => {
  sm?.destroy();
  await gsm?.close();
  if (child && child.exitCode === null) {
    child.kill("SIGKILL");
    await exit;
  }
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

describe("pushsync dev", () => {
  it("starts the stack, pushes the seed on its first reconcile and lists every destination", async () => {
    expect(stdout).toMatch(/^Forwarder 127\.0\.0\.1:\d+/m);
    expect(stdout).toMatch(/^Queue\s+http:\/\/127\.0\.0\.1:\d+\/000000000000\/pushsync-events\.fifo/m);
    expect(stdout).toContain(`export VAULT_ADDR=${state.vault!.address} VAULT_TOKEN=root`);
    expect(stdout).toMatch(/^ {2}aws-lambda\s+push-worker .* for default\/aws$/m);
    expect(stdout).toMatch(
      /^ {2}gcp-function\s+http:\/\/127\.0\.0\.1:\d+\/pushsyncPush .* for default\/gcp$/m,
    );
    expect(stdout).toMatch(
      /^ {2}azure-function\s+http:\/\/127\.0\.0\.1:\d+\/api\/pushsyncPush .* for default\/azure$/m,
    );
    const seeded = tableLine(
      "secret/app/seeded",
      "default/aws",
      "dev-seed",
      "synced",
      "1",
      "-",
      "reconciler",
    );
    await waitFor("the table", () => seeded.test(stdout), 5_000);
    expect(stdout).toMatch(
      tableLine("VAULT PATH", "STORE", "REMOTE KEY", "STATE", "VERSION", "LAST PUSH", "PUSHED BY"),
    );
    // Absent in Vault and in the clouds: nothing to push yet. Each cloud's reconcile says so.
    for (const [store, by] of [
      ["default/aws", "reconciler"],
      ["default/gcp", "gcp-function"],
      ["default/azure", "azure-function"],
    ] as const)
      await waitFor(
        `${store} in the table`,
        () => tableLine("secret/app/live", store, "dev-live", "synced", "deleted", "-", by).test(stdout),
        5_000,
      );
    expect(JSON.parse((await awsValue("dev-seed"))!)).toEqual({ password: "seeded-value" });
  });

  it("carries a Vault write to AWS, GCP and Azure through each cloud's function, then a second write", async () => {
    const stores = [
      ["default/aws", "aws-lambda", "aws"],
      ["default/gcp", "gcp-function", "gcp"],
      ["default/azure", "azure-function", "azure"],
    ] as const;
    for (const version of [1, 2]) {
      const seen = await writeAndWait(`live-value-${version}`);
      const pushed: string[] = [];
      for (const [store, by, cloud] of stores) {
        const line = tableLine(
          "secret/app/live",
          store,
          "dev-live",
          "synced",
          String(version),
          "(\\d+) ms",
          by,
        );
        const match = await waitFor(
          `${store}: the table line of version ${version}`,
          () => line.exec(stdout),
          5_000,
        );
        pushed.push(
          `${cloud} pushed ${match[1]} ms after the Vault write (table), readable ${seen[cloud]} ms after the client exited`,
        );
      }
      console.log(`pushsync dev, version ${version}: ${pushed.join("; ")}`);
    }
  });

  it("applies the cluster example and carries a Vault write to its Kubernetes Secret through the puller", async () => {
    const kubeconfig = path.join(cwd, ".pushsync", "kubeconfig");
    expect(stdout).toContain(`KUBECONFIG=${kubeconfig} kubectl get secret app-database -o yaml`);
    const kube = KubeClient.load(kubeconfig);
    const password = async (): Promise<string | undefined> => {
      try {
        const secret = await kube.request<{ data?: Record<string, string> }>(
          "GET",
          "/api/v1/namespaces/default/secrets/app-database",
        );
        return Buffer.from(secret.data?.password ?? "", "base64").toString();
      } catch {
        return undefined;
      }
    };
    try {
      await waitFor(
        "the seeded value in Kubernetes",
        async () => (await password()) === "seeded-database-password",
        5_000,
      );
      await waitFor(
        "the puller's row",
        () =>
          tableLine(
            "secret/app/database",
            "kubernetes",
            "default/app-database",
            "synced",
            "-",
            "-",
            "puller",
          ).test(stdout),
        5_000,
      );
      writeVault("app/database", "changed-database-password", "app");
      const written = performance.now();
      await waitFor(
        "the new value in Kubernetes",
        async () => (await password()) === "changed-database-password",
        5_000,
      );
      const seen = Math.round(performance.now() - written);
      const line = tableLine(
        "secret/app/database",
        "kubernetes",
        "default/app-database",
        "synced",
        "2",
        "(\\d+) ms",
        "puller",
      );
      const row = await waitFor("the puller's row after the write", () => line.exec(stdout), 5_000);
      console.log(
        `pushsync dev: kubernetes written ${row[1]} ms after the Vault write (table), readable ${seen} ms after the client exited`,
      );
      // kubectl with the printed KUBECONFIG shows it too.
      const kubectl = spawnSync("kubectl", ["get", "secret", "app-database", "-o", "yaml"], {
        env: { PATH: process.env.PATH ?? "", HOME: cwd, KUBECONFIG: kubeconfig },
      });
      if (kubectl.error === undefined) {
        expect(kubectl.status, String(kubectl.stderr)).toBe(0);
        expect(String(kubectl.stdout)).toContain(
          `password: ${Buffer.from("changed-database-password").toString("base64")}`,
        );
      }
    } finally {
      kube.close();
    }
  });

  it("refuses a forged webhook at the GCP and Azure functions (401) and logs it", async () => {
    const gcpUrl = /^ {2}gcp-function\s+(\S+)/m.exec(stdout)![1]!;
    const azureUrl = /^ {2}azure-function\s+(\S+)/m.exec(stdout)![1]!;
    const body = JSON.stringify({ delivery: "forged", attempt: 1, events: [] });
    for (const url of [gcpUrl, azureUrl]) {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "X-Pushsync-Timestamp": String(Math.floor(Date.now() / 1000)),
          "X-Pushsync-Signature": `v1=${"0".repeat(64)}`,
        },
        body,
      });
      expect(res.status, url).toBe(401);
    }
    const rejected = await waitFor(
      "two rejections in the log",
      () => {
        const lines = readFileSync(path.join(cwd, ".pushsync", "dev.log"), "utf8")
          .split("\n")
          .filter((l) => l.includes('"webhook rejected"'))
          .map((l) => JSON.parse(l) as { platform?: string; reason?: string; rejectedTotal?: number });
        return lines.length === 2 ? lines : undefined;
      },
      5_000,
    );
    expect(rejected.map((r) => [r.reason, r.rejectedTotal])).toEqual([
      ["bad-signature", 1],
      ["bad-signature", 1],
    ]);
  });

  it("stops on SIGINT with exit code 0 and leaves no port listening", async () => {
    const forwarder = Number(/^Forwarder 127\.0\.0\.1:(\d+)/m.exec(stdout)![1]);
    const metrics = Number(/metrics http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(stdout)![1]);
    // Every local cloud's listeners, as recorded in local.json, and the forwarder's two.
    const recorded = [...JSON.stringify(state).matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    const functions = [...stdout.matchAll(/-function\s+http:\/\/127\.0\.0\.1:(\d+)\//g)].map((m) =>
      Number(m[1]),
    );
    expect(functions).toHaveLength(2);
    const ports = [...new Set([forwarder, metrics, ...functions, ...recorded])];
    expect(ports.length).toBeGreaterThanOrEqual(4 + localClouds.length);
    expect(await Promise.all(ports.map(listening))).toEqual(ports.map(() => true));

    child.kill("SIGINT");
    expect(await exit).toBe(0);
    expect(stdout).toMatch(/^stopped$/m);
    expect(await Promise.all(ports.map(listening))).toEqual(ports.map(() => false));
    expect(existsSync(path.join(cwd, ".pushsync", "local.json"))).toBe(false);
  }, 20_000);
});

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}
