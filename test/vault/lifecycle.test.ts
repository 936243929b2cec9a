import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";

let vault: LocalVault;

beforeAll(async () => {
  vault = await startLocalVault({ port: 0 });
  await vault.writeKv("secret", "exit/check", { k: "v" });
});

afterAll(async () => {
  await vault.close();
});

describe("process lifetime", () => {
  it("a source left open (renewal timer armed, keep-alive sockets) does not keep the process alive", async () => {
    const role = await vault.addAppRole({ name: "exit", ttl: 3600 });
    const script = fileURLToPath(new URL("./read-and-exit.ts", import.meta.url));
    const started = Date.now();
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ["--import", "tsx", script],
        {
          timeout: 15_000,
          env: {
            ...process.env,
            TEST_VAULT_ADDR: vault.url,
            TEST_ROLE_ID: role.roleId,
            TEST_SECRET_ID: role.secretId,
          },
        },
        (_err, out) => resolve({ code: child.exitCode, stdout: out }),
      );
    });
    expect(stdout).toBe("read version 1\n");
    expect(code).toBe(0);
    // The token's renewal is due in 40 minutes; the process ended right after its read.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(vault.requests.get("approle.login")).toBe(1);
  });
});
