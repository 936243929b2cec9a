/**
 * The engine with a second kind of store: the local Azure Key Vault over HTTPS through the Azure
 * provider. Azure's key mapping is where two remote keys can name one secret (Key Vault names
 * ignore case; a leading "/" is dropped), which the plan reports as a conflict.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalAzure, type LocalAzure } from "../../infra/local/azure/index.ts";
import { createAzureKeyVaultProvider } from "../../shared/providers/azure-key-vault/index.ts";
import type { SecretStoreProvider } from "../../shared/providers/types.ts";
import { entry, row, startStack, type Stack } from "./helpers.ts";

let s: Stack;
let azure: LocalAzure;
let caDir: string;
let provider: SecretStoreProvider;

beforeAll(async () => {
  s = await startStack();
  caDir = mkdtempSync(join(tmpdir(), "pushsync-engine-azure-"));
  azure = await startLocalAzure({ port: 0, httpPort: 0, caDir });
  provider = createAzureKeyVaultProvider({
    storeName: "default/azure",
    vaultUrl: azure.url,
    ca: azure.caCertPem,
    credential: {
      getToken: async () => ({ token: "local-test-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
    },
  });
});
afterAll(async () => {
  await provider.close?.();
  await azure.close();
  await s.close();
  rmSync(caDir, { recursive: true, force: true });
});

const toAzure = (pushSecret: string, path: string, remoteKey: string) =>
  entry(pushSecret, path, remoteKey, { store: "default/azure", secretKey: "k" });

describe("engine with Azure Key Vault", () => {
  it("pushes, then settles with a listing and no writes", async () => {
    await s.vault.writeKv("secret", "az/a", { k: "a1" });
    const engine = s.engine({ providers: new Map([["default/azure", provider]]) });
    const entries = [toAzure("default/a", "az/a", "/az/app/key")];
    expect(row(await engine.reconcile(entries), "/az/app/key").outcome).toBe("created");
    azure.requests.reset();
    const steady = await engine.reconcile(entries);
    expect(row(steady, "/az/app/key").outcome).toBe("unchanged");
    // Listing calls only: no SetSecret, no value read (GetSecret).
    expect(steady.calls).toEqual({ "default/azure": { GetSecrets: 1 } });
    expect(azure.requests.get("SetSecret") + azure.requests.get("GetSecret")).toBe(0);
    expect(steady.vaultReads.data).toBe(0);
  });

  it("names both remote keys when the store maps them to one secret, and pushes neither", async () => {
    await s.vault.writeKv("secret", "az/b", { k: "b" });
    const engine = s.engine({ providers: new Map([["default/azure", provider]]) });
    const report = await engine.plan([
      toAzure("team-a/one", "az/b", "/team/db"),
      toAzure("team-b/two", "az/b", "team/DB"),
      toAzure("team-c/ok", "az/b", "team/other"),
    ]);
    const conflicts = report.items.filter((i) => i.action.kind === "none" && i.action.outcome === "error");
    expect(conflicts.map((i) => i.remoteKey).sort()).toEqual(["/team/db", "team/DB"]);
    for (const item of conflicts) {
      expect(item.action).toMatchObject({
        error: {
          code: "Conflict",
          message:
            'remote keys "/team/db" (team-a/one) and "team/DB" (team-b/two) both map to "team--db" in store default/azure',
        },
      });
    }
    const ok = report.items.find((i) => i.remoteKey === "team/other")!;
    expect(ok.action.kind).toBe("write");
  });
});
