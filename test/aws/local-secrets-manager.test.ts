/**
 * The local Secrets Manager driven over HTTP by the AWS SDK v3 client (requests are SigV4-signed
 * with dummy credentials) and by raw fetch where the wire format itself is the subject.
 */
import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  type ListSecretsCommandInput,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  type SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type LocalAws, startLocalAws } from "../../infra/local/aws/index.ts";
import { expectAwsError, sdkClient, token } from "./helpers.ts";

let aws: LocalAws;
let sm: SecretsManagerClient;

beforeAll(async () => {
  aws = await startLocalAws({ port: 0 });
  sm = sdkClient(aws);
});
afterAll(async () => {
  sm.destroy();
  await aws.close();
});
beforeEach(() => aws.reset());

async function create(name: string, value = "v", extra: Record<string, unknown> = {}) {
  return sm.send(new CreateSecretCommand({ Name: name, SecretString: value, ...extra }));
}

async function names(input: ListSecretsCommandInput): Promise<string[]> {
  const out = await sm.send(new ListSecretsCommand(input));
  return (out.SecretList ?? []).map((s) => s.Name!);
}

async function raw(
  target: string,
  body: string,
): Promise<{ status: number; type: string | null; json: unknown }> {
  const res = await fetch(aws.url, {
    method: "POST",
    headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": target },
    body,
  });
  return { status: res.status, type: res.headers.get("content-type"), json: await res.json() };
}

describe("create, read, describe", () => {
  it("creates a secret with an ARN, a first version labelled AWSCURRENT and timestamps", async () => {
    const before = Date.now();
    const created = await create("app/db", "s3cret", { ClientRequestToken: token("a"), Description: "db" });
    expect(created.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:app\/db-[A-Za-z0-9]{6}$/,
    );
    expect(created.VersionId).toBe(token("a"));

    const got = await sm.send(new GetSecretValueCommand({ SecretId: "app/db" }));
    expect(got).toMatchObject({ Name: "app/db", SecretString: "s3cret", VersionStages: ["AWSCURRENT"] });
    expect(got.CreatedDate!.getTime()).toBeGreaterThanOrEqual(before - 1);

    const d = await sm.send(new DescribeSecretCommand({ SecretId: "app/db" }));
    expect(d).toMatchObject({
      ARN: created.ARN,
      Description: "db",
      VersionIdsToStages: { [token("a")]: ["AWSCURRENT"] },
    });
    expect(d.DeletedDate).toBeUndefined();
    expect(d.LastChangedDate!.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(d.LastAccessedDate).toBeDefined(); // read above
  });

  it("round-trips binary values", async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    await sm.send(new CreateSecretCommand({ Name: "bin", SecretBinary: bytes }));
    const got = await sm.send(new GetSecretValueCommand({ SecretId: "bin" }));
    expect(Buffer.from(got.SecretBinary!)).toEqual(bytes);
    expect(got.SecretString).toBeUndefined();
  });

  it("finds a secret by name, full ARN and partial ARN, but not a partial ARN whose name ends like a suffix", async () => {
    const a = await create("svc/api");
    const b = await create("svc-abc123");
    const partial = (n: string) => `arn:aws:secretsmanager:us-east-1:000000000000:secret:${n}`;
    for (const id of [a.ARN!, partial("svc/api")]) {
      expect((await sm.send(new DescribeSecretCommand({ SecretId: id }))).Name).toBe("svc/api");
    }
    expect((await sm.send(new DescribeSecretCommand({ SecretId: b.ARN! }))).Name).toBe("svc-abc123");
    expect((await sm.send(new DescribeSecretCommand({ SecretId: "svc-abc123" }))).Name).toBe("svc-abc123");
    await expectAwsError(
      sm.send(new DescribeSecretCommand({ SecretId: partial("svc-abc123") })),
      "ResourceNotFoundException",
    );
    await expectAwsError(
      sm.send(new DescribeSecretCommand({ SecretId: a.ARN!.replace("us-east-1", "eu-west-1") })),
      "ResourceNotFoundException",
    );
  });

  it("rejects invalid names and oversized values with ValidationException", async () => {
    await expectAwsError(create("bad name"), "ValidationException", /Invalid name/);
    await expectAwsError(create("x".repeat(513)), "ValidationException", /less than or equal to 512/);
    await create("y".repeat(512));
    await create("max", "a".repeat(65_536));
    await expectAwsError(create("over", "a".repeat(65_537)), "ValidationException", /secretString/);
    // 32,769 two-byte characters: under 65,536 characters but over 65,536 bytes.
    await expectAwsError(create("utf8", "é".repeat(32_769)), "ValidationException");
    await expectAwsError(
      sm.send(new CreateSecretCommand({ Name: "binover", SecretBinary: Buffer.alloc(65_537) })),
      "ValidationException",
    );
  });
});

