/**
 * `pushsync pull` spawned as a user (or a Deployment) runs it: it syncs, takes Vault's change
 * notifications, answers /readyz, and on SIGTERM hands its Lease back and exits 0. Usage errors
 * exit 2, a missing data-hash key exits 1.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apply, externalSecret, secretWith, startStack, until, type Json, type Stack } from "./helpers.ts";

const root = path.join(import.meta.dirname, "..", "..");
let stack: Stack;

interface Child {
  proc: ChildProcessWithoutNullStreams;
  stderr: () => string;
  exited: Promise<number | null>;
}

function pull(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [path.join(root, "bin", "pushsync.mjs"), "pull", ...args], {
    cwd: stack.dir,
    env: { PATH: process.env.PATH ?? "", HOME: stack.dir, ...env },
  });
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  proc.stdout.on("data", (d: Buffer) => (stderr += d.toString()));
  return { proc, stderr: () => stderr, exited: new Promise((resolve) => proc.on("close", resolve)) };
}

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack?.close();
});

describe("pushsync pull", () => {
  it("syncs, follows Vault's event stream, and hands its Lease back on SIGTERM", async () => {
    await stack.vault.writeKv("secret", "cli/app", { v: "from-cli" });
    const child = pull(
      [
        `--kubeconfig=${stack.k8s.kubeconfigPath}`,
        "--namespace=default",
        "--identity=cli-puller",
        "--listen=127.0.0.1:0",
        "--lease-duration=2s",
        "--renew-deadline=1500ms",
        "--retry-period=250ms",
        "--vault-events",
      ],
      {
        PUSHSYNC_FINGERPRINT_KEY: "cli-test-data-hash-key",
        VAULT_ADDR: stack.vault.url,
        VAULT_TOKEN: stack.vault.rootToken,
      },
    );
    try {
      const port = await until(() => /"port":(\d+)/.exec(child.stderr())?.[1], 15_000, "listening");
      await until(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
        5_000,
        "ready",
      );
      await apply(
        stack.kube,
        externalSecret("from-cli", {
          data: [{ secretKey: "v", remoteRef: { key: "cli/app", property: "v" } }],
        }),
      );
      await secretWith(stack.kube, "from-cli", (d) => d.v === "from-cli");
      await stack.vault.writeKv("secret", "cli/app", { v: "changed" });
      await secretWith(stack.kube, "from-cli", (d) => d.v === "changed", 3_000);
      const lease: Json = await stack.kube.request(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/pushsync-puller",
      );
      expect(lease.spec.holderIdentity).toBe("cli-puller");
    } finally {
      child.proc.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
    const lease: Json = await stack.kube.request(
      "GET",
      "/apis/coordination.k8s.io/v1/namespaces/default/leases/pushsync-puller",
    );
    expect(lease.spec).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 });
    expect(child.stderr()).toContain('"msg":"released the lease"');
  });

  it("exits 2 on usage errors and 1 without a data-hash key", async () => {
    const bad = pull(["--renew-deadline=20s"]);
    const noKey = pull([`--kubeconfig=${stack.k8s.kubeconfigPath}`, "--listen=none"]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain("need --retry-period < --renew-deadline < --lease-duration");
    expect(await noKey.exited).toBe(1);
    expect(noKey.stderr()).toContain("PUSHSYNC_FINGERPRINT_KEY");
  });
});
