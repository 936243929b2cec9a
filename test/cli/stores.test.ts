/**
 * From SecretStore manifests to working clients (shared/vault/from-store.ts and
 * shared/providers/index.ts), over real HTTP against the local clouds: the store's settings,
 * the environment winning over them, secret references read from PUSHSYNC_SECRET_* variables
 * and files, and errors that name what is missing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalAws, type LocalAws } from "../../infra/local/aws/index.ts";
import { startLocalAzure, type LocalAzure } from "../../infra/local/azure/index.ts";
import { startLocalGcp, type LocalGcp } from "../../infra/local/gcp/server.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { createProvider } from "../../shared/providers/index.ts";
import type { SecretStoreProvider } from "../../shared/providers/types.ts";
import { loadManifests, type SecretStore } from "../../shared/spec/index.ts";
import { vaultOptionsFromStore, vaultSourceFromStore } from "../../shared/vault/from-store.ts";
import type { VaultSource } from "../../shared/vault/types.ts";
import { manifestDir } from "./helpers.ts";

let vault: LocalVault;
let aws: LocalAws;
let gcp: LocalGcp;
let azure: LocalAzure;
let tmp: string;
const opened: (VaultSource | SecretStoreProvider)[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "pushsync-stores-"));
  [vault, aws, gcp, azure] = await Promise.all([
    startLocalVault({ port: 0 }),
    startLocalAws({ port: 0 }),
    startLocalGcp({ port: 0 }),
    startLocalAzure({ port: 0, httpPort: 0, caDir: tmp }),
  ]);
  await vault.writeKv("secret", "app/db", { password: "store-test-password" });
});
afterAll(async () => {
  for (const o of opened) await o.close?.();
  await Promise.all([vault?.close(), aws?.close(), gcp?.close(), azure?.close()]);
  rmSync(tmp, { recursive: true, force: true });
});

/** The one store a manifest defines, as the loader reads it. */
async function store(kind: "SecretStore" | "ClusterSecretStore", provider: string): Promise<SecretStore> {
  const dir = manifestDir({
    "store.yaml": `apiVersion: external-secrets.io/v1
kind: ${kind}
metadata: { name: s${kind === "SecretStore" ? ", namespace: team" : ""} }
spec:
  provider:
    ${provider}
`,
  });
  const { manifests, errors } = await loadManifests([dir]);
  rmSync(dir, { recursive: true });
  expect(errors).toEqual([]);
  return manifests.stores[0]!;
}

const vaultAt = (server: string, auth = "") =>
  `vault: { server: "${server}", path: secret, version: v2${auth ? `, auth: ${auth}` : ""} }`;

function source(s: SecretStore, env: Record<string, string>): VaultSource {
  const v = vaultSourceFromStore(s, { env: { HOME: tmp, ...env } });
  opened.push(v);
  return v;
}

describe("Vault source from a store", () => {
  it("reads with the store's server and its tokenSecretRef, from the PUSHSYNC_SECRET_ variable", async () => {
    const s = await store(
      "SecretStore",
      vaultAt(vault.url, "{ tokenSecretRef: { name: vault-token, key: token } }"),
    );
    const v = source(s, { PUSHSYNC_SECRET_TEAM_VAULT_TOKEN_TOKEN: vault.rootToken });
    expect((await v.read({ mount: "secret", path: "app/db" })).data).toEqual({
      password: "store-test-password",
    });
  });

  it("lets VAULT_ADDR and VAULT_TOKEN win over the store's server and auth", async () => {
    const s = await store(
      "ClusterSecretStore",
      vaultAt(
        "https://vault.invalid:8200",
        "{ appRole: { roleId: x, secretRef: { name: r, key: k, namespace: a } } }",
      ),
    );
    const v = source(s, { VAULT_ADDR: vault.url, VAULT_TOKEN: vault.rootToken });
    expect((await v.read({ mount: "secret", path: "app/db" })).version).toBe(1);
  });

  it("logs in with AppRole, the secret id read from the mounted-Secret file layout", async () => {
    const { roleId, secretId } = await vault.addAppRole({ name: "pusher" });
    const secrets = path.join(tmp, "secrets");
    mkdirSync(path.join(secrets, "team", "approle"), { recursive: true });
    writeFileSync(path.join(secrets, "team", "approle", "secret-id"), `${secretId}\n`);
    const s = await store(
      "SecretStore",
      vaultAt(vault.url, `{ appRole: { roleId: ${roleId}, secretRef: { name: approle, key: secret-id } } }`),
    );
    const v = source(s, { PUSHSYNC_SECRETS_DIR: secrets });
    expect((await v.readMetadata({ mount: "secret", path: "app/db" })).currentVersion).toBe(1);
    expect(vault.requests.get("approle.login")).toBe(1);
  });

  it("fails at first use when a reference is missing, naming the variable and the file", async () => {
    const s = await store(
      "SecretStore",
      vaultAt(vault.url, "{ appRole: { roleId: r, secretRef: { name: approle, key: secret-id } } }"),
    );
    const v = source(s, { PUSHSYNC_SECRETS_DIR: path.join(tmp, "none") });
    await expect(v.read({ mount: "secret", path: "app/db" })).rejects.toThrow(
      `store team/s: spec.provider.vault.auth.appRole.secretRef: set PUSHSYNC_SECRET_TEAM_APPROLE_SECRET_ID or write the file ${path.join(tmp, "none", "team", "approle", "secret-id")}`,
    );
  });

  it("takes namespace, CA bundle and KV version from the store, VAULT_NAMESPACE over the namespace", async () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const s = await store(
      "SecretStore",
      `vault: { server: "https://vault.example:8200", path: kv/team, version: v1, namespace: team-a, caBundle: ${Buffer.from(pem).toString("base64")} }`,
    );
    const options = vaultOptionsFromStore(s, { env: {} });
    expect(options).toMatchObject({
      address: "https://vault.example:8200",
      namespace: "team-a",
      caBundle: pem,
      kvVersions: { "kv/team": 1 },
    });
    expect(vaultOptionsFromStore(s, { env: { VAULT_NAMESPACE: "team-b" } }).namespace).toBe("team-b");
  });
});