describe("versions and staging labels", () => {
  it("moves AWSCURRENT to each new version and AWSPREVIOUS to the one before", async () => {
    await create("rot", "v1", { ClientRequestToken: token("1") });
    await sm.send(
      new PutSecretValueCommand({ SecretId: "rot", SecretString: "v2", ClientRequestToken: token("2") }),
    );
    const put3 = await sm.send(
      new PutSecretValueCommand({ SecretId: "rot", SecretString: "v3", ClientRequestToken: token("3") }),
    );
    expect(put3).toMatchObject({ VersionId: token("3"), VersionStages: ["AWSCURRENT"] });

    const d = await sm.send(new DescribeSecretCommand({ SecretId: "rot" }));
    expect(d.VersionIdsToStages).toEqual({ [token("2")]: ["AWSPREVIOUS"], [token("3")]: ["AWSCURRENT"] });
    const prev = await sm.send(new GetSecretValueCommand({ SecretId: "rot", VersionStage: "AWSPREVIOUS" }));
    expect(prev.SecretString).toBe("v2");
    const old = await sm.send(new GetSecretValueCommand({ SecretId: "rot", VersionId: token("1") }));
    expect(old).toMatchObject({ SecretString: "v1", VersionStages: [] });

    const listed = await sm.send(new ListSecretVersionIdsCommand({ SecretId: "rot" }));
    expect(listed.Versions!.map((v) => v.VersionId)).toEqual([token("2"), token("3")]);
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: "rot", IncludeDeprecated: true }));
    expect(all.Versions).toHaveLength(3);

    await expectAwsError(
      sm.send(
        new GetSecretValueCommand({ SecretId: "rot", VersionId: token("3"), VersionStage: "AWSPREVIOUS" }),
      ),
      "InvalidRequestException",
      "You provided a VersionStage that is not associated to the provided VersionId.",
    );
    await expectAwsError(
      sm.send(new GetSecretValueCommand({ SecretId: "rot", VersionStage: "AWSPENDING" })),
      "ResourceNotFoundException",
      "Secrets Manager can't find the specified secret value for staging label: AWSPENDING",
    );
  });

  it("puts with custom staging labels without moving AWSCURRENT", async () => {
    await create("stage", "v1", { ClientRequestToken: token("1") });
    await sm.send(
      new PutSecretValueCommand({
        SecretId: "stage",
        SecretString: "v2",
        ClientRequestToken: token("2"),
        VersionStages: ["AWSPENDING"],
      }),
    );
    const d = await sm.send(new DescribeSecretCommand({ SecretId: "stage" }));
    expect(d.VersionIdsToStages).toEqual({ [token("1")]: ["AWSCURRENT"], [token("2")]: ["AWSPENDING"] });
  });

  it("treats the same ClientRequestToken with the same value as a no-op, and with another value as a conflict", async () => {
    await create("idem", "v1", { ClientRequestToken: token("1") });
    const put = () =>
      sm.send(
        new PutSecretValueCommand({ SecretId: "idem", SecretString: "v2", ClientRequestToken: token("2") }),
      );
    await put();
    const again = await put();
    expect(again.VersionId).toBe(token("2"));
    const versions = await sm.send(
      new ListSecretVersionIdsCommand({ SecretId: "idem", IncludeDeprecated: true }),
    );
    expect(versions.Versions).toHaveLength(2);
    expect(aws.requests.get("PutSecretValue")).toBe(2);

    await expectAwsError(
      sm.send(
        new PutSecretValueCommand({
          SecretId: "idem",
          SecretString: "other",
          ClientRequestToken: token("2"),
        }),
      ),
      "ResourceExistsException",
      `You can't use ClientRequestToken ${token("2")} because that value is already in use`,
    );

    // CreateSecret retried with its token and value answers the secret; another token conflicts.
    const retried = await create("idem", "v1", { ClientRequestToken: token("1") });
    expect(retried.VersionId).toBe(token("1"));
    await expectAwsError(
      create("idem", "v1", { ClientRequestToken: token("9") }),
      "ResourceExistsException",
      "The operation failed because the secret idem already exists.",
    );
  });

  it("updates description and value with UpdateSecret", async () => {
    await create("upd", "v1", { ClientRequestToken: token("1") });
    const meta = await sm.send(
      new UpdateSecretCommand({ SecretId: "upd", Description: "new", KmsKeyId: "alias/k" }),
    );
    expect(meta.VersionId).toBeUndefined();
    const withValue = await sm.send(
      new UpdateSecretCommand({ SecretId: "upd", SecretString: "v2", ClientRequestToken: token("2") }),
    );
    expect(withValue.VersionId).toBe(token("2"));
    const d = await sm.send(new DescribeSecretCommand({ SecretId: "upd" }));
    expect(d).toMatchObject({ Description: "new", KmsKeyId: "alias/k" });
    expect((await sm.send(new GetSecretValueCommand({ SecretId: "upd" }))).SecretString).toBe("v2");
  });
});

