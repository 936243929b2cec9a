/**
 * `pushsync local` spawned as a user runs it, on free ports: a subset of the clouds, the seed
 * file written into the local Vault, .pushsync/local.json, the export lines, and `plan --local`
 * reaching the clouds through that file.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalState } from "../../bin/lib/local-state.ts";
import { examples, json, pushsync, root } from "./helpers.ts";

let cwd: string;
beforeAll(() => {
  cwd = mkdtempSync(path.join(tmpdir(), "pushsync-local-"));
});
afterAll(() => {
  rmSync(cwd, { recursive: true, force: true });
});

/** Starts `pushsync local <args>` and resolves once it says it is serving. */
function startLocal(args: string[]) {
  const child = spawn(process.execPath, [path.join(root, "bin", "pushsync.mjs"), "local", ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: cwd },
  });
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout.on("data", () => stdout.includes("Ctrl-C stops") && resolve(stdout));
    void exited.then((code) => reject(new Error(`exited ${code}: ${stdout}`)));
  });
  return { child, ready, exited };
}

describe("pushsync local", () => {
  it("runs the chosen clouds on free ports, seeded, and records them for plan --local", async () => {
    const seed = path.join(cwd, "seed.yaml");
    writeFileSync(seed, "secret/app/database:\n  username: app\n  password: seeded-db-password\n");
    const local = startLocal(["--only", "vault,aws", "--port-vault", "0", "--port-aws", "0", "--seed", seed]);
    const stdout = await local.ready;
    try {
      const state = JSON.parse(readFileSync(path.join(cwd, ".pushsync", "local.json"), "utf8")) as LocalState;
      expect(Object.keys(state)).toEqual(["vault", "aws"]);
      expect(state.aws).toMatchObject({ region: "us-east-1", accessKeyId: "test", secretAccessKey: "test" });
      expect(stdout).toContain(`export VAULT_ADDR=${state.vault!.address} VAULT_TOKEN=root`);
      expect(stdout).toContain(
        `export AWS_ENDPOINT_URL_SECRETS_MANAGER=${state.aws!.endpoint} AWS_ENDPOINT_URL_SQS=${state.aws!.endpoint} ` +
          "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1",
      );
      expect(stdout).toContain("1 secret(s) seeded");

      const res = await fetch(`${state.vault!.address}/v1/secret/data/app/database`, {
        headers: { "x-vault-token": state.vault!.token },
      });
      expect(((await res.json()) as { data: { data: unknown } }).data.data).toEqual({
        username: "app",
        password: "seeded-db-password",
      });

      const plan = await pushsync(
        ["plan", "--local", "--manifests", examples, "--store", "aws", "--output", "json"],
        cwd,
      );
      expect(plan.code).toBe(0);
      const rows = json<{ rows: { remoteKey: string; action: string }[] }>(plan).rows;
      expect(rows.map((r) => [r.remoteKey, r.action])).toEqual([
        ["/app/database", "create"],
        ["app-api-settings", "unchanged"], // secret/app/api is not seeded
        ["app-database-password", "create"],
      ]);
    } finally {
      local.child.kill("SIGTERM");
    }
    expect(await local.exited).toBe(0);
    expect(existsSync(path.join(cwd, ".pushsync", "local.json"))).toBe(false);
  });

  it("refuses a seed file it cannot use, naming the file and the path but no value", async () => {
    const seed = path.join(cwd, "bad-seed.yaml");
    writeFileSync(seed, "secret/app/database: not-a-map-but-a-secret-value\n");
    const result = await pushsync(["local", "--only", "vault", "--port-vault", "0", "--seed", seed], cwd);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `pushsync local: --seed: ${seed}: secret/app/database: expected a mapping of keys to values`,
    );
    const withoutVault = await pushsync(["local", "--only", "aws", "--seed", seed], cwd);
    expect(withoutVault.code).toBe(2);
    expect(withoutVault.stderr).toContain("--seed needs the vault cloud");
  });
});
