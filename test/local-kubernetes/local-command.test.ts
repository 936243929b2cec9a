import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLI = path.resolve(import.meta.dirname, "../../bin/pushsync.mjs");

describe("pushsync local --only kubernetes", () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await mkdtemp(path.join(tmpdir(), "pushsync-local-k8s-"));
  });
  afterAll(() => rm(cwd, { recursive: true, force: true }));

  it("records the server and kubeconfig in local.json, prints export KUBECONFIG, and cleans up on SIGTERM", async () => {
    const child = spawn(process.execPath, [CLI, "local", "--only", "kubernetes", "--port-kubernetes", "0"], {
      cwd,
    });
    let output = "";
    child.stdout.on("data", (d) => (output += String(d)));
    child.stderr.on("data", (d) => (output += String(d)));
    const exit = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    const deadline = Date.now() + 15_000;
    while (!output.includes("Ctrl-C")) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no start: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const kubeconfig = path.join(cwd, ".pushsync", "kubeconfig");
    expect(output).toContain(`export KUBECONFIG=${kubeconfig}`);
    const state = JSON.parse(await readFile(path.join(cwd, ".pushsync", "local.json"), "utf8"));
    expect(state).toEqual({
      kubernetes: { server: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/), kubeconfig },
    });

    const namespaces = await new Promise<string>((resolve, reject) =>
      execFile(
        "kubectl",
        ["get", "ns", "-o", "name"],
        { env: { ...process.env, KUBECONFIG: kubeconfig, KUBECACHEDIR: path.join(cwd, "cache") } },
        (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout)),
      ),
    );
    expect(namespaces).toContain("namespace/default");

    child.kill("SIGTERM");
    expect(await exit).toBe(0);
    await expect(readFile(path.join(cwd, ".pushsync", "local.json"), "utf8")).rejects.toThrow();
  });
});
