import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CredentialUnavailableError } from "@azure/identity";
import { ProviderError } from "../../shared/errors/index.ts";
import { createAzureKeyVaultProvider } from "../../shared/providers/azure-key-vault/index.ts";
import type { AzureKeyVaultProviderOptions } from "../../shared/providers/azure-key-vault/index.ts";
import type { PushRequest, RemoteSecretState, SecretStoreProvider } from "../../shared/providers/types.ts";
import { StaticCredential, sdkClient, startTestAzure } from "./helpers.ts";
import type { TestAzure } from "./helpers.ts";
import { rejection as rejectionOf } from "../support/rejection.ts";

let azure: TestAzure;
let unique = 0;
/** A fresh remote key per test: "/<stem>-<n>/app_<n>.conf" style paths exercise the name mapping. */
const freshKey = (stem = "t") => `/${stem}${Date.now().toString(36)}${++unique}/app_${unique}.conf`;

const marker = (n = 1) => ({
  vaultPath: `secret/app${n}`,
  vaultVersion: n,
  fingerprint: `${n}`.padStart(64, "f"),
});

function provider(options: Partial<AzureKeyVaultProviderOptions> = {}): SecretStoreProvider {
  return createAzureKeyVaultProvider({
    storeName: "team-a/azure",
    vaultUrl: azure.url,
    credential: new StaticCredential(),
    ca: azure.caCertPem,
    ...options,
  });
}

function pushRequest(key: string, value: string, extra: Partial<PushRequest> = {}): PushRequest {
  return {
    key,
    value: Buffer.from(value),
    metadata: {},
    marker: marker(),
    idempotencyToken: "token",
    ...extra,
  };
}

async function collect(p: SecretStoreProvider): Promise<RemoteSecretState[]> {
  const out: RemoteSecretState[] = [];
  for await (const s of p.listManaged()) out.push(s);
  return out;
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, ProviderError);

beforeAll(async () => {
  azure = await startTestAzure();
});
afterAll(async () => {
  await azure.stop();
});
beforeEach(() => {
  azure.faults.clear();
});

