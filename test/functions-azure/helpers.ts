/**
 * What the Azure function tests share: a local stand-in for Azure's managed identity endpoints
 * (IMDS and the App Service / Functions identity endpoint) issuing RS256 tokens signed with a
 * tenant key, Vault's Azure auth method configured with that key, the manifests, and a stack of
 * the local Vault and the local Key Vault (HTTPS with its own CA) on free ports.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvocationContext } from "@azure/functions";
import { SecretClient } from "@azure/keyvault-secrets";
import { listen, sendJson, type Listening } from "../../infra/local/common/server.ts";
import { startLocalAzure, type LocalAzure } from "../../infra/local/azure/index.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { azureStore, vaultStore, yamlDocs } from "../support/manifests.ts";
import { Counters } from "../../shared/observability/counters.ts";
import { rsaKey, signJwt, WEBHOOK_SECRET, type RsaKey } from "../functions-gcp/helpers.ts";

export { captureLogs, changeEvent, webhookRequest, WEBHOOK_SECRET } from "../functions-gcp/helpers.ts";

export const TENANT = "7d5e4c3b-2a19-4f08-9e7d-6c5b4a392817";
export const SUBSCRIPTION = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
export const RESOURCE_GROUP = "pushsync-rg";
export const FUNCTION_APP = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.Web/sites/pushsync-fn`;
/** The function app's system-assigned identity (its service principal's object id). */
export const PRINCIPAL_ID = "5f4e3d2c-1b0a-4998-8776-655443322110";
export const RESOURCE = "https://management.azure.com/";

export interface IdentityServer {
  /** Base URL: IMDS lives at /metadata/identity/oauth2/token, the App Service endpoint at /msi/token. */
  url: string;
  /** IDENTITY_HEADER value the App Service endpoint wants. */
  identityHeader: string;
  tenantKey: RsaKey;
  /** Requests by kind: imds, appservice, refused. */
  requests: Counters;
  /** Overrides claims of the tokens issued next (e.g. another tenant's issuer). */
  claims: Record<string, unknown>;
  close(): Promise<void>;
}

/**
 * Managed identity tokens as Azure issues them to the function app's system-assigned identity:
 * iss https://sts.windows.net/<tenant>/, aud = the requested resource, oid = the principal,
 * xms_mirid = the app's resource id. IMDS wants "Metadata: true", the App Service endpoint
 * "X-IDENTITY-HEADER"; both refuse with 400 otherwise.
 */
export async function startIdentityServer(): Promise<IdentityServer> {
  const tenantKey = rsaKey("tenant-key-1");
  const identityHeader = randomBytes(16).toString("hex");
  const requests = new Counters();
  const overrides: { claims: Record<string, unknown> } = { claims: {} };

  const token = (resource: string) => {
    const now = Math.floor(Date.now() / 1000);
    return signJwt(
      {
        aud: resource,
        iss: `https://sts.windows.net/${TENANT}/`,
        iat: now,
        nbf: now,
        exp: now + 86_400,
        appid: "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
        idtyp: "app",
        oid: PRINCIPAL_ID,
        sub: PRINCIPAL_ID,
        tid: TENANT,
        xms_mirid: FUNCTION_APP.replace("resourceGroups", "resourcegroups"),
        ...overrides.claims,
      },
      tenantKey,
    );
  };

  const listening: Listening = await listen((req, res) => {
    const url = new URL(req.url ?? "/", "http://identity");
    const resource = url.searchParams.get("resource") ?? "";
    const answer = () => {
      const expiresOn = String(Math.floor(Date.now() / 1000) + 86_400);
      sendJson(res, 200, {
        access_token: token(resource),
        expires_on: expiresOn,
        resource,
        token_type: "Bearer",
      });
    };
    if (url.pathname === "/metadata/identity/oauth2/token") {
      if (
        req.headers.metadata !== "true" ||
        url.searchParams.get("api-version") !== "2018-02-01" ||
        !resource
      ) {
        requests.add("refused");
        return sendJson(res, 400, {
          error: "invalid_request",
          error_description: "Required metadata header not specified",
        });
      }
      requests.add("imds");
      return answer();
    }
    if (url.pathname === "/msi/token") {
      if (
        req.headers["x-identity-header"] !== identityHeader ||
        url.searchParams.get("api-version") !== "2019-08-01"
      ) {
        requests.add("refused");
        return sendJson(res, 400, { statusCode: 400, message: "Unable to validate the identity header" });
      }
      requests.add("appservice");
      return answer();
    }
    sendJson(res, 404, {});
  });
  return {
    url: listening.url,
    identityHeader,
    tenantKey,
    requests,
    get claims() {
      return overrides.claims;
    },
    set claims(v: Record<string, unknown>) {
      overrides.claims = v;
    },
    close: () => listening.close(),
  };
}

