/**
 * The provider's `role` / `externalId`: it assumes the role through STS and signs Secrets Manager
 * calls with the session it got. The local AWS has no STS, so this test serves STS AssumeRole
 * itself (awsQuery: form-encoded request, XML response) from a small server that also forwards
 * Secrets Manager calls to the local AWS, recording which access key signed each one.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, type Listening, readBody } from "../../infra/local/common/server.ts";
import { type LocalAws, startLocalAws } from "../../infra/local/aws/index.ts";
import { createAwsSecretsManagerProvider } from "../../shared/providers/aws-secrets-manager/index.ts";
import { dummyCredentials, providerError, pushRequest } from "./helpers.ts";

const ROLE = "arn:aws:iam::000000000000:role/pushsync-writer";

let aws: LocalAws;
let front: Listening;
const assumeRoleCalls: URLSearchParams[] = [];
const signedBy: { accessKey: string | undefined; sessionToken: string | undefined }[] = [];
let denyAssumeRole = false;

function assumeRoleResponse(n: number): string {
  return `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAASSUMED${n}</AccessKeyId>
      <SecretAccessKey>assumed-secret</SecretAccessKey>
      <SessionToken>session-${n}</SessionToken>
      <Expiration>${new Date(Date.now() + 3_600_000).toISOString()}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROAEXAMPLE:pushsync</AssumedRoleId>
      <Arn>arn:aws:sts::000000000000:assumed-role/pushsync-writer/pushsync</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;
}

const accessDenied = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed to assume the role</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000001</RequestId>
</ErrorResponse>`;

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const body = await readBody(req);
  if (String(req.headers["content-type"]).startsWith("application/x-www-form-urlencoded")) {
    const params = new URLSearchParams(body.toString("utf8"));
    assumeRoleCalls.push(params);
    res.writeHead(denyAssumeRole ? 403 : 200, { "content-type": "text/xml" });
    res.end(denyAssumeRole ? accessDenied : assumeRoleResponse(assumeRoleCalls.length));
    return;
  }
  const auth = String(req.headers.authorization ?? "");
  signedBy.push({
    accessKey: /Credential=([^/]+)\//.exec(auth)?.[1],
    sessionToken: req.headers["x-amz-security-token"] as string | undefined,
  });
  const upstream = await fetch(aws.url, {
    method: "POST",
    headers: {
      "content-type": String(req.headers["content-type"]),
      "x-amz-target": String(req.headers["x-amz-target"]),
    },
    body,
  });
  res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "" });
  res.end(Buffer.from(await upstream.arrayBuffer()));
}

beforeAll(async () => {
  aws = await startLocalAws({ port: 0 });
  front = await listen((req, res) => void handle(req, res));
  // STS finds its endpoint the way the SDK documents it.
  process.env.AWS_ENDPOINT_URL_STS = front.url;
});
afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_STS;
  await front.close();
  await aws.close();
});

describe("assume role", () => {
  it("signs with the assumed role's session, assuming it once while the session is valid", async () => {
    const provider = createAwsSecretsManagerProvider({
      storeName: "default/aws",
      region: aws.region,
      endpoint: front.url,
      credentials: dummyCredentials,
      role: ROLE,
      externalId: "ext-42",
    });
    await provider.push(pushRequest("cred/one", "v"));
    await provider.describe("cred/one");
    await provider.getSecret({ key: "cred/one" });

    expect(assumeRoleCalls).toHaveLength(1);
    const call = assumeRoleCalls[0]!;
    expect(call.get("Action")).toBe("AssumeRole");
    expect(call.get("RoleArn")).toBe(ROLE);
    expect(call.get("ExternalId")).toBe("ext-42");
    expect(call.get("RoleSessionName")).toBe("pushsync");
    expect(signedBy).toEqual(Array(3).fill({ accessKey: "ASIAASSUMED1", sessionToken: "session-1" }));
    expect(provider.calls.snapshot()).toEqual({
      AssumeRole: 1,
      CreateSecret: 1,
      DescribeSecret: 1,
      GetSecretValue: 1,
    });
    await provider.close?.();
  });

  it("reports a refused AssumeRole as PermissionDenied", async () => {
    denyAssumeRole = true;
    const provider = createAwsSecretsManagerProvider({
      storeName: "default/aws",
      region: aws.region,
      endpoint: front.url,
      credentials: dummyCredentials,
      role: ROLE,
    });
    const err = await providerError(provider.describe("cred/one"));
    expect(err).toMatchObject({ code: "PermissionDenied", retryable: false });
    expect(err.message).toContain("AccessDenied");
    expect(assumeRoleCalls.at(-1)!.has("ExternalId")).toBe(false);
    await provider.close?.();
  });
});