describe("Azure Key Vault provider: push", () => {
  it("creates a secret with value, marker and PushSecret tags, contentType and expiry in one SetSecret", async () => {
    const p = provider();
    const key = freshKey();
    const result = await p.push({
      ...pushRequest(key, "s3cr3t-one"),
      metadata: { tags: { team: "a" }, contentType: "text/plain", expirationDate: "2031-01-02T03:04:05Z" },
      marker: marker(7),
    });
    expect(result.action).toBe("created");
    expect(result.versionId).toMatch(/^[0-9a-f]{32}$/);
    expect(p.calls.get("SetSecret")).toBe(1);

    const stored = await sdkClient(azure).getSecret(p.mapKey(key));
    expect(stored.value).toBe("s3cr3t-one");
    expect(stored.properties.version).toBe(result.versionId);
    expect(stored.properties.contentType).toBe("text/plain");
    expect(stored.properties.expiresOn?.toISOString()).toBe("2031-01-02T03:04:05.000Z");
    expect(stored.properties.tags).toEqual({
      team: "a",
      "managed-by": "pushsync",
      "pushsync-fingerprint": marker(7).fingerprint,
      "pushsync-vault-path": "secret/app7",
      "pushsync-vault-version": "7",
    });
  });

  it("updates with a new version when the secret exists", async () => {
    const p = provider();
    const key = freshKey();
    const first = await p.push(pushRequest(key, "v1"));
    const current = await p.describe(key);
    const second = await p.push(pushRequest(key, "v2", { current, marker: marker(2) }));
    expect(second.action).toBe("updated");
    expect(second.versionId).not.toBe(first.versionId);
    expect(await p.getSecret({ key })).toEqual(Buffer.from("v2"));
    expect(await p.getSecret({ key, version: first.versionId! })).toEqual(Buffer.from("v1"));
  });

  it("maps path-like keys to Key Vault names and reports colliding keys through mapKey", async () => {
    const p = provider();
    expect(p.mapKey("/prod/lambda/db_password")).toBe("prod--lambda--db---password");
    expect(p.mapKey("/Prod/DB")).toBe(p.mapKey("prod/db"));
    const err = await rejection(p.push(pushRequest("/prod//db", "x")));
    expect(err.code).toBe("InvalidName");
    expect(p.calls.total()).toBe(0);
  });

  it("refuses values over 25,600 bytes before calling, naming the limit, and accepts exactly 25,600", async () => {
    const p = provider();
    const err = await rejection(p.push(pushRequest(freshKey(), "x".repeat(25_601))));
    expect(err.code).toBe("TooLarge");
    expect(err.message).toContain("25601 bytes");
    expect(err.message).toContain("25600");
    expect(p.calls.total()).toBe(0);
    await p.push(pushRequest(freshKey(), "x".repeat(25_600)));
    expect(p.calls.get("SetSecret")).toBe(1);
  });

  it("refuses values that are not UTF-8 text", async () => {
    const p = provider();
    const err = await rejection(
      p.push({ ...pushRequest(freshKey(), ""), value: Buffer.from([0xff, 0xfe, 0x00]) }),
    );
    expect(err.code).toBe("Invalid");
    expect(p.calls.total()).toBe(0);
  });

  it("allows 11 PushSecret tags besides pushsync's 4, and refuses a 12th naming the 15-tag limit", async () => {
    const p = provider();
    const tags = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`tag${i}`, `v${i}`]));
    await p.push({ ...pushRequest(freshKey(), "x"), metadata: { tags: tags(11) } });
    expect(p.limits.maxTags).toBe(11);
    const err = await rejection(p.push({ ...pushRequest(freshKey(), "x"), metadata: { tags: tags(12) } }));
    expect(err.code).toBe("TooLarge");
    expect(err.message).toMatch(/16 tags.*at most 15/);
    const long = await rejection(
      p.push({ ...pushRequest(freshKey(), "x"), metadata: { tags: { t: "v".repeat(513) } } }),
    );
    expect(long.code).toBe("TooLarge");
    expect(long.message).toContain("512");
    const reserved = await rejection(
      p.push({ ...pushRequest(freshKey(), "x"), metadata: { tags: { "managed-by": "someone" } } }),
    );
    expect(reserved.code).toBe("Invalid");
    const badDate = await rejection(
      p.push({ ...pushRequest(freshKey(), "x"), metadata: { expirationDate: "next tuesday" } }),
    );
    expect(badDate.code).toBe("Invalid");
    expect(p.calls.get("SetSecret")).toBe(1);
  });

  it("reports a soft-deleted name as Deleted, and recovers it first when asked to restore", async () => {
    const p = provider();
    const key = freshKey();
    const first = await p.push(pushRequest(key, "before delete"));
    await p.delete(key);
    const state = await p.describe(key);
    expect(state).toMatchObject({ pendingDeletion: true, managedBy: "pushsync" });

    const err = await rejection(p.push(pushRequest(key, "after delete", { current: state })));
    expect(err.code).toBe("Deleted");
    expect(err.retryable).toBe(false);

    p.calls.reset();
    const result = await p.push(pushRequest(key, "after delete", { current: state, restore: true }));
    expect(result.action).toBe("updated");
    expect(p.calls.get("RecoverDeletedSecret")).toBe(1);
    expect(await p.getSecret({ key })).toEqual(Buffer.from("after delete"));
    // Recovery brought the old versions back too.
    expect(await p.getSecret({ key, version: first.versionId! })).toEqual(Buffer.from("before delete"));
  });

  it("surfaces throttling as retryable Throttled with retryAfterMs, after exactly one request", async () => {
    const p = provider();
    await p.push(pushRequest(freshKey(), "warm up")); // the challenge round-trip happens here
    azure.faults.inject({ operation: "SetSecret", status: 429, retryAfterSeconds: 2, times: 1 });
    const before = azure.requests.get("SetSecret");
    const err = await rejection(p.push(pushRequest(freshKey(), "throttled")));
    expect(err).toMatchObject({ code: "Throttled", retryable: true, retryAfterMs: 2000 });
    expect(azure.requests.get("SetSecret")).toBe(before + 1);

    azure.faults.inject({ operation: "SetSecret", status: 503, times: 1 });
    const unavailable = await rejection(p.push(pushRequest(freshKey(), "unavailable")));
    expect(unavailable).toMatchObject({ code: "Unavailable", retryable: true });
  });

  it("never puts the value in an error message", async () => {
    const p = provider();
    const canary = "canary-value-5f0c1e";
    const key = freshKey();
    azure.faults.inject({ operation: "SetSecret", status: 500, times: 1 });
    const failed = await rejection(p.push(pushRequest(key, canary)));
    await p.push(pushRequest(key, canary));
    await p.delete(key);
    const deleted = await rejection(p.push(pushRequest(key, canary)));
    await p.delete(key, { force: true });
    const oversize = await rejection(p.push(pushRequest(key, canary.repeat(2000))));
    for (const err of [failed, deleted, oversize]) {
      expect(err.message).not.toContain(canary);
      expect(JSON.stringify(err)).not.toContain(canary);
      expect(err.cause).toBeUndefined();
    }
  });
});

