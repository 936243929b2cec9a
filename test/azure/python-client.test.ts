/**
 * The Python Azure SDK (Debian's python3-azure), unchanged, against the local vault over HTTPS.
 * Skipped when the SDK is not importable, except under CI, where its absence is a failure.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PYTHON, canImport, clientsRequired } from "../support/clients.ts";
import { sdkClient, startTestAzure } from "./helpers.ts";
import type { TestAzure } from "./helpers.ts";

const SCRIPT = path.join(import.meta.dirname, "python_client.py");
const importable = canImport(PYTHON, "azure.keyvault.secrets, azure.identity", 20_000);

let azure: TestAzure;
beforeAll(async () => {
  if (importable) azure = await startTestAzure();
});
afterAll(async () => {
  await azure?.stop();
});

describe("Python Azure SDK against the local Key Vault", () => {
  it.runIf(clientsRequired && !importable)("is installed under CI", () => {
    expect.fail(
      `${PYTHON} cannot import azure.keyvault.secrets and azure.identity: apt-get install -y python3-azure`,
    );
  });

  it.runIf(importable)(
    "sets, reads, lists, deletes and purges secrets",
    async () => {
      const prefix = "py";
      const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT, azure.url, azure.caPath, prefix], {
        timeout: 25_000,
      });
      const seen = JSON.parse(stdout);
      expect(seen).toEqual({
        versions_differ: true,
        get_value: "python-value-1b",
        get_first_version_value: "python-value-1",
        first_tags: { origin: "python" },
        listed: ["py-one", "py-two"],
        versions: 2,
        deleted_recovery_id: `${azure.url}/deletedsecrets/py-two`,
        set_deleted: 409,
        after_purge: ["py-one"],
        token_scopes: ["https://vault.azure.net/.default"],
      });
      // What Python wrote is what the JS SDK reads.
      expect((await sdkClient(azure).getSecret("py-one")).value).toBe("python-value-1b");
      expect(azure.requests.get("Unauthenticated")).toBeGreaterThanOrEqual(1);
      expect(azure.requests.get("SetSecret")).toBe(4);
      expect(azure.requests.get("PurgeDeletedSecret")).toBe(1);
    },
    30_000,
  );
});
