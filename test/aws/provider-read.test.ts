/** The AWS Secrets Manager provider's read side (ESO's GetSecret / dataFrom.find) against the local AWS. */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type LocalAws, startLocalAws } from "../../infra/local/aws/index.ts";
import { createAwsSecretsManagerProvider } from "../../shared/providers/aws-secrets-manager/index.ts";
import type { SecretStoreProvider } from "../../shared/providers/types.ts";
import { dummyCredentials, providerError, sdkClient, token } from "./helpers.ts";

let aws: LocalAws;
let sm: SecretsManagerClient;
let provider: SecretStoreProvider;

beforeAll(async () => {
  aws = await startLocalAws({ port: 0 });
  sm = sdkClient(aws);
  provider = createAwsSecretsManagerProvider({
    storeName: "default/aws",
    region: aws.region,
    endpoint: aws.url,
    credentials: dummyCredentials,
  });
});
afterAll(async () => {
  await provider.close?.();
  sm.destroy();
  await aws.close();
});
beforeEach(() => {
  aws.reset();
  provider.calls.reset();
});

async function put(name: string, value: string, tags: Record<string, string> = {}) {
  await sm.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: value,
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
}

const text = (b: Buffer | undefined) => b?.toString("utf8");

describe("getSecret", () => {
  it("reads the current value, a staging label, or a VersionId given as uuid/<id>", async () => {
    await sm.send(
      new CreateSecretCommand({ Name: "r/v", SecretString: "one", ClientRequestToken: token("1") }),
    );
    await sm.send(
      new PutSecretValueCommand({ SecretId: "r/v", SecretString: "two", ClientRequestToken: token("2") }),
    );
    expect(text(await provider.getSecret({ key: "r/v" }))).toBe("two");
    expect(text(await provider.getSecret({ key: "r/v", version: "AWSPREVIOUS" }))).toBe("one");
    expect(text(await provider.getSecret({ key: "r/v", version: `uuid/${token("1")}` }))).toBe("one");
    expect(provider.calls.snapshot()).toEqual({ GetSecretValue: 3 });
  });

  it("extracts JSON properties as ESO does", async () => {
    const doc = {
      user: "admin",
      port: 5432,
      tls: true,
      none: null,
      db: { host: "db.internal", opts: { ssl: "require" } },
      "a.b": "literal dotted key",
      a: { b: "nested a.b" },
      hosts: ["h0", "h1"],
    };
    await put("r/json", JSON.stringify(doc));
    const prop = async (property: string) => text(await provider.getSecret({ key: "r/json", property }));
    expect(await prop("user")).toBe("admin");
    expect(await prop("port")).toBe("5432");
    expect(await prop("tls")).toBe("true");
    expect(await prop("none")).toBe("");
    expect(await prop("db.host")).toBe("db.internal");
    expect(await prop("db.opts")).toBe('{"ssl":"require"}');
    expect(await prop("a.b")).toBe("literal dotted key");
    expect(await prop("hosts.1")).toBe("h1");

    const missing = await providerError(provider.getSecret({ key: "r/json", property: "db.password" }));
    expect(missing.code).toBe("NotFound");
    expect(missing.message).toContain("db.password");

    await put("r/plain", "not-json-canary");
    const notJson = await providerError(provider.getSecret({ key: "r/plain", property: "x" }));
    expect(notJson.code).toBe("Invalid");
    expect(notJson.message).not.toContain("not-json-canary");
  });

  it("reads binary secrets as bytes", async () => {
    const bytes = Buffer.from([1, 2, 3, 255]);
    await sm.send(new CreateSecretCommand({ Name: "r/bin", SecretBinary: bytes }));
    expect(await provider.getSecret({ key: "r/bin" })).toEqual(bytes);
  });
});

describe("getSecrets", () => {
  it("reads many secrets with BatchGetSecretValue, 20 a call, leaving out absent and deleted ones", async () => {
    const keys: string[] = [];
    for (let i = 0; i < 23; i++) {
      await put(`batch/${i}`, `value-${i}`);
      keys.push(`batch/${i}`);
    }
    await sm.send(new DeleteSecretCommand({ SecretId: "batch/5" }));
    keys.push("batch/missing");

    const values = await provider.getSecrets(keys);
    expect(values.size).toBe(22);
    expect(values.has("batch/5")).toBe(false);
    expect(values.has("batch/missing")).toBe(false);
    expect(text(values.get("batch/22"))).toBe("value-22");
    expect(provider.calls.snapshot()).toEqual({ BatchGetSecretValue: 2 });
    expect(aws.requests.get("GetSecretValue")).toBe(0);
  });

  it("maps throttling of the batch call to a retryable error", async () => {
    aws.faults.inject({ operation: "BatchGetSecretValue", status: 429, times: 1 });
    expect(await providerError(provider.getSecrets(["a"]))).toMatchObject({
      code: "Throttled",
      retryable: true,
    });
  });
});

describe("findSecrets", () => {
  beforeEach(async () => {
    await put("apps/web/db", "w-db", { env: "prod", team: "web" });
    await put("apps/web/api", "w-api", { env: "dev", team: "web" });
    await put("apps/batch/db", "b-db", { env: "prod", team: "batch" });
    await put("other/db", "o-db", { env: "prod" });
    await put("apps/swapped", "s", { env: "web", team: "prod" });
    await put("apps/longer", "l", { env: "production", team: "web" });
  });

  it("finds by path prefix, name regexp and exact tags", async () => {
    const byPath = await provider.findSecrets({ path: "apps/web/" });
    expect([...byPath.keys()].sort()).toEqual(["apps/web/api", "apps/web/db"]);
    expect(text(byPath.get("apps/web/db"))).toBe("w-db");

    const byRegexp = await provider.findSecrets({ nameRegexp: "/db$" });
    expect([...byRegexp.keys()].sort()).toEqual(["apps/batch/db", "apps/web/db", "other/db"]);

    // AWS's tag filters match keys and values independently, by prefix; exact pairs are checked client-side.
    const byTags = await provider.findSecrets({ tags: { env: "prod", team: "web" } });
    expect([...byTags.keys()]).toEqual(["apps/web/db"]);

    const none = await provider.findSecrets({ path: "apps/", tags: { env: "staging" } });
    expect(none.size).toBe(0);
  });

  it("lists and then reads only the matches", async () => {
    provider.calls.reset();
    await provider.findSecrets({ path: "apps/", nameRegexp: "api" });
    expect(provider.calls.snapshot()).toEqual({ BatchGetSecretValue: 1, ListSecrets: 1 });
  });

  it("works within the store prefix", async () => {
    const prefixed = createAwsSecretsManagerProvider({
      storeName: "apps",
      region: aws.region,
      endpoint: aws.url,
      credentials: dummyCredentials,
      prefix: "apps/",
    });
    const found = await prefixed.findSecrets({ path: "web/" });
    expect([...found.keys()].sort()).toEqual(["web/api", "web/db"]);
    expect(text(await prefixed.getSecret({ key: "batch/db" }))).toBe("b-db");
    await prefixed.close?.();
  });
});

describe("secretExists", () => {
  it("is true for live secrets only", async () => {
    await put("e/live", "v");
    await put("e/dying", "v");
    await sm.send(new DeleteSecretCommand({ SecretId: "e/dying" }));
    expect(await provider.secretExists("e/live")).toBe(true);
    expect(await provider.secretExists("e/dying")).toBe(false);
    expect(await provider.secretExists("e/never")).toBe(false);
    expect(aws.requests.get("GetSecretValue")).toBe(0);
  });
});