describe("Azure Key Vault provider: state", () => {
  it("lists every managed secret from list calls only, across pages, with markers, user tags and soft-deleted ones", async () => {
    const stem = `list${Date.now().toString(36)}`;
    const p = provider();
    const keys = Array.from({ length: 28 }, (_, i) => `/${stem}/k${i}`);
    for (const [i, key] of keys.entries())
      await p.push({
        ...pushRequest(key, `value-${i}`),
        metadata: { tags: { i: String(i) } },
        marker: marker(i),
      });
    const sdk = sdkClient(azure);
    await sdk.setSecret(`${stem}--unmanaged`, "not ours");
    await sdk.setSecret(`${stem}--eso`, "eso's", { tags: { "managed-by": "external-secrets" } });
    await p.delete(keys[0]!);

    const fresh = provider();
    const states = (await collect(fresh)).filter((s) => s.name.startsWith(stem));
    expect(Object.keys(fresh.calls.snapshot()).sort()).toEqual(["GetSecrets", "Unauthenticated"]);
    expect(fresh.calls.get("GetSecrets")).toBeGreaterThanOrEqual(2); // more than one 25-item page

    const byName = new Map(states.map((s) => [s.name, s]));
    expect(byName.has(`${stem}--unmanaged`)).toBe(false);
    expect(byName.get(`${stem}--eso`)).toMatchObject({
      managedBy: "external-secrets",
      currentIsMarked: false,
      pendingDeletion: false,
    });
    expect(byName.get(`${stem}--eso`)?.marker).toBeUndefined();
    // Soft-deleted: not listed; describe() finds it (below).
    expect(byName.has(p.mapKey(keys[0]!))).toBe(false);
    expect(await fresh.describe(keys[0]!)).toMatchObject({ pendingDeletion: true, marker: marker(0) });
    for (const [i, key] of keys.entries()) {
      if (i === 0) continue;
      expect(byName.get(p.mapKey(key))).toEqual({
        key: key.slice(1),
        name: p.mapKey(key),
        managedBy: "pushsync",
        marker: marker(i),
        currentIsMarked: true,
        pendingDeletion: false,
        tags: { i: String(i) },
      });
    }
    expect(states).toHaveLength(keys.length);
  });

  it("describes a secret whose value someone else replaced as ours, but not marked current", async () => {
    const p = provider();
    const key = freshKey();
    await p.push({ ...pushRequest(key, "ours"), marker: marker(3) });
    await sdkClient(azure).setSecret(p.mapKey(key), "someone else's", { tags: { note: "manual" } });

    expect((await collect(p)).some((s) => s.name === p.mapKey(key))).toBe(false);
    p.calls.reset();
    const state = await p.describe(key);
    expect(state).toEqual({
      key,
      name: p.mapKey(key),
      managedBy: "pushsync",
      marker: marker(3),
      currentIsMarked: false,
      pendingDeletion: false,
      tags: { note: "manual" },
    });
    expect(p.calls.snapshot()).toEqual({ GetSecret: 1, GetSecretVersions: 1 });
  });

  it("describes absent secrets as undefined and unmanaged ones without a marker", async () => {
    const p = provider();
    expect(await p.describe(freshKey())).toBeUndefined();
    const key = freshKey();
    await sdkClient(azure).setSecret(p.mapKey(key), "plain");
    expect(await p.describe(key)).toMatchObject({ currentIsMarked: false, pendingDeletion: false, tags: {} });
    expect((await p.describe(key))?.managedBy).toBeUndefined();
  });
});

