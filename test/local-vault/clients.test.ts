import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { PYTHON, canImport, hasCommand, skipWithout } from "../support/clients.ts";

// Clients written elsewhere must work unchanged: the Python hvac library (Debian package
// python3-hvac, run with the system interpreter) and curl as Vault's API docs use it.
const run = promisify(execFile);
const hvacInstalled = canImport(PYTHON, "hvac");
const curlInstalled = hasCommand("curl", ["--version"]);

const hvacScript = `
import json, sys, hvac
client = hvac.Client(url=sys.argv[1], token=sys.argv[2])
kv = client.secrets.kv.v2
out = {"authenticated": client.is_authenticated()}
out["written"] = kv.create_or_update_secret(path="py/app", secret={"user": "u", "pass": "p1"})["data"]["version"]
kv.create_or_update_secret(path="py/app", secret={"user": "u", "pass": "p2"}, cas=1)
out["read"] = kv.read_secret_version(path="py/app")["data"]["data"]
out["first"] = kv.read_secret_version(path="py/app", version=1)["data"]["data"]
out["listed"] = kv.list_secrets(path="py")["data"]["keys"]
out["current"] = kv.read_secret_metadata(path="py/app")["data"]["current_version"]
kv.delete_metadata_and_all_versions(path="py/app")
try:
    kv.read_secret_version(path="py/app")
    out["deleted"] = False
except hvac.exceptions.InvalidPath:
    out["deleted"] = True
client.sys.enable_auth_method("approle")
client.auth.approle.create_or_update_approle("py", token_policies=["py"])
role_id = client.auth.approle.read_role_id("py")["data"]["role_id"]
secret_id = client.auth.approle.generate_secret_id("py")["data"]["secret_id"]
out["login_policies"] = client.auth.approle.login(role_id, secret_id)["auth"]["policies"]
print(json.dumps(out))
`;

describe("local Vault: third-party clients", () => {
  let vault: LocalVault;

  beforeAll(async () => {
    vault = await startLocalVault({ port: 0 });
  });
  afterAll(async () => {
    await vault.close();
  });

  // In CI the package is installed, so a missing hvac fails there instead of skipping.
  it.skipIf(skipWithout(hvacInstalled))("hvac writes, reads, lists, deletes and logs in", async () => {
    expect(hvacInstalled, "python3-hvac is not installed (apt-get install -y python3-hvac)").toBe(true);
    const { stdout } = await run(PYTHON, ["-c", hvacScript, vault.url, vault.rootToken], { timeout: 15_000 });
    expect(JSON.parse(stdout)).toEqual({
      authenticated: true,
      written: 1,
      read: { user: "u", pass: "p2" },
      first: { user: "u", pass: "p1" },
      listed: ["app"],
      current: 2,
      deleted: true,
      login_policies: ["default", "py"],
    });
  });

  it.skipIf(!curlInstalled)("curl, as in Vault's API docs: write, read, LIST, delete", async () => {
    const curl = async (...args: string[]) =>
      (await run("curl", ["-sS", "--header", `X-Vault-Token: ${vault.rootToken}`, ...args])).stdout;
    const url = `${vault.url}/v1/secret`;
    const written = JSON.parse(
      await curl(
        "--request",
        "POST",
        "--data",
        '{"options":{"cas":0},"data":{"foo":"bar"}}',
        `${url}/data/my-secret`,
      ),
    );
    expect(written.data.version).toBe(1);
    expect(JSON.parse(await curl(`${url}/data/my-secret?version=1`)).data.data).toEqual({ foo: "bar" });
    expect(JSON.parse(await curl("--request", "LIST", `${url}/metadata/`)).data.keys).toEqual(["my-secret"]);
    expect(await curl("--request", "DELETE", `${url}/data/my-secret`)).toBe("");
    expect(JSON.parse(await curl(`${url}/metadata/my-secret`)).data.versions["1"].deletion_time).not.toBe("");
  });
});