describe("deletion", () => {
  it("schedules deletion with a recovery window and applies AWS's rules to the scheduled secret", async () => {
    await create("gone", "v1");
    const before = Date.now() / 1000;
    const del = await sm.send(new DeleteSecretCommand({ SecretId: "gone", RecoveryWindowInDays: 7 }));
    expect(del.DeletionDate!.getTime() / 1000 - before).toBeCloseTo(7 * 86_400, -1);

    const marked = /You can't perform this operation on the secret because it was marked for deletion\./;
    await expectAwsError(
      sm.send(new GetSecretValueCommand({ SecretId: "gone" })),
      "InvalidRequestException",
      marked,
    );
    await expectAwsError(
      sm.send(
        new PutSecretValueCommand({ SecretId: "gone", SecretString: "x", ClientRequestToken: token("x") }),
      ),
      "InvalidRequestException",
      marked,
    );
    await expectAwsError(
      sm.send(new TagResourceCommand({ SecretId: "gone", Tags: [{ Key: "a", Value: "b" }] })),
      "InvalidRequestException",
      marked,
    );
    await expectAwsError(
      sm.send(new DeleteSecretCommand({ SecretId: "gone" })),
      "InvalidRequestException",
      marked,
    );
    await expectAwsError(
      create("gone"),
      "InvalidRequestException",
      "You can't create this secret because a secret with this name is already scheduled for deletion.",
    );

    expect((await sm.send(new DescribeSecretCommand({ SecretId: "gone" }))).DeletedDate).toEqual(
      del.DeletionDate,
    );
    expect(await names({})).toEqual([]);
    expect(await names({ IncludePlannedDeletion: true })).toEqual(["gone"]);

    await sm.send(new RestoreSecretCommand({ SecretId: "gone" }));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: "gone" }))).SecretString).toBe("v1");
    expect((await sm.send(new DescribeSecretCommand({ SecretId: "gone" }))).DeletedDate).toBeUndefined();
  });

  it("defaults to a 30-day window and validates the deletion parameters", async () => {
    await create("d30");
    const before = Date.now() / 1000;
    const del = await sm.send(new DeleteSecretCommand({ SecretId: "d30" }));
    expect(del.DeletionDate!.getTime() / 1000 - before).toBeCloseTo(30 * 86_400, -1);
    await create("d");
    await expectAwsError(
      sm.send(new DeleteSecretCommand({ SecretId: "d", RecoveryWindowInDays: 6 })),
      "InvalidParameterException",
      "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
    );
    await expectAwsError(
      sm.send(new DeleteSecretCommand({ SecretId: "d", RecoveryWindowInDays: 31 })),
      "InvalidParameterException",
    );
    await expectAwsError(
      sm.send(
        new DeleteSecretCommand({ SecretId: "d", RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true }),
      ),
      "InvalidParameterException",
      "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
    );
    await expectAwsError(
      sm.send(new DeleteSecretCommand({ SecretId: "absent" })),
      "ResourceNotFoundException",
    );
  });

  it("force-deletes at once (also a scheduled or absent secret) and frees the name", async () => {
    const first = await create("now");
    await sm.send(new DeleteSecretCommand({ SecretId: "now", RecoveryWindowInDays: 7 }));
    await sm.send(new DeleteSecretCommand({ SecretId: "now", ForceDeleteWithoutRecovery: true }));
    await expectAwsError(
      sm.send(new DescribeSecretCommand({ SecretId: "now" })),
      "ResourceNotFoundException",
    );
    const again = await create("now", "v2");
    expect(again.ARN).not.toBe(first.ARN);
    const absent = await sm.send(
      new DeleteSecretCommand({ SecretId: "never", ForceDeleteWithoutRecovery: true }),
    );
    expect(absent.Name).toBe("never");
  });
});