describe("Azure Key Vault provider: delete", () => {
  it("soft-deletes by default, and treats absent secrets as deleted", async () => {
    const p = provider();
    const key = freshKey();
    await p.push(pushRequest(key, "x"));
    await p.delete(key);
    expect(await p.secretExists(key)).toBe(false);
    expect((await sdkClient(azure).getDeletedSecret(p.mapKey(key))).name).toBe(p.mapKey(key));
    await p.delete(key);
    await p.delete(freshKey());
  });

  it("purges with force, with the store's purgeOnDelete, and purges an already soft-deleted secret", async () => {
    const sdk = sdkClient(azure);
    const gone = async (name: string) =>
      sdk.getDeletedSecret(name).then(
        () => false,
        (e: { statusCode?: number }) => e.statusCode === 404,
      );

    const p = provider();
    const forced = freshKey();
    await p.push(pushRequest(forced, "x"));
    await p.delete(forced, { force: true });
    expect(await gone(p.mapKey(forced))).toBe(true);
    // The name is free again.
    expect((await p.push(pushRequest(forced, "again"))).action).toBe("created");

    const purging = provider({ purgeOnDelete: true });
    const key = freshKey();
    await purging.push(pushRequest(key, "x"));
    await purging.delete(key);
    expect(await gone(purging.mapKey(key))).toBe(true);

    const soft = freshKey();
    await p.push(pushRequest(soft, "x"));
    await p.delete(soft);
    expect(await gone(p.mapKey(soft))).toBe(false);
    await p.delete(soft, { force: true });
    expect(await gone(p.mapKey(soft))).toBe(true);
  });
});

