/**
 * The four local clouds in-process on free ports, a working directory whose
 * .pushsync/local.json points at them (what `pushsync local` writes), and the CLI spawned as a
 * user runs it: `node bin/pushsync.mjs <command> ... --local` with a clean environment.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { startLocalAws, type LocalAws } from "../../infra/local/aws/index.ts";
import { startLocalAzure, type LocalAzure } from "../../infra/local/azure/index.ts";
import { startLocalGcp, type LocalGcp } from "../../infra/local/gcp/server.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import type { LocalState } from "../../bin/lib/local-state.ts";

export const root = path.join(import.meta.dirname, "..", "..");
export const examples = path.join(root, "examples", "manifests");
export const fixtures = path.join(root, "test", "fixtures", "manifests");

export interface Clouds {
  vault: LocalVault;
  aws: LocalAws;
  gcp: LocalGcp;
  azure: LocalAzure;
  /** Working directory of the spawned CLI; holds .pushsync/local.json. */
  cwd: string;
  /** Zeroes every cloud's request counters. */
  resetCounts(): void;
  close(): Promise<void>;
}

type VaultData = Parameters<LocalVault["writeKv"]>[2];

/** Starts the clouds, writes examples/seed.yaml into Vault and local.json into a temp directory. */
export async function startClouds(): Promise<Clouds> {
  const cwd = mkdtempSync(path.join(tmpdir(), "pushsync-cli-"));
  const [vault, aws, gcp, azure] = await Promise.all([
    startLocalVault({ port: 0 }),
    startLocalAws({ port: 0 }),
    startLocalGcp({ port: 0 }),
    startLocalAzure({ port: 0, httpPort: 0, caDir: path.join(cwd, ".pushsync") }),
  ]);
  const seed = parse(readFileSync(path.join(root, "examples", "seed.yaml"), "utf8")) as Record<
    string,
    VaultData
  >;
  for (const [at, data] of Object.entries(seed)) {
    const [mount, ...rest] = at.split("/");
    await vault.writeKv(mount!, rest.join("/"), data);
  }
  const state: LocalState = {
    vault: { address: vault.url, token: vault.rootToken },
    aws: { endpoint: aws.url, region: aws.region, accessKeyId: "test", secretAccessKey: "test" },
    gcp: { emulatorHost: gcp.host, projectId: "pushsync-local" },
    azure: { vaultUrl: azure.url, httpUrl: azure.httpUrl, caPath: azure.caPath },
  };
  mkdirSync(path.join(cwd, ".pushsync"), { recursive: true });
  writeFileSync(path.join(cwd, ".pushsync", "local.json"), JSON.stringify(state));
  return {
    vault,
    aws,
    gcp,
    azure,
    cwd,
    resetCounts() {
      for (const c of [vault, aws, gcp, azure]) c.requests.reset();
    },
    async close() {
      await Promise.all([vault.close(), aws.close(), gcp.close(), azure.close()]);
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `pushsync <args>` in `cwd` with only PATH and HOME from this process's environment. */
export function pushsync(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "bin", "pushsync.mjs"), ...args], {
      cwd,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: cwd,
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        ...env,
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Stdout parsed as the JSON document of `--output json`. */
export function json<T = Record<string, unknown>>(result: Result): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** A directory holding the given YAML files (name → text). */
export function manifestDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), "pushsync-cli-manifests-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

/** Write operations as the local clouds count them. */
export const WRITES = {
  aws: [
    "CreateSecret",
    "PutSecretValue",
    "UpdateSecret",
    "TagResource",
    "UntagResource",
    "DeleteSecret",
    "RestoreSecret",
  ],
  gcp: [
    "CreateSecret",
    "AddSecretVersion",
    "UpdateSecret",
    "DeleteSecret",
    "DestroySecretVersion",
    "DisableSecretVersion",
  ],
  azure: ["SetSecret", "UpdateSecret", "DeleteSecret", "PurgeDeletedSecret", "RecoverDeletedSecret"],
};

export function writes(c: Clouds): number {
  const sum = (counter: { get(op: string): number }, ops: string[]) =>
    ops.reduce((n, op) => n + counter.get(op), 0);
  return (
    sum(c.aws.requests, WRITES.aws) + sum(c.gcp.requests, WRITES.gcp) + sum(c.azure.requests, WRITES.azure)
  );
}