describe("ListSecrets", () => {
  beforeEach(async () => {
    await create("prod/db", "v", {
      Description: "Primary database password",
      Tags: [{ Key: "managed-by", Value: "pushsync" }],
    });
    await create("prod/api", "v", {
      Tags: [
        { Key: "managed-by", Value: "external-secrets" },
        { Key: "team", Value: "core" },
      ],
    });
    await create("dev/db", "v", { Tags: [{ Key: "team", Value: "Core" }] });
    await create("Prod/misc", "v");
  });

  it("filters by name, tag key and tag value prefixes, case-sensitively", async () => {
    expect(await names({ Filters: [{ Key: "name", Values: ["prod/"] }] })).toEqual(["prod/db", "prod/api"]);
    expect(await names({ Filters: [{ Key: "name", Values: ["dev", "Prod"] }] })).toEqual([
      "dev/db",
      "Prod/misc",
    ]);
    expect(await names({ Filters: [{ Key: "tag-key", Values: ["managed"] }] })).toEqual([
      "prod/db",
      "prod/api",
    ]);
    expect(await names({ Filters: [{ Key: "tag-value", Values: ["core"] }] })).toEqual(["prod/api"]);
    expect(
      await names({
        Filters: [
          { Key: "tag-key", Values: ["team"] },
          { Key: "name", Values: ["prod"] },
        ],
      }),
    ).toEqual(["prod/api"]);
  });

  it("negates values starting with '!'", async () => {
    expect(await names({ Filters: [{ Key: "tag-key", Values: ["!managed-by"] }] })).toEqual([
      "dev/db",
      "Prod/misc",
    ]);
    expect(await names({ Filters: [{ Key: "name", Values: ["!prod"] }] })).toEqual(["dev/db", "Prod/misc"]);
    expect(await names({ Filters: [{ Key: "name", Values: ["prod", "!prod/api"] }] })).toEqual(["prod/db"]);
  });

  it("matches description and 'all' by words, not case-sensitively", async () => {
    expect(await names({ Filters: [{ Key: "description", Values: ["DATABASE pass"] }] })).toEqual([
      "prod/db",
    ]);
    expect(await names({ Filters: [{ Key: "description", Values: ["base"] }] })).toEqual([]);
    expect(await names({ Filters: [{ Key: "all", Values: ["core"] }] })).toEqual(["prod/api", "dev/db"]);
    expect(await names({ Filters: [{ Key: "primary-region", Values: ["us-east"] }] })).toHaveLength(4);
    expect(await names({ Filters: [{ Key: "owning-service", Values: ["rds"] }] })).toEqual([]);
  });

  it("returns SecretVersionsToStages and tags in each entry", async () => {
    const out = await sm.send(new ListSecretsCommand({ Filters: [{ Key: "name", Values: ["prod/api"] }] }));
    const entry = out.SecretList![0]!;
    expect(Object.values(entry.SecretVersionsToStages!)).toEqual([["AWSCURRENT"]]);
    expect(entry.Tags).toEqual([
      { Key: "managed-by", Value: "external-secrets" },
      { Key: "team", Value: "core" },
    ]);
  });

  it("paginates with MaxResults and NextToken and sorts by creation date", async () => {
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const out = await sm.send(
        new ListSecretsCommand({ MaxResults: 3, ...(nextToken ? { NextToken: nextToken } : {}) }),
      );
      seen.push(...out.SecretList!.map((s) => s.Name!));
      nextToken = out.NextToken;
      pages++;
    } while (nextToken);
    expect(pages).toBe(2);
    expect(seen).toEqual(["prod/db", "prod/api", "dev/db", "Prod/misc"]);
    expect(await names({ SortOrder: "desc" })).toEqual(["Prod/misc", "dev/db", "prod/api", "prod/db"]);
    await expectAwsError(
      sm.send(new ListSecretsCommand({ NextToken: "garbage" })),
      "InvalidNextTokenException",
    );
    await expectAwsError(sm.send(new ListSecretsCommand({ MaxResults: 101 })), "ValidationException");
  });
});

