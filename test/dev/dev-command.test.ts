/**
 * `pushsync dev` as a user runs it: spawned in a temporary working directory on free ports,
 * without a terminal (one line per table change). A Vault client written elsewhere (Python's
 * hvac, required under CI; plain HTTP otherwise) writes a secret, and the AWS SDK reads it back
 * from the local AWS once the forwarder, the queue and the push worker have carried it there.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localClouds } from "../../bin/commands/local.ts";
import type { LocalState } from "../../bin/lib/local-state.ts";

const CLI = path.resolve(import.meta.dirname, "../../bin/pushsync.mjs");
const PYTHON = "/usr/bin/python3";
const hvacInstalled = spawnSync(PYTHON, ["-c", "import hvac"]).status === 0;

const MANIFESTS = `
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: { name: vault }
spec:
  provider:
    vault: { server: "http://127.0.0.1:8200", path: secret, version: v2 }
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: { name: aws, namespace: default }
spec:
  provider:
    aws: { service: SecretsManager, region: us-east-1 }
---
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
  secretStoreRefs: [{ name: vault, kind: ClusterSecretStore }, { name: aws }]
  selector: { secret: { name: app/live } }
  data:
    - match: { secretKey: password, remoteRef: { remoteKey: dev-live } }
`;

const SEED = `secret/app/seeded:
  password: seeded-value
`;

let cwd: string;
let child: ChildProcess;
let stdout = "";
let stderr = "";
let exit: Promise<number | null>;
let state: LocalState;
let sm: SecretsManagerClient;

async function until<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs: number,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`${what}: not seen\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Writes secret/<at> with hvac when installed (required under CI), else over Vault's HTTP API. */
function writeVault(at: string, password: string): void {
  const vault = state.vault!;
  if (hvacInstalled) {
    const script = `import sys, hvac
hvac.Client(url=sys.argv[1], token=sys.argv[2]).secrets.kv.v2.create_or_update_secret(
    path=sys.argv[3], secret={"password": sys.argv[4]}, mount_point="secret")`;
    const run = spawnSync(PYTHON, ["-c", script, vault.address, vault.token, at, password]);
    if (run.status !== 0) throw new Error(`hvac failed: ${run.stderr}`);
    return;
  }
  const out = spawnSync("curl", [
    "-sf",
    "-H",
    `X-Vault-Token: ${vault.token}`,
    `${vault.address}/v1/secret/data/${at}`,
    "-d",
    JSON.stringify({ data: { password } }),
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

/** Writes, then polls the local AWS until the value is there; returns the latency seen. */
async function writeAndWait(password: string): Promise<number> {
  writeVault("app/live", password);
  const written = performance.now();
  await until(`value in AWS`, async () => (await awsValue("dev-live")) === password, 10_000);
  return Math.round(performance.now() - written);
}

const tableLine = (...cells: string[]) => new RegExp(`^${cells.join("\\s+")}\\s*$`, "m");

beforeAll(async () => {
  expect(
    hvacInstalled || !process.env.CI,
    "python3-hvac is not installed (apt-get install -y python3-hvac)",
  ).toBe(true);
  cwd = mkdtempSync(path.join(tmpdir(), "pushsync-dev-"));
  mkdirSync(path.join(cwd, "manifests"));
  writeFileSync(path.join(cwd, "manifests", "pushes.yaml"), MANIFESTS);
  writeFileSync(path.join(cwd, "seed.yaml"), SEED);
  const names = [...localClouds.map((c) => c.name), "forwarder", "metrics"];
  const ports = names.flatMap((n) => [`--port-${n}`, "0"]);
  child = spawn(
    process.execPath,
    [CLI, "dev", "--manifests", "manifests", "--seed", "seed.yaml", "--no-tty", ...ports],
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
  await until("the ready line", () => stdout.includes("pushsync dev: ready"), 30_000);
  state = JSON.parse(readFileSync(path.join(cwd, ".pushsync", "local.json"), "utf8")) as LocalState;
  sm = new SecretsManagerClient({
    endpoint: state.aws!.endpoint,
    region: state.aws!.region,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
}, 40_000);

afterAll(async () => {
  sm?.destroy();
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
    const seeded = tableLine("secret/app/seeded", "default/aws", "dev-seed", "synced", "1", "-");
    await until("the table", () => seeded.test(stdout), 5_000);
    expect(stdout).toMatch(tableLine("VAULT PATH", "STORE", "REMOTE KEY", "STATE", "VERSION", "LAST PUSH"));
    // Absent in Vault and in AWS: nothing to push yet.
    expect(stdout).toMatch(tableLine("secret/app/live", "default/aws", "dev-live", "synced", "deleted", "-"));
    expect(JSON.parse((await awsValue("dev-seed"))!)).toEqual({ password: "seeded-value" });
  });

  it("carries a Vault write to AWS and shows it in the table, then a second write to the same path", async () => {
    for (const version of [1, 2]) {
      const seen = await writeAndWait(`live-value-${version}`);
      const line = tableLine(
        "secret/app/live",
        "default/aws",
        "dev-live",
        "synced",
        String(version),
        "(\\d+) ms",
      );
      const pushed = await until(`the table line of version ${version}`, () => line.exec(stdout), 5_000);
      console.log(
        `pushsync dev, version ${version}: pushed ${pushed[1]} ms after the Vault write (table); ` +
          `readable in AWS ${seen} ms after the writing client exited`,
      );
    }
  });

  it("stops on SIGINT with exit code 0 and leaves no port listening", async () => {
    const forwarder = Number(/^Forwarder 127\.0\.0\.1:(\d+)/m.exec(stdout)![1]);
    const metrics = Number(/metrics http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(stdout)![1]);
    // Every local cloud's listeners, as recorded in local.json, and the forwarder's two.
    const recorded = [...JSON.stringify(state).matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    const ports = [...new Set([forwarder, metrics, ...recorded])];
    expect(ports.length).toBeGreaterThanOrEqual(2 + localClouds.length);
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
