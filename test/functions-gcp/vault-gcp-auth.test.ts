/**
 * Vault's GCP auth method from the client side (shared/vault/auth/gcp.ts) and the local Vault's
 * side (infra/local/vault/auth-gcp.ts), over HTTP, with the local metadata server standing in for
 * Google's: iam logins signed through signJwt, gce and JWT-method logins with identity tokens,
 * and the refusals Vault makes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { PushsyncError } from "../../shared/errors/index.ts";
import { createVaultSource, gcpAuth, type GcpAuthOptions } from "../../shared/vault/index.ts";
import {
  configureGcpAuth,
  PROJECT,
  rsaKey,
  SERVICE_ACCOUNT,
  signJwt,
  startMetadataServer,
  UNIQUE_ID,
  type MetadataServer,
} from "./helpers.ts";
import { rejection } from "../support/rejection.ts";

let vault: LocalVault;
let metadata: MetadataServer;

beforeAll(async () => {
  vault = await startLocalVault({ port: 0 });
  metadata = await startMetadataServer();
  await configureGcpAuth(vault, metadata);
  await vault.writeKv("secret", "app/db", { password: "gcp-auth-db-password" });
});
afterAll(async () => {
  await metadata?.close();
  await vault?.close();
});

/** Reads secret/app/db through a Vault source logging in with these options. */
async function readWith(options: Partial<GcpAuthOptions>) {
  const source = createVaultSource({
    address: vault.url,
    auth: gcpAuth({
      role: "pushsync",
      metadataHost: metadata.host,
      iamCredentialsEndpoint: metadata.url,
      ...options,
    }),
  });
  try {
    return await source.read({ mount: "secret", path: "app/db" });
  } finally {
    await source.close();
  }
}

describe("iam login (signJwt)", () => {
  it("signs {aud, sub, exp} for the metadata server's account and reads with the issued token", async () => {
    const before = metadata.requests.snapshot();
    const logins = vault.requests.get("gcp.login");
    expect((await readWith({})).data).toEqual({ password: "gcp-auth-db-password" });
    expect(vault.requests.get("gcp.login") - logins).toBe(1);
    const after = metadata.requests.snapshot();
    for (const kind of ["email", "token", "signJwt"]) expect(after[kind]! - (before[kind] ?? 0)).toBe(1);
    expect(after.refused ?? 0).toBe(before.refused ?? 0);

    const lookup = await vault.request("POST", "auth/gcp/login", {
      role: "pushsync",
      jwt: signJwt(
        { aud: "vault/pushsync", sub: SERVICE_ACCOUNT, exp: Math.floor(Date.now() / 1000) + 300 },
        metadata.accountKey,
      ),
    });
    expect(lookup.status).toBe(200);
    expect((lookup.body as { auth: { metadata: Record<string, string> } }).auth.metadata).toEqual({
      role: "pushsync",
      service_account_email: SERVICE_ACCOUNT,
      service_account_id: "",
      project_id: PROJECT,
    });
  });

  it("takes an injected signer, and the payload it is given is what Vault checks", async () => {
    const payloads: Record<string, unknown>[] = [];
    const data = await readWith({
      serviceAccount: SERVICE_ACCOUNT,
      jwtTtlSeconds: 600,
      signJwt: async (account, payload) => {
        expect(account).toBe(SERVICE_ACCOUNT);
        payloads.push(JSON.parse(payload) as Record<string, unknown>);
        return signJwt(JSON.parse(payload) as Record<string, unknown>, metadata.accountKey);
      },
    });
    expect(data.data.password).toBe("gcp-auth-db-password");
    expect(payloads).toHaveLength(1);
    const { aud, sub, exp } = payloads[0]!;
    expect([aud, sub]).toEqual(["http://vault/pushsync", SERVICE_ACCOUNT]);
    expect(Number(exp) - Date.now() / 1000).toBeGreaterThan(590);
    expect(Number(exp) - Date.now() / 1000).toBeLessThanOrEqual(600);
  });

  it("finds the metadata server through GCE_METADATA_HOST, as Google's libraries do", async () => {
    const saved = process.env.GCE_METADATA_HOST;
    process.env.GCE_METADATA_HOST = metadata.host;
    try {
      const source = createVaultSource({
        address: vault.url,
        auth: gcpAuth({ role: "pushsync", iamCredentialsEndpoint: metadata.url }),
      });
      await expect(source.read({ mount: "secret", path: "app/db" })).resolves.toBeDefined();
      await source.close();
    } finally {
      if (saved === undefined) delete process.env.GCE_METADATA_HOST;
      else process.env.GCE_METADATA_HOST = saved;
    }
  });
});