describe("BatchGetSecretValue", () => {
  it("returns values for ids and lists failures in Errors", async () => {
    await create("b/1", "one");
    await create("b/2", "two");
    await create("b/del", "x");
    await sm.send(new DeleteSecretCommand({ SecretId: "b/del" }));
    const out = await sm.send(
      new BatchGetSecretValueCommand({ SecretIdList: ["b/1", "b/missing", "b/2", "b/del"] }),
    );
    expect(out.SecretValues!.map((v) => [v.Name, v.SecretString])).toEqual([
      ["b/1", "one"],
      ["b/2", "two"],
    ]);
    expect(out.Errors!.map((e) => [e.SecretId, e.ErrorCode])).toEqual([
      ["b/missing", "ResourceNotFoundException"],
      ["b/del", "InvalidRequestException"],
    ]);
  });

  it("pages through filtered secrets and validates its parameters", async () => {
    for (let i = 0; i < 5; i++) await create(`f/${i}`, `v${i}`);
    await create("other", "x");
    const first = await sm.send(
      new BatchGetSecretValueCommand({ Filters: [{ Key: "name", Values: ["f/"] }], MaxResults: 3 }),
    );
    expect(first.SecretValues).toHaveLength(3);
    const second = await sm.send(
      new BatchGetSecretValueCommand({
        Filters: [{ Key: "name", Values: ["f/"] }],
        MaxResults: 3,
        NextToken: first.NextToken!,
      }),
    );
    expect(second.NextToken).toBeUndefined();
    expect([...first.SecretValues!, ...second.SecretValues!].map((v) => v.SecretString)).toEqual([
      "v0",
      "v1",
      "v2",
      "v3",
      "v4",
    ]);
    await expectAwsError(
      sm.send(
        new BatchGetSecretValueCommand({ SecretIdList: ["a"], Filters: [{ Key: "name", Values: ["f"] }] }),
      ),
      "InvalidParameterException",
      "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
    );
    const ids = Array.from({ length: 21 }, (_, i) => `id${i}`);
    await expectAwsError(
      sm.send(new BatchGetSecretValueCommand({ SecretIdList: ids })),
      "ValidationException",
    );
  });
});

