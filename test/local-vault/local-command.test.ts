import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLI = resolve(import.meta.dirname, "../../bin/pushsync.mjs");

function start(
  cwd: string,
  args: string[],
): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (c) => (output += String(c)));
  child.stderr!.on("data", (c) => (output += String(c)));
  const exit = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  return { child, output: () => output, exit };
}

describe("pushsync local", () => {
  let cwd: string;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), "pushsync-local-"));
  });
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it("runs the local Vault in the foreground, records it in .pushsync/local.json and stops on SIGTERM", async () => {
    const stateFile = join(cwd, ".pushsync", "local.json");
    await mkdir(join(cwd, ".pushsync"));
    await writeFile(stateFile, JSON.stringify({ other: { address: "http://127.0.0.1:1" } }));

    const run = start(cwd, ["local", "--only", "vault", "--port-vault", "0"]);
    const deadline = Date.now() + 15_000;
    while (!run.output().includes("Ctrl-C")) {
      if (Date.now() > deadline || run.child.exitCode !== null) throw new Error(`no start: ${run.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const address = /export VAULT_ADDR=(\S+) VAULT_TOKEN=root/.exec(run.output())?.[1];
    expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(run.output()).toContain(`curl -s -H "X-Vault-Token: root" ${address}/v1/secret/data/hello`);

    expect(JSON.parse(await readFile(stateFile, "utf8"))).toEqual({
      other: { address: "http://127.0.0.1:1" },
      vault: { address, token: "root" },
    });
    const write = await fetch(`${address}/v1/secret/data/hello`, {
      method: "POST",
      headers: { "X-Vault-Token": "root" },
      body: JSON.stringify({ data: { greeting: "hi" } }),
    });
    expect(write.status).toBe(200);

    run.child.kill("SIGTERM");
    expect(await run.exit).toBe(0);
    expect(run.output()).toContain("stopped");
    expect(JSON.parse(await readFile(stateFile, "utf8"))).toEqual({
      other: { address: "http://127.0.0.1:1" },
    });
    await expect(fetch(`${address}/v1/sys/health`)).rejects.toThrow();
  });

  it("refuses unknown clouds with usage and exit code 2", async () => {
    const run = start(cwd, ["local", "--only", "vault,nope"]);
    expect(await run.exit).toBe(2);
    expect(run.output()).toContain("unknown local cloud: nope");
  });
});