describe("gce and JWT-method logins (identity tokens)", () => {
  it("gce: the full-format identity token of a Compute Engine instance logs in to a gce role", async () => {
    metadata.gce = true;
    try {
      const before = metadata.requests.get("identity");
      expect((await readWith({ role: "pushsync-gce", type: "gce" })).data.password).toBe(
        "gcp-auth-db-password",
      );
      expect(metadata.requests.get("identity") - before).toBe(1);
    } finally {
      metadata.gce = false;
    }
  });

  it("gce: refused when the token has no google.compute_engine claims (Cloud Functions, Cloud Run)", async () => {
    const err = await rejection(readWith({ role: "pushsync-gce", type: "gce" }));
    expect(err.message).toContain("expected JWT to have claims with GCE metadata");
  });

  it("jwt: the identity token logs in to Vault's JWT method, bound to its audience and subject", async () => {
    await vault.addJwtRole({
      name: "pushsync-fn",
      boundAudiences: ["http://vault/pushsync-fn"],
      boundSubject: UNIQUE_ID,
      userClaim: "email",
    });
    expect((await readWith({ role: "pushsync-fn", type: "jwt" })).data.password).toBe("gcp-auth-db-password");
    const err = await rejection(
      readWith({ role: "pushsync-fn", type: "jwt", audience: "http://vault/other" }),
    );
    expect(err.message).toContain("invalid audience");
  });
});

describe("what the local Vault refuses", () => {
  const now = () => Math.floor(Date.now() / 1000);
  /** A signer that changes the claims (or the key) before signing. */
  const tampered = (change: (c: Record<string, unknown>) => void, key = () => metadata.accountKey) => ({
    signJwt: async (_account: string, payload: string) => {
      const claims = JSON.parse(payload) as Record<string, unknown>;
      change(claims);
      return signJwt(claims, key());
    },
  });

  it("a service account the role does not bind", async () => {
    await vault.request("POST", "auth/gcp/role/other", {
      type: "iam",
      bound_service_accounts: [`someone@${PROJECT}.iam.gserviceaccount.com`],
    });
    const err = await rejection(readWith({ role: "other" }));
    expect(err.message).toContain(`service account ${SERVICE_ACCOUNT} (id: ) is not authorized for role`);
  });

  it("a JWT living longer than the role's max_jwt_exp, or expired", async () => {
    let err = await rejection(readWith({ jwtTtlSeconds: 1800 }));
    expect(err.message).toContain("role requires that service account JWTs expire within 900 seconds");
    err = await rejection(readWith(tampered((c) => (c.exp = now() - 120))));
    expect(err.message).toContain("JWT is expired or does not have proper 'exp' claim");
    err = await rejection(readWith(tampered((c) => (c.exp = now() + 7200))));
    expect(err.message).toContain("JWT must expire in 60 minutes");
  });

  it("an audience for another role", async () => {
    const err = await rejection(readWith(tampered((c) => (c.aud = "http://vault/other"))));
    expect(err.message).toContain(`at least one of the JWT claim 'aud' must end in "vault/pushsync"`);
  });

  it("a signature by an unknown key, a bad signature, and an account key signing for another account", async () => {
    let err = await rejection(
      readWith(
        tampered(
          () => undefined,
          () => rsaKey(metadata.accountKey.kid),
        ),
      ),
    );
    expect(err.message).toContain("failed to verify the JWT signature");
    err = await rejection(
      readWith(
        tampered(
          () => undefined,
          () => rsaKey("unregistered"),
        ),
      ),
    );
    expect(err.message).toContain(`unable to get public key "unregistered"`);
    await vault.request("POST", "auth/gcp/role/wide", { type: "iam", bound_service_accounts: ["*"] });
    err = await rejection(
      readWith({ role: "wide", ...tampered((c) => (c.sub = `x@${PROJECT}.iam.gserviceaccount.com`)) }),
    );
    expect(err.message).toContain(`unable to get public key "${metadata.accountKey.kid}"`);
  });

  it("role settings it cannot check", async () => {
    const reply = await vault.request("POST", "auth/gcp/role/labels", {
      type: "gce",
      bound_labels: ["env:prod"],
    });
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body)).toContain("cannot check bound_labels");
  });
});

describe("client errors", () => {
  it("an unreachable metadata server is retryable; a denied signJwt is not, and says which permission", async () => {
    let err = await rejection(readWith({ metadataHost: "127.0.0.1:1" }));
    expect(err).toBeInstanceOf(PushsyncError);
    expect((err as PushsyncError).retryable).toBe(true);
    expect(err.message).toContain("gcp auth: the metadata server");

    err = await rejection(readWith({ serviceAccount: `other@${PROJECT}.iam.gserviceaccount.com` }));
    expect((err as PushsyncError).code).toBe("PermissionDenied");
    expect((err as PushsyncError).retryable).toBe(false);
    expect(err.message).toContain("iam.serviceAccounts.signJwt");
  });

  it("refuses an answer without Metadata-Flavor: Google (not the metadata server)", async () => {
    const err = await rejection(readWith({ metadataHost: new URL(vault.url).host }));
    expect(err.message).toMatch(/metadata server.*answered 404|lacks metadata-flavor/);
  });
});