describe("providers from stores", () => {
  const make = (
    s: SecretStore,
    env: Record<string, string>,
    azureLocal?: { vaultUrl: string; ca: string },
  ) => {
    const p = createProvider(s, { env, ...(azureLocal ? { azure: azureLocal } : {}) });
    opened.push(p);
    return p;
  };
  const list = async (p: SecretStoreProvider) => {
    const out = [];
    for await (const x of p.listManaged()) out.push(x);
    return out;
  };

  it("aws: the endpoint from AWS_ENDPOINT_URL_SECRETS_MANAGER, credentials from the store's secretRef", async () => {
    const s = await store(
      "SecretStore",
      `aws: { service: SecretsManager, region: us-east-1, auth: { secretRef: { accessKeyIDSecretRef: { name: aws, key: id }, secretAccessKeySecretRef: { name: aws, key: secret } } } }`,
    );
    const p = make(s, {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      PUSHSYNC_SECRET_TEAM_AWS_ID: "AKIDEXAMPLE",
      PUSHSYNC_SECRET_TEAM_AWS_SECRET: "example-secret-key",
    });
    expect(p.storeName).toBe("team/s");
    await list(p);
    expect(aws.requests.get("ListSecrets")).toBe(1);

    const missing = make(s, {
      AWS_ENDPOINT_URL: aws.url,
      HOME: tmp,
      PUSHSYNC_SECRETS_DIR: path.join(tmp, "none"),
    });
    await expect(list(missing)).rejects.toThrow("PUSHSYNC_SECRET_TEAM_AWS_ID");
    expect(aws.requests.get("ListSecrets")).toBe(1);
  });

  it("gcpsm: SECRETMANAGER_EMULATOR_HOST, the project from the store or GOOGLE_CLOUD_PROJECT", async () => {
    const s = await store("SecretStore", "gcpsm: { projectID: pushsync-local }");
    await list(make(s, { SECRETMANAGER_EMULATOR_HOST: gcp.host }));
    expect(gcp.requests.get("ListSecrets")).toBe(1);
    const noProject = await store("SecretStore", "gcpsm: {}");
    expect(() => createProvider(noProject, { env: {} })).toThrow(
      "store team/s: spec.provider.gcpsm.projectID: required (or set GOOGLE_CLOUD_PROJECT)",
    );
    await list(make(noProject, { SECRETMANAGER_EMULATOR_HOST: gcp.host, GOOGLE_CLOUD_PROJECT: "p" }));
    expect(gcp.requests.get("ListSecrets")).toBe(2);
  });

  it("azurekv: PUSHSYNC_AZURE_ACCESS_TOKEN with the local vault's URL and CA; missing references named", async () => {
    const spec = `azurekv: { vaultUrl: "https://example.vault.azure.net", tenantId: t, authSecretRef: { clientId: { name: az, key: id }, clientSecret: { name: az, key: secret } } }`;
    const s = await store("SecretStore", spec);
    const local = { vaultUrl: azure.url, ca: azure.caCertPem };
    await list(make(s, { PUSHSYNC_AZURE_ACCESS_TOKEN: "local" }, local));
    expect(azure.requests.get("GetSecrets")).toBe(1);

    const noRefs = make(s, { PUSHSYNC_SECRETS_DIR: path.join(tmp, "none") }, local);
    await expect(list(noRefs)).rejects.toThrow("PUSHSYNC_SECRET_TEAM_AZ_ID");
    const china = await store(
      "SecretStore",
      spec.replace("tenantId: t", "tenantId: t, environmentType: ChinaCloud"),
    );
    expect(() => createProvider(china, { env: {} })).toThrow(
      "only PublicCloud is supported (got ChinaCloud)",
    );
  });
});