describe("tags", () => {
  it("adds, replaces and removes tags, and validates them", async () => {
    await create("t", "v", { Tags: [{ Key: "a", Value: "1" }] });
    await sm.send(
      new TagResourceCommand({
        SecretId: "t",
        Tags: [
          { Key: "a", Value: "2" },
          { Key: "b", Value: "3" },
        ],
      }),
    );
    await sm.send(new UntagResourceCommand({ SecretId: "t", TagKeys: ["b", "never-set"] }));
    expect((await sm.send(new DescribeSecretCommand({ SecretId: "t" }))).Tags).toEqual([
      { Key: "a", Value: "2" },
    ]);
    await expectAwsError(
      sm.send(new TagResourceCommand({ SecretId: "t", Tags: [{ Key: "k", Value: "no#hash" }] })),
      "ValidationException",
    );
    const many = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: "v" }));
    await expectAwsError(
      sm.send(new TagResourceCommand({ SecretId: "t", Tags: many })),
      "LimitExceededException",
    );
  });
});

describe("wire format, faults and counters", () => {
  it("answers errors as awsJson bodies with __type and Message", async () => {
    const missing = await raw("secretsmanager.GetSecretValue", JSON.stringify({ SecretId: "nope" }));
    expect(missing).toEqual({
      status: 400,
      type: "application/x-amz-json-1.1",
      json: {
        __type: "ResourceNotFoundException",
        Message: "Secrets Manager can't find the specified secret.",
      },
    });
    expect((await raw("secretsmanager.Frobnicate", "{}")).json).toMatchObject({
      __type: "UnknownOperationException",
    });
    expect((await raw("Other.GetSecretValue", "{}")).json).toMatchObject({
      __type: "UnknownOperationException",
    });
    expect((await raw("secretsmanager.ListSecrets", "{not json")).json).toMatchObject({
      __type: "SerializationException",
    });
    expect((await raw("secretsmanager.CreateSecret", "{}")).json).toMatchObject({
      __type: "ValidationException",
    });
    const unsigned = await raw("secretsmanager.ListSecrets", "");
    expect(unsigned).toMatchObject({ status: 200, json: { SecretList: [] } });
  });

  it("injects throttling as AWS sends it, 5xx as InternalServiceError, and latency", async () => {
    await create("f", "v");
    aws.faults.inject({ operation: "GetSecretValue", status: 429, times: 1, retryAfterSeconds: 3 });
    const res = await fetch(aws.url, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "secretsmanager.GetSecretValue",
      },
      body: JSON.stringify({ SecretId: "f" }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(await res.json()).toEqual({ __type: "ThrottlingException", Message: "Rate exceeded" });
    // Consumed: the next call succeeds; other operations were never affected.
    expect((await sm.send(new GetSecretValueCommand({ SecretId: "f" }))).SecretString).toBe("v");

    aws.faults.inject({ status: 503, times: 2 });
    await expectAwsError(
      sm.send(new DescribeSecretCommand({ SecretId: "f" })),
      "InternalServiceError",
      undefined,
      503,
    );
    await expectAwsError(sm.send(new ListSecretsCommand({})), "InternalServiceError", undefined, 503);
    await sm.send(new ListSecretsCommand({}));

    aws.faults.inject({ operation: "ListSecrets", status: 403, times: 1 });
    await expectAwsError(sm.send(new ListSecretsCommand({})), "AccessDeniedException");

    aws.faults.latencyMs = 150;
    const started = Date.now();
    await sm.send(new ListSecretsCommand({}));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("counts requests per operation, faulted ones included, and reset() forgets everything", async () => {
    await create("c", "v");
    aws.faults.inject({ operation: "GetSecretValue", status: 500, times: 1 });
    await expectAwsError(
      sm.send(new GetSecretValueCommand({ SecretId: "c" })),
      "InternalServiceError",
      undefined,
      500,
    );
    await sm.send(new GetSecretValueCommand({ SecretId: "c" }));
    expect(aws.requests.snapshot()).toEqual({ CreateSecret: 1, GetSecretValue: 2 });

    aws.faults.inject({ status: 500 });
    aws.reset();
    expect(aws.requests.total()).toBe(0);
    expect(await names({})).toEqual([]);
  });
});
