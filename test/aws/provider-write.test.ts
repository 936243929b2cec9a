/**
 * The AWS Secrets Manager provider's write side against the local AWS over HTTP. A plain SDK
 * client plays "someone else" changing secrets behind pushsync's back.
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type LocalAws, startLocalAws } from "../../infra/local/aws/index.ts";
import {
  createAwsSecretsManagerProvider,
  type AwsSecretsManagerProviderOptions,
} from "../../shared/providers/aws-secrets-manager/index.ts";
import type { RemoteSecretState, SecretStoreProvider } from "../../shared/providers/types.ts";
import { dummyCredentials, providerError, pushRequest, sdkClient, token } from "./helpers.ts";

let aws: LocalAws;
let sm: SecretsManagerClient;
let provider: SecretStoreProvider;
const opened: SecretStoreProvider[] = [];

function newProvider(extra: Partial<AwsSecretsManagerProviderOptions> = {}): SecretStoreProvider {
  const p = createAwsSecretsManagerProvider({
    storeName: "default/aws",
    region: aws.region,
    endpoint: aws.url,
    credentials: dummyCredentials,
    ...extra,
  });
  opened.push(p);
  return p;
}

beforeAll(async () => {
  aws = await startLocalAws({ port: 0 });
  sm = sdkClient(aws);
});
afterAll(async () => {
  for (const p of opened) await p.close?.();
  sm.destroy();
  await aws.close();
});
beforeEach(() => {
  aws.reset();
  provider = newProvider({ recoveryWindowInDays: 7 });
});

async function valueAt(name: string): Promise<string | undefined> {
  return (await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString;
}

async function listManaged(p = provider): Promise<RemoteSecretState[]> {
  const out: RemoteSecretState[] = [];
  for await (const s of p.listManaged()) out.push(s);
  return out;
}

describe("push", () => {
  it("creates a secret with value, marker tags, PushSecret tags, description and KMS key", async () => {
    const req = pushRequest("/prod/app/db-password", "hunter2", {
      metadata: { tags: { team: "core" }, description: "db", kmsKeyId: "alias/app" },
    });
    const result = await provider.push(req);
    expect(result).toEqual({ action: "created", versionId: req.idempotencyToken });
    expect(await valueAt("/prod/app/db-password")).toBe("hunter2");

    const d = await sm.send(new DescribeSecretCommand({ SecretId: "/prod/app/db-password" }));
    expect(d).toMatchObject({ Description: "db", KmsKeyId: "alias/app" });
    expect(Object.fromEntries(d.Tags!.map((t) => [t.Key, t.Value]))).toEqual({
      "managed-by": "pushsync",
      "pushsync.io/vault-path": "secret/prod/app/db-password",
      "pushsync.io/vault-version": "1",
      "pushsync.io/fingerprint": req.marker.fingerprint,
      "pushsync.io/version-id": req.idempotencyToken,
      team: "core",
    });
    expect(provider.calls.snapshot()).toEqual({ CreateSecret: 1 });
  });

  it("describes a pushed secret from metadata alone", async () => {
    const req = pushRequest("app/api", "v1", { metadata: { tags: { team: "core" } } });
    await provider.push(req);
    const state = await provider.describe("app/api");
    expect(state).toMatchObject({
      key: "app/api",
      name: "app/api",
      managedBy: "pushsync",
      marker: req.marker,
      currentIsMarked: true,
      pendingDeletion: false,
      tags: { team: "core" },
    });
    expect(await provider.describe("app/absent")).toBeUndefined();
    expect(aws.requests.get("GetSecretValue")).toBe(0);
  });

  it("updates value and marker with PutSecretValue + TagResource, touching description and tags only when changed", async () => {
    await provider.push(
      pushRequest("app/cfg", "v1", { metadata: { description: "d", tags: { a: "1", b: "2" } } }),
    );
    provider.calls.reset();

    const current = (await provider.describe("app/cfg"))!;
    const req = pushRequest("app/cfg", "v2", {
      vaultVersion: 2,
      current,
      metadata: { description: "d", tags: { a: "1" } },
    });
    expect(await provider.push(req)).toEqual({ action: "updated", versionId: req.idempotencyToken });
    expect(await valueAt("app/cfg")).toBe("v2");
    expect(provider.calls.snapshot()).toEqual({
      DescribeSecret: 1,
      PutSecretValue: 1,
      TagResource: 1,
      UntagResource: 1,
    });
    const after = (await provider.describe("app/cfg"))!;
    expect(after).toMatchObject({ marker: req.marker, currentIsMarked: true, tags: { a: "1" } });

    provider.calls.reset();
    await provider.push(
      pushRequest("app/cfg", "v3", { vaultVersion: 3, current: after, metadata: { description: "new" } }),
    );
    expect(provider.calls.get("UpdateSecret")).toBe(1);
    expect((await sm.send(new DescribeSecretCommand({ SecretId: "app/cfg" }))).Description).toBe("new");
  });

  it("moves the secret to the KMS key the PushSecret names, and back to AWS's managed key when it names none", async () => {
    const kmsKey = async () => (await sm.send(new DescribeSecretCommand({ SecretId: "app/kms" }))).KmsKeyId;
    await provider.push(pushRequest("app/kms", "v1"));
    expect(await kmsKey()).toBeUndefined();

    const push = async (vaultVersion: number, kmsKeyId?: string) => {
      const current = (await provider.describe("app/kms"))!;
      provider.calls.reset();
      await provider.push(
        pushRequest("app/kms", `v${vaultVersion}`, { vaultVersion, current, metadata: { kmsKeyId } }),
      );
      return provider.calls.get("UpdateSecret");
    };
    expect(await push(2, "alias/app")).toBe(1);
    expect(await kmsKey()).toBe("alias/app");
    expect(await push(3, "alias/app")).toBe(0);
    expect(await push(4)).toBe(1);
    expect(await kmsKey()).toBeUndefined();
    expect(await push(5)).toBe(0);
  });

  it("stores marker values outside AWS's tag alphabet as base64 and reads them back", async () => {
    const base = pushRequest("app/odd", "v");
    const vaultPath = "kv/Team A/db#1,primary";
    await provider.push({ ...base, marker: { ...base.marker, vaultPath } });
    const d = await sm.send(new DescribeSecretCommand({ SecretId: "app/odd" }));
    const stored = d.Tags!.find((t) => t.Key === "pushsync.io/vault-path")!.Value!;
    expect(stored).toBe(`base64:${Buffer.from(vaultPath).toString("base64")}`);
    expect((await provider.describe("app/odd"))?.marker?.vaultPath).toBe(vaultPath);

    const long = { ...base, key: "app/long", marker: { ...base.marker, vaultPath: "kv/" + "p".repeat(300) } };
    const err = await providerError(provider.push(long));
    expect(err.code).toBe("TooLarge");
    expect(err.message).toContain("256");
  });

  it("pushes binary values as SecretBinary and refuses non-UTF-8 values as strings", async () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    await provider.push(pushRequest("app/bin", bytes, { metadata: { secretPushFormat: "binary" } }));
    const got = await sm.send(new GetSecretValueCommand({ SecretId: "app/bin" }));
    expect(Buffer.from(got.SecretBinary!)).toEqual(bytes);
    const err = await providerError(provider.push(pushRequest("app/bin2", bytes)));
    expect(err.code).toBe("Invalid");
    expect(err.message).toContain("secretPushFormat: binary");
  });

  it("makes a retried push a no-op at AWS: same token, no new version", async () => {
    await provider.push(pushRequest("app/retry", "v1"));
    const current = (await provider.describe("app/retry"))!;
    const req = pushRequest("app/retry", "v2", { vaultVersion: 2, current });
    await provider.push(req);
    await provider.push(req);
    const versions = await sm.send(
      new ListSecretVersionIdsCommand({ SecretId: "app/retry", IncludeDeprecated: true }),
    );
    expect(versions.Versions).toHaveLength(2);
    expect(aws.requests.get("PutSecretValue")).toBe(2);

    // A create whose response was lost is retried the same way.
    const create = pushRequest("app/created-twice", "v1");
    await provider.push(create);
    expect(await provider.push(create)).toEqual({ action: "created", versionId: create.idempotencyToken });
  });

  it("restores a secret scheduled for deletion before writing when asked to", async () => {
    await provider.push(pushRequest("app/back", "v1"));
    await provider.delete("app/back");
    const current = (await provider.describe("app/back"))!;
    expect(current.pendingDeletion).toBe(true);

    const refused = await providerError(
      provider.push(pushRequest("app/back", "v2", { vaultVersion: 2, current })),
    );
    expect(refused.code).toBe("Deleted");

    await provider.push(pushRequest("app/back", "v2", { vaultVersion: 2, current, restore: true }));
    expect(await valueAt("app/back")).toBe("v2");
    expect(await provider.describe("app/back")).toMatchObject({
      pendingDeletion: false,
      currentIsMarked: true,
    });
    expect(provider.calls.get("RestoreSecret")).toBe(1);
  });

  it("rejects values over 65,536 bytes before calling AWS, naming the limit and not the value", async () => {
    await provider.push(pushRequest("app/max", "m".repeat(65_536)));
    provider.calls.reset();
    const requestsBefore = aws.requests.total();
    const value = "canary-7d1f".repeat(6_000);
    const err = await providerError(provider.push(pushRequest("app/big", value)));
    expect(err.code).toBe("TooLarge");
    expect(err.message).toContain("65536");
    expect(err.message).not.toContain("canary-7d1f");
    expect(provider.calls.total()).toBe(0);
    expect(aws.requests.total()).toBe(requestsBefore);
  });

  it("rejects invalid names before calling AWS, explaining the ARN-suffix pitfall", async () => {
    for (const key of ["bad name", "x".repeat(513), "app/db#1"]) {
      expect((await providerError(provider.push(pushRequest(key, "v")))).code).toBe("InvalidName");
    }
    const pitfall = await providerError(provider.push(pushRequest("app/my-secret", "v")));
    expect(pitfall.code).toBe("InvalidName");
    expect(pitfall.message).toMatch(/hyphen followed by six characters.*partial ARN/);
    expect(() => provider.mapKey("app/db-password")).not.toThrow();
    expect(provider.calls.total()).toBe(0);
  });

  it("refuses PushSecret tags that would overwrite the marker or exceed AWS's 50 tags", async () => {
    const reserved = await providerError(
      provider.push(pushRequest("app/t", "v", { metadata: { tags: { "managed-by": "me" } } })),
    );
    expect(reserved.code).toBe("Invalid");
    const tags = Object.fromEntries(Array.from({ length: 46 }, (_, i) => [`t${i}`, "v"]));
    const many = await providerError(provider.push(pushRequest("app/t", "v", { metadata: { tags } })));
    expect(many.code).toBe("TooLarge");
    expect(many.message).toContain("50");
    expect(provider.limits.maxTags).toBe(45);
  });
});

describe("listManaged", () => {
  it("lists pushsync- and ESO-managed secrets from list calls only, with currentIsMarked and pendingDeletion", async () => {
    for (const key of ["app/one", "app/two", "app/three"])
      await provider.push(pushRequest(key, `value of ${key}`));
    await sm.send(
      new CreateSecretCommand({
        Name: "eso/pushed",
        SecretString: "x",
        Tags: [{ Key: "managed-by", Value: "external-secrets" }],
      }),
    );
    await sm.send(new CreateSecretCommand({ Name: "someone/else", SecretString: "x" }));
    await sm.send(
      new CreateSecretCommand({
        Name: "lookalike",
        SecretString: "x",
        Tags: [{ Key: "managed-by", Value: "pushsync-fork" }],
      }),
    );
    // Changed behind pushsync's back: AWSCURRENT is no longer the version the marker records.
    await sm.send(
      new PutSecretValueCommand({
        SecretId: "app/two",
        SecretString: "edited",
        ClientRequestToken: token("e"),
      }),
    );
    await provider.delete("app/three");
    provider.calls.reset();
    aws.requests.reset();

    const byKey = new Map((await listManaged()).map((s) => [s.key, s]));
    expect([...byKey.keys()].sort()).toEqual(["app/one", "app/three", "app/two", "eso/pushed"]);
    expect(byKey.get("app/one")).toMatchObject({
      currentIsMarked: true,
      pendingDeletion: false,
      managedBy: "pushsync",
    });
    expect(byKey.get("app/two")).toMatchObject({ currentIsMarked: false, managedBy: "pushsync" });
    expect(byKey.get("app/three")).toMatchObject({ currentIsMarked: true, pendingDeletion: true });
    expect(byKey.get("eso/pushed")).toMatchObject({ managedBy: "external-secrets", currentIsMarked: false });
    expect(byKey.get("eso/pushed")!.marker).toBeUndefined();
    expect(provider.calls.snapshot()).toEqual({ ListSecrets: 1 });
    expect(aws.requests.snapshot()).toEqual({ ListSecrets: 1 });
  });

  it("pages through more than 100 secrets", async () => {
    for (let i = 0; i < 105; i++)
      await provider.push(pushRequest(`bulk/s${String(i).padStart(3, "0")}`, `v${i}`));
    provider.calls.reset();
    const all = await listManaged();
    expect(all).toHaveLength(105);
    expect(all.every((s) => s.currentIsMarked)).toBe(true);
    expect(provider.calls.get("ListSecrets")).toBe(2);
  });

  it("applies the store prefix to names and strips it from keys", async () => {
    const teamA = newProvider({ prefix: "team-a/" });
    expect(teamA.mapKey("db")).toBe("team-a/db");
    await teamA.push(pushRequest("db", "a"));
    await provider.push(pushRequest("team-b/db", "b"));
    const listed = await listManaged(teamA);
    expect(listed.map((s) => [s.key, s.name])).toEqual([["db", "team-a/db"]]);
    expect(await valueAt("team-a/db")).toBe("a");
  });
});

describe("delete", () => {
  it("schedules deletion with the store's recovery window; repeated and absent deletes are fine", async () => {
    await provider.push(pushRequest("app/del", "v"));
    const before = Date.now() / 1000;
    await provider.delete("app/del");
    const d = await sm.send(new DescribeSecretCommand({ SecretId: "app/del" }));
    expect(d.DeletedDate!.getTime() / 1000 - before).toBeCloseTo(7 * 86_400, -1);
    await provider.delete("app/del");
    await provider.delete("app/never-existed");
    expect(provider.calls.get("DeleteSecret")).toBe(3);
  });

  it("lets a call override the recovery window or force deletion", async () => {
    await provider.push(pushRequest("app/w", "v"));
    const before = Date.now() / 1000;
    await provider.delete("app/w", { recoveryWindowInDays: 20 });
    const d = await sm.send(new DescribeSecretCommand({ SecretId: "app/w" }));
    expect(d.DeletedDate!.getTime() / 1000 - before).toBeCloseTo(20 * 86_400, -1);

    await provider.delete("app/w", { force: true });
    expect(await provider.describe("app/w")).toBeUndefined();
  });

  it("follows the store's forceDeleteWithoutRecovery unless the call says otherwise", async () => {
    const forcing = newProvider({ forceDeleteWithoutRecovery: true });
    await forcing.push(pushRequest("app/f1", "v"));
    await forcing.push(pushRequest("app/f2", "v"));
    await forcing.delete("app/f1");
    expect(await forcing.describe("app/f1")).toBeUndefined();
    await forcing.delete("app/f2", { force: false });
    expect((await forcing.describe("app/f2"))?.pendingDeletion).toBe(true);
  });
});

describe("errors", () => {
  it("maps injected throttling to a retryable Throttled error with Retry-After", async () => {
    await provider.push(pushRequest("app/e", "v1"));
    const current = (await provider.describe("app/e"))!;
    aws.faults.inject({ operation: "PutSecretValue", status: 429, times: 1, retryAfterSeconds: 2 });
    const err = await providerError(provider.push(pushRequest("app/e", "v2", { vaultVersion: 2, current })));
    expect(err).toMatchObject({ code: "Throttled", retryable: true, retryAfterMs: 2_000 });
    expect(err.message).toContain("PutSecretValue");
    expect(err.message).toContain("app/e");
    expect(err.message).toContain("ThrottlingException");

    aws.faults.inject({ operation: "ListSecrets", status: 429, times: 1 });
    const listErr = await providerError(listManaged());
    expect(listErr).toMatchObject({ code: "Throttled", retryable: true, retryAfterMs: undefined });
  });

  it("maps 5xx, timeouts and refused connections to retryable Unavailable", async () => {
    aws.faults.inject({ operation: "DescribeSecret", status: 500, times: 1 });
    expect(await providerError(provider.describe("app/x"))).toMatchObject({
      code: "Unavailable",
      retryable: true,
    });
    aws.faults.inject({ operation: "DescribeSecret", status: 503, times: 1 });
    expect(await providerError(provider.describe("app/x"))).toMatchObject({
      code: "Unavailable",
      retryable: true,
    });

    const impatient = newProvider({ requestTimeoutMs: 100 });
    aws.faults.latencyMs = 400;
    expect(await providerError(impatient.describe("app/x"))).toMatchObject({
      code: "Unavailable",
      retryable: true,
    });
    aws.faults.latencyMs = 0;

    const closed = await startLocalAws({ port: 0 });
    const url = closed.url;
    await closed.close();
    const unreachable = newProvider({ endpoint: url });
    const refused = await providerError(unreachable.describe("app/x"));
    expect(refused).toMatchObject({ code: "Unavailable", retryable: true });
    expect(refused.message).toContain("ECONNREFUSED");
  });

  it("maps AccessDenied, existing secrets and scheduled deletion to non-retryable codes", async () => {
    aws.faults.inject({ operation: "DescribeSecret", status: 403, times: 1 });
    expect(await providerError(provider.describe("app/x"))).toMatchObject({
      code: "PermissionDenied",
      retryable: false,
    });

    await sm.send(new CreateSecretCommand({ Name: "app/taken", SecretString: "theirs" }));
    expect(await providerError(provider.push(pushRequest("app/taken", "ours")))).toMatchObject({
      code: "Conflict",
      retryable: false,
    });

    await sm.send(new CreateSecretCommand({ Name: "app/dying", SecretString: "x" }));
    await sm.send(new DeleteSecretCommand({ SecretId: "app/dying" }));
    expect(await providerError(provider.push(pushRequest("app/dying", "v")))).toMatchObject({
      code: "Deleted",
    });
    expect(await providerError(provider.getSecret({ key: "app/dying" }))).toMatchObject({ code: "Deleted" });
    expect(await providerError(provider.getSecret({ key: "app/absent" }))).toMatchObject({
      code: "NotFound",
    });
  });
});
