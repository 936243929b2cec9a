/**
 * Vault's Azure auth method from the client side (shared/vault/auth/azure.ts) and the local
 * Vault's side (infra/local/vault/auth-azure.ts), over HTTP, with a local stand-in for Azure's
 * managed identity endpoints: App Service (IDENTITY_ENDPOINT) and IMDS logins, the JWT method,
 * and the refusals Vault makes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { PushsyncError } from "../../shared/errors/index.ts";
import { azureAuth, createVaultSource, type AzureAuthOptions } from "../../shared/vault/index.ts";
import {
  configureAzureAuth,
  FUNCTION_APP,
  PRINCIPAL_ID,
  RESOURCE,
  RESOURCE_GROUP,
  startIdentityServer,
  SUBSCRIPTION,
  TENANT,
  type IdentityServer,
} from "./helpers.ts";
import { rejection } from "../support/rejection.ts";

let vault: LocalVault;
let identity: IdentityServer;
let appService: Record<string, string>;

beforeAll(async () => {
  vault = await startLocalVault({ port: 0 });
  identity = await startIdentityServer();
  await configureAzureAuth(vault, identity);
  await vault.writeKv("secret", "app/db", { password: "azure-auth-db-password" });
  appService = { IDENTITY_ENDPOINT: `${identity.url}/msi/token`, IDENTITY_HEADER: identity.identityHeader };
});
afterAll(async () => {
  await identity?.close();
  await vault?.close();
});

/** Reads secret/app/db through a Vault source logging in with these options (App Service by default). */
async function readWith(options: Partial<AzureAuthOptions>) {
  const source = createVaultSource({
    address: vault.url,
    auth: azureAuth({ role: "pushsync", resourceId: FUNCTION_APP, env: appService, ...options }),
  });
  try {
    return await source.read({ mount: "secret", path: "app/db" });
  } finally {
    await source.close();
  }
}

/** Runs `fn` with token claims overridden. */
async function withClaims<T>(claims: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
  identity.claims = claims;
  try {
    return await fn();
  } finally {
    identity.claims = {};
  }
}

describe("logging in with the managed identity", () => {
  it("App Service / Functions: the IDENTITY_ENDPOINT token, with the app's resource id", async () => {
    const before = identity.requests.get("appservice");
    expect((await readWith({})).data).toEqual({ password: "azure-auth-db-password" });
    expect(identity.requests.get("appservice") - before).toBe(1);
    expect(identity.requests.get("refused")).toBe(0);

    const token = await fetch(
      `${identity.url}/msi/token?resource=${encodeURIComponent(RESOURCE)}&api-version=2019-08-01`,
      { headers: { "X-IDENTITY-HEADER": identity.identityHeader } },
    ).then((r) => r.json() as Promise<{ access_token: string }>);
    const reply = await vault.request("POST", "auth/azure/login", {
      role: "pushsync",
      jwt: token.access_token,
      subscription_id: SUBSCRIPTION,
      resource_group_name: RESOURCE_GROUP,
      resource_id: FUNCTION_APP,
    });
    expect(reply.status).toBe(200);
    const auth = (reply.body as { auth: { metadata: Record<string, string>; display_name?: string } }).auth;
    expect(auth.metadata).toMatchObject({
      role: "pushsync",
      subscription_id: SUBSCRIPTION,
      resource_group_name: RESOURCE_GROUP,
      resource_id: FUNCTION_APP,
    });
  });

  it("IMDS (a VM): the Metadata: true endpoint, with vm_name checked against the token's resource claims", async () => {
    const vm = `/subscriptions/${SUBSCRIPTION}/resourcegroups/${RESOURCE_GROUP}/providers/Microsoft.Compute/virtualMachines/vm-1`;
    const env = { AZURE_POD_IDENTITY_AUTHORITY_HOST: identity.url };
    const before = identity.requests.get("imds");
    await withClaims({ xms_mirid: vm }, async () => {
      const options = {
        env,
        resourceId: undefined,
        subscriptionId: SUBSCRIPTION,
        resourceGroupName: RESOURCE_GROUP,
      };
      expect((await readWith({ ...options, vmName: "vm-1" })).data.password).toBe("azure-auth-db-password");
      const err = await rejection(readWith({ ...options, vmName: "vm-2" }));
      expect(err.message).toContain("do not match vm_name vm-2");
    });
    expect(identity.requests.get("imds") - before).toBe(2);
  });

  it("JWT method: the same token, for a role bound to its audience and the tenant's issuer", async () => {
    await vault.request("POST", "sys/auth/jwt", { type: "jwt" });
    await vault.request("POST", "auth/jwt/config", { bound_issuer: `https://sts.windows.net/${TENANT}/` });
    await vault.addJwtRole({
      name: "pushsync-az",
      boundAudiences: [RESOURCE],
      boundSubject: PRINCIPAL_ID,
      userClaim: "oid",
    });
    expect((await readWith({ role: "pushsync-az", method: "jwt" })).data.password).toBe(
      "azure-auth-db-password",
    );
  });
});