describe("Azure Key Vault provider: read side", () => {
  it("reads the latest value, a version, and JSON properties", async () => {
    const p = provider();
    const key = freshKey();
    const doc = { user: "admin", "db.host": "h1", nested: { port: 5432 } };
    const first = await p.push(pushRequest(key, JSON.stringify(doc)));
    await p.push(pushRequest(key, JSON.stringify({ ...doc, user: "root" })));
    expect((await p.getSecret({ key, property: "user" })).toString()).toBe("root");
    expect((await p.getSecret({ key, property: "user", version: first.versionId! })).toString()).toBe(
      "admin",
    );
    expect((await p.getSecret({ key, property: "db.host" })).toString()).toBe("h1");
    expect((await p.getSecret({ key, property: "nested.port" })).toString()).toBe("5432");
    expect((await p.getSecret({ key, property: "nested" })).toString()).toBe('{"port":5432}');
    expect((await rejection(p.getSecret({ key, property: "missing" }))).code).toBe("NotFound");

    const plain = freshKey();
    await p.push(pushRequest(plain, "not json"));
    const notJson = await rejection(p.getSecret({ key: plain, property: "user" }));
    expect(notJson.code).toBe("Invalid");
    expect(notJson.message).not.toContain("not json");
    expect((await rejection(p.getSecret({ key: freshKey() }))).code).toBe("NotFound");
  });

  it("gets several secrets, leaving absent ones out, and tells whether a secret exists", async () => {
    const p = provider();
    const [a, b, absent] = [freshKey(), freshKey(), freshKey()];
    await p.push(pushRequest(a, "value-a"));
    await p.push(pushRequest(b, "value-b"));
    const got = await p.getSecrets([a, b, absent]);
    expect([...got.entries()].sort()).toEqual([
      [a, Buffer.from("value-a")],
      [b, Buffer.from("value-b")],
    ]);
    expect(await p.secretExists(a)).toBe(true);
    expect(await p.secretExists(absent)).toBe(false);
  });

  it("finds secrets by name pattern, path prefix and tags", async () => {
    const stem = `find${Date.now().toString(36)}`;
    const p = provider();
    await p.push({ ...pushRequest(`/${stem}/db/user`, "u"), metadata: { tags: { env: "prod" } } });
    await p.push({ ...pushRequest(`/${stem}/db/pass`, "p"), metadata: { tags: { env: "dev" } } });
    await p.push(pushRequest(`/${stem}/api/token`, "t"));

    const byPath = await p.findSecrets({ path: `/${stem}/db/` });
    expect([...byPath.keys()].sort()).toEqual([`${stem}/db/pass`, `${stem}/db/user`]);
    const byRegexp = await p.findSecrets({ nameRegexp: `^${stem}/.*/(token|user)$` });
    expect([...byRegexp.keys()].sort()).toEqual([`${stem}/api/token`, `${stem}/db/user`]);
    const byTags = await p.findSecrets({ path: stem, tags: { env: "prod" } });
    expect([...byTags.entries()]).toEqual([[`${stem}/db/user`, Buffer.from("u")]]);
  });
});

describe("Azure Key Vault provider: calls and credentials", () => {
  it("counts every request it sends, exactly as the vault counts them", async () => {
    const p = provider();
    azure.requests.reset();
    const key = freshKey();
    await p.push(pushRequest(key, "x"));
    await p.describe(key);
    await collect(p);
    await p.delete(key, { force: true });
    await p.push(pushRequest(key, "again"));
    await p.getSecrets([key, freshKey()]);
    expect(p.calls.snapshot()).toEqual(azure.requests.snapshot());
    expect(p.calls.get("Unauthenticated")).toBe(1);
    expect(p.calls.get("SetSecret")).toBe(2);
    expect(p.calls.get("PurgeDeletedSecret")).toBe(1);
  });

  it("maps credentials that cannot be set up or cannot get a token to PermissionDenied", async () => {
    let setup: unknown;
    try {
      createAzureKeyVaultProvider({ storeName: "wi", vaultUrl: azure.url, authType: "WorkloadIdentity" });
    } catch (err) {
      setup = err;
    }
    expect(setup).toBeInstanceOf(ProviderError);
    expect((setup as ProviderError).code).toBe("PermissionDenied");

    const refusing = { getToken: () => Promise.reject(new CredentialUnavailableError("no identity here")) };
    const p = provider({ credential: refusing });
    const err = await rejection(p.getSecret({ key: "anything" }));
    expect(err).toMatchObject({ code: "PermissionDenied", retryable: false });
    expect(p.calls.snapshot()).toEqual({ Unauthenticated: 1 });
  });

  it("declares its limits and quotas below Key Vault's", () => {
    const p = provider();
    expect(p.kind).toBe("azure-key-vault");
    expect(p.limits.maxValueBytes).toBe(25_600);
    // Key Vault: 300 secret creations and 4,000 other transactions per 10 s per vault.
    expect(p.quotas.write).toBeLessThan(30);
    expect(p.quotas.read + p.quotas.list).toBeLessThan(400);
  });
});