async function ok(vault: LocalVault, path: string, body: Record<string, unknown>): Promise<void> {
  const reply = await vault.request("POST", path, body);
  if (reply.status >= 300) throw new Error(`${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
}

/** Vault's Azure method at azure/ trusting the tenant key, with a role "pushsync" for the app's identity. */
export async function configureAzureAuth(vault: LocalVault, identity: IdentityServer): Promise<void> {
  await ok(vault, "sys/auth/azure", { type: "azure" });
  await ok(vault, "auth/azure/config", { tenant_id: TENANT, resource: RESOURCE });
  await ok(vault, `auth/azure/local/key/${identity.tenantKey.kid}`, {
    public_key: identity.tenantKey.publicPem,
  });
  await ok(vault, "auth/azure/role/pushsync", {
    bound_service_principal_ids: [PRINCIPAL_ID],
    bound_subscription_ids: [SUBSCRIPTION],
    bound_resource_groups: [RESOURCE_GROUP],
    token_ttl: "1h",
  });
}

export const FINGERPRINT_KEY = "functions-azure-test-fingerprint-key-01";

/** Vault path → remote key in the Key Vault store. */
export const PUSHES = [
  { name: "az-a", path: "az/a", remoteKey: "az-a" },
  { name: "az-b", path: "az/b", remoteKey: "az-b" },
  { name: "az-c", path: "az/c", remoteKey: "az-c" },
] as const;

export interface Stack {
  vault: LocalVault;
  azure: LocalAzure;
  identity: IdentityServer;
  client: SecretClient;
  /** The function app's settings, pointed at the local clouds. */
  env: Record<string, string>;
  /** The current value of a Key Vault secret, or undefined. */
  keyVaultValue(name: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const vault = await startLocalVault({ port: 0 });
  const caDir = mkdtempSync(join(tmpdir(), "pushsync-azure-functions-ca-"));
  const azure = await startLocalAzure({ port: 0, httpPort: 0, caDir });
  const identity = await startIdentityServer();
  await configureAzureAuth(vault, identity);
  const manifestsDir = mkdtempSync(join(tmpdir(), "pushsync-azure-functions-"));
  writeFileSync(
    join(manifestsDir, "stores.yaml"),
    yamlDocs(vaultStore(vault.url), azureStore(azure.url, TENANT)),
  );
  writeFileSync(
    join(manifestsDir, "pushes.yaml"),
    PUSHES.map(
      (p) => `apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: ${p.name}, namespace: default }
spec:
  secretStoreRefs:
    - { name: vault, kind: ClusterSecretStore }
    - { name: azure, kind: SecretStore }
  selector: { secret: { name: ${p.path} } }
  data:
    - match: { remoteRef: { remoteKey: ${p.remoteKey} } }
`,
    ).join("---\n"),
  );
  const client = new SecretClient(
    azure.url,
    { getToken: async () => ({ token: "local-test-token", expiresOnTimestamp: Date.now() + 3_600_000 }) },
    {
      disableChallengeResourceVerification: true,
      retryOptions: { maxRetries: 0 },
      tlsOptions: { ca: azure.caCertPem },
    },
  );
  return {
    vault,
    azure,
    identity,
    client,
    env: {
      PUSHSYNC_VAULT_ROLE: "pushsync",
      PUSHSYNC_VAULT_AZURE_RESOURCE_ID: FUNCTION_APP,
      IDENTITY_ENDPOINT: `${identity.url}/msi/token`,
      IDENTITY_HEADER: identity.identityHeader,
      // The local Key Vault takes any bearer token; in Azure the managed identity gets one.
      PUSHSYNC_AZURE_ACCESS_TOKEN: "local",
      PUSHSYNC_FINGERPRINT_KEY: FINGERPRINT_KEY,
      PUSHSYNC_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PUSHSYNC_MANIFESTS_DIR: manifestsDir,
      PUSHSYNC_LOG_LEVEL: "debug",
    },
    async keyVaultValue(name) {
      try {
        return (await client.getSecret(name)).value;
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return undefined;
        throw err;
      }
    },
    async close() {
      await identity.close();
      await azure.close();
      await vault.close();
      rmSync(manifestsDir, { recursive: true, force: true });
      rmSync(caDir, { recursive: true, force: true });
    },
  };
}

export interface LogEntry {
  level: string;
  record: Record<string, unknown>;
}

/** An InvocationContext as the host builds it, keeping what the handler logs through it. */
export function invocation(
  functionName: string,
  triggerMetadata?: Record<string, unknown>,
): { context: InvocationContext; logs: LogEntry[] } {
  const logs: LogEntry[] = [];
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName,
    ...(triggerMetadata ? { triggerMetadata } : {}),
    logHandler: (level, ...args) => {
      logs.push({ level, record: JSON.parse(String(args[0])) as Record<string, unknown> });
    },
  });
  return { context, logs };
}