describe("what the local Vault refuses", () => {
  it("a token for another audience, or from another tenant", async () => {
    let err = await rejection(readWith({ resource: "https://vault.azure.net" }));
    expect(err.message).toContain(`oidc: expected audience "${RESOURCE}"`);
    err = await rejection(withClaims({ iss: "https://sts.windows.net/another-tenant/" }, () => readWith({})));
    expect(err.message).toContain("oidc: id token issued by a different provider");
  });

  it("an identity the role does not bind, and a resource the identity does not belong to", async () => {
    let err = await rejection(
      withClaims({ oid: "00000000-1111-4222-8333-444444444444" }, () => readWith({})),
    );
    expect(err.message).toContain("service principal not authorized: 00000000-1111-4222-8333-444444444444");
    err = await rejection(readWith({ resourceId: FUNCTION_APP.replace("pushsync-fn", "other-fn") }));
    expect(err.message).toContain("token object id does not match expected identities");
    err = await rejection(
      readWith({ resourceId: FUNCTION_APP.replace(SUBSCRIPTION, "11111111-2222-4333-8444-555555555555") }),
    );
    expect(err.message).toContain("token object id does not match expected identities");
  });

  it("a subscription or resource group outside the role's bounds", async () => {
    const other = `/subscriptions/${SUBSCRIPTION}/resourceGroups/other-rg/providers/Microsoft.Web/sites/pushsync-fn`;
    const err = await rejection(withClaims({ xms_mirid: other }, () => readWith({ resourceId: other })));
    expect(err.message).toContain("resource group not authorized");
  });

  it("a signature by a key the tenant does not have, and an expired token", async () => {
    await vault.request("POST", "sys/auth/azure-other", { type: "azure" });
    await vault.request("POST", "auth/azure-other/config", { tenant_id: TENANT, resource: RESOURCE });
    await vault.request("POST", "auth/azure-other/role/pushsync", {
      bound_service_principal_ids: [PRINCIPAL_ID],
    });
    let err = await rejection(readWith({ mount: "azure-other" }));
    expect(err.message).toContain(
      `failed to verify signature: unable to get public key "${identity.tenantKey.kid}"`,
    );
    const past = Math.floor(Date.now() / 1000) - 60;
    err = await rejection(withClaims({ exp: past }, () => readWith({})));
    expect(err.message).toContain("oidc: token is expired");
  });

  it("role settings it cannot check", async () => {
    const reply = await vault.request("POST", "auth/azure/role/located", {
      bound_service_principal_ids: [PRINCIPAL_ID],
      bound_locations: ["westeurope"],
    });
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).toContain("cannot check bound_locations");
  });
});

describe("client errors", () => {
  it("a wrong IDENTITY_HEADER is refused and not retried; an unreachable endpoint is retryable", async () => {
    let err = await rejection(readWith({ env: { ...appService, IDENTITY_HEADER: "wrong" } }));
    expect(err).toBeInstanceOf(PushsyncError);
    expect((err as PushsyncError).code).toBe("Invalid");
    expect(err.message).toBe(
      "azure auth: the App Service identity endpoint (IDENTITY_ENDPOINT): answered 400",
    );

    err = await rejection(readWith({ env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:1" } }));
    expect((err as PushsyncError).retryable).toBe(true);
    expect(err.message).toContain("azure auth: the instance metadata service (IMDS): unreachable");
  });

  it("refuses a resource id it cannot read a subscription and resource group from", () => {
    expect(() => azureAuth({ role: "pushsync", resourceId: "pushsync-fn" })).toThrow(
      "resourceId must look like",
    );
  });
});
