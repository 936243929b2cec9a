/**
 * Vault's AWS auth method (iam type) from the client side (shared/vault/auth/aws-iam.ts) and the
 * local Vault's side (infra/local/vault/auth-aws.ts), which checks the signed GetCallerIdentity
 * request as STS would, with the secret key registered for the access key id.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sigV4Signature } from "../../infra/local/vault/auth-aws.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import {
  awsIamAuth,
  createVaultSource,
  VaultInvalidError,
  type AwsIamAuthOptions,
  type VaultLoginClient,
} from "../../shared/vault/index.ts";
import { configureAwsAuth, ROLE_ARN, ROLE_CREDENTIALS, SERVER_ID } from "./helpers.ts";
import { rejection } from "../support/rejection.ts";

let vault: LocalVault;
beforeAll(async () => {
  vault = await startLocalVault({ port: 0 });
  await configureAwsAuth(vault, { serverId: SERVER_ID });
  await vault.writeKv("secret", "app/db", { password: "db-password-for-iam" });
});
afterAll(async () => {
  await vault?.close();
});

/** Reads a secret through a Vault source that logs in with the given auth options. */
async function readWith(options: Partial<AwsIamAuthOptions>) {
  const source = createVaultSource({
    address: vault.url,
    auth: awsIamAuth({ role: "pushsync", serverId: SERVER_ID, credentials: ROLE_CREDENTIALS, ...options }),
  });
  try {
    return await source.read({ mount: "secret", path: "app/db" });
  } finally {
    await source.close();
  }
}

describe("the login request", () => {
  it("is a signed sts:GetCallerIdentity, base64-encoded as Vault expects", async () => {
    let body: Record<string, unknown> = {};
    let mount = "";
    const capture: VaultLoginClient = {
      login: async (m, b) => {
        mount = m;
        body = b;
        return { token: "t", ttlSeconds: 60, renewable: true };
      },
      lookupSelf: () => Promise.reject(new Error("not used")),
    };
    await awsIamAuth({ role: "pushsync", serverId: SERVER_ID, credentials: ROLE_CREDENTIALS }).login(capture);

    const decode = (field: string) => Buffer.from(String(body[field]), "base64").toString("utf8");
    expect(mount).toBe("aws");
    expect(body.role).toBe("pushsync");
    expect(body.iam_http_request_method).toBe("POST");
    expect(decode("iam_request_url")).toBe("https://sts.amazonaws.com/");
    expect(decode("iam_request_body")).toBe("Action=GetCallerIdentity&Version=2011-06-15");
    const headers = JSON.parse(decode("iam_request_headers")) as Record<string, string[]>;
    expect(headers["X-Vault-Aws-Iam-Server-Id"]).toEqual([SERVER_ID]);
    expect(headers["X-Amz-Security-Token"]).toEqual([ROLE_CREDENTIALS.sessionToken]);
    expect(headers["X-Amz-Date"]![0]).toMatch(/^\d{8}T\d{6}Z$/);
    const day = headers["X-Amz-Date"]![0]!.slice(0, 8);
    const auth = headers.Authorization![0]!;
    const m = /^AWS4-HMAC-SHA256 Credential=(.+), SignedHeaders=(.+), Signature=([0-9a-f]{64})$/.exec(auth);
    expect(m?.[1]).toBe(`${ROLE_CREDENTIALS.accessKeyId}/${day}/us-east-1/sts/aws4_request`);
    expect(m?.[2]!.split(";")).toEqual(
      expect.arrayContaining(["host", "x-amz-date", "x-amz-security-token", "x-vault-aws-iam-server-id"]),
    );
    expect(auth).not.toContain(ROLE_CREDENTIALS.secretAccessKey);
  });

  it("the local Vault's SigV4 check agrees with AWS's published test vector (get-vanilla)", () => {
    const signature = sigV4Signature({
      secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      method: "GET",
      url: new URL("https://example.amazonaws.com/"),
      headers: new Map([
        ["host", "example.amazonaws.com"],
        ["x-amz-date", "20150830T123600Z"],
      ]),
      signedHeaders: ["host", "x-amz-date"],
      body: "",
      amzDate: "20150830T123600Z",
      scope: "20150830/us-east-1/service/aws4_request",
    });
    expect(signature).toBe("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  });
});

describe("logging in to the local Vault", () => {
  it("reads secrets with a token issued for the role, identified by the caller's ARN", async () => {
    const logins = vault.requests.get("aws.login");
    expect((await readWith({})).data).toEqual({ password: "db-password-for-iam" });
    expect(vault.requests.get("aws.login") - logins).toBe(1);
  });

  it("takes the credentials from the SDK's default chain (the Lambda environment)", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: ROLE_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ROLE_CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: ROLE_CREDENTIALS.sessionToken,
    });
    try {
      const source = createVaultSource({
        address: vault.url,
        auth: awsIamAuth({ role: "pushsync", serverId: SERVER_ID }),
      });
      expect((await source.read({ mount: "secret", path: "app/db" })).version).toBe(1);
      await source.close();
    } finally {
      process.env = saved;
    }
  });

  it("is refused when the signature does not match the registered secret key", async () => {
    const err = await rejection(
      readWith({ credentials: { ...ROLE_CREDENTIALS, secretAccessKey: "wrong-secret-key" } }),
    );
    expect(err).toBeInstanceOf(VaultInvalidError);
    expect(err.message).toContain("SignatureDoesNotMatch");
    expect(err.message).not.toContain("wrong-secret-key");
  });

  it("is refused without the server id header Vault requires, or with another one", async () => {
    const missing = await rejection(readWith({ serverId: undefined }));
    expect(missing.message).toContain('missing header "X-Vault-AWS-IAM-Server-ID"');
    const other = await rejection(readWith({ serverId: "another.vault" }));
    expect(other.message).toContain(`expected "${SERVER_ID}" but got "another.vault"`);
  });

  it("is refused for a session token other than the caller's, and for an unknown key", async () => {
    const token = await rejection(readWith({ credentials: { ...ROLE_CREDENTIALS, sessionToken: "stolen" } }));
    expect(token.message).toContain("InvalidClientTokenId");
    const unknown = await rejection(
      readWith({ credentials: { ...ROLE_CREDENTIALS, accessKeyId: "ASIAUNKNOWNKEY000000" } }),
    );
    expect(unknown.message).toContain("InvalidClientTokenId");
  });

  it("is refused for an ARN the role is not bound to, and for a role that does not exist", async () => {
    await vault.request("POST", "auth/aws/role/other", {
      auth_type: "iam",
      bound_iam_principal_arn: ["arn:aws:iam::000000000000:role/someone-else"],
    });
    const unbound = await rejection(readWith({ role: "other" }));
    expect(unbound.message).toContain(`IAM Principal "${ROLE_ARN}" does not belong to the role "other"`);
    const absent = await rejection(readWith({ role: "nope" }));
    expect(absent.message).toContain("entry for role nope not found");
  });

  it("is refused when signed for another STS endpoint or region than Vault's", async () => {
    const host = await rejection(readWith({ stsEndpoint: "https://sts.eu-west-1.amazonaws.com" }));
    expect(host.message).toContain("request for host sts.eu-west-1.amazonaws.com");
    const region = await rejection(readWith({ stsRegion: "eu-west-1" }));
    expect(region.message).toContain("credential scope eu-west-1/sts");
  });
});
