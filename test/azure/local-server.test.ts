import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SecretClient } from "@azure/keyvault-secrets";
import { LOCAL_TENANT_ID } from "../../infra/local/azure/index.ts";
import { StaticCredential, raw, sdkClient, startTestAzure } from "./helpers.ts";
import type { TestAzure } from "./helpers.ts";

let azure: TestAzure;
let unique = 0;
/** A fresh secret name per test, so tests never see each other's secrets. */
const fresh = (stem = "s") => `${stem}-${Date.now().toString(36)}-${++unique}`;

beforeAll(async () => {
  azure = await startTestAzure();
});
afterAll(async () => {
  await azure.stop();
});
beforeEach(() => {
  azure.faults.clear();
});

describe("local Azure Key Vault: authentication and transport", () => {
  it("challenges a request without a bearer token the way Key Vault does", async () => {
    const before = azure.requests.get("Unauthenticated");
    const res = await raw(azure, "GET", "/secrets", { token: null });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe(
      `Bearer authorization="https://login.microsoftonline.com/${LOCAL_TENANT_ID}", resource="https://vault.azure.net"`,
    );
    expect(res.body.error.code).toBe("Unauthorized");
    expect(azure.requests.get("Unauthenticated")).toBe(before + 1);
  });

  it("lets the SDK answer the challenge: it asks its credential for the vault scope and the challenged tenant", async () => {
    const credential = new StaticCredential();
    const client = sdkClient(azure, credential);
    const name = fresh();
    const set = await client.setSecret(name, "challenge-value");
    expect(set.value).toBe("challenge-value");
    expect(credential.requests[0]).toEqual({
      scopes: ["https://vault.azure.net/.default"],
      tenantId: LOCAL_TENANT_ID,
    });
    // The body withheld from the token-less first request was sent with the authorised retry.
    expect((await client.getSecret(name)).value).toBe("challenge-value");
  });

  it("serves real TLS: the CA is written to caDir, and a client that does not trust it is refused", async () => {
    expect(azure.caPath).toBe(path.join(azure.caDir, "local-ca.pem"));
    expect(await readFile(azure.caPath, "utf8")).toBe(azure.caCertPem);
    expect(azure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const untrusting = new SecretClient(azure.url, new StaticCredential(), {
      disableChallengeResourceVerification: true,
      retryOptions: { maxRetries: 0 },
    });
    await expect(untrusting.getSecret("anything")).rejects.toThrow(/certificate/i);
  });

  it("also answers on plain HTTP, with ids naming the plain URL", async () => {
    const name = fresh();
    const res = await raw(azure, "PUT", `/secrets/${name}`, { body: { value: "over-http" }, plain: true });
    expect(res.status).toBe(200);
    expect(res.body.id.startsWith(`${azure.httpUrl}/secrets/${name}/`)).toBe(true);
    expect((await raw(azure, "GET", `/secrets/${name}`)).body.value).toBe("over-http");
  });

  it("requires a supported api-version", async () => {
    expect((await raw(azure, "GET", "/secrets?maxresults=1")).status).toBe(400);
    expect((await raw(azure, "GET", "/secrets?api-version=1999-01-01")).status).toBe(400);
    expect((await raw(azure, "GET", "/secrets?api-version=7.3")).status).toBe(200);
    expect((await raw(azure, "GET", "/secrets?api-version=2025-07-01")).status).toBe(200);
  });
});

describe("local Azure Key Vault: secrets and versions", () => {
  it("sets a secret and returns a SecretBundle with a 32-hex version id and epoch-second attributes", async () => {
    const name = fresh();
    const before = Math.floor(Date.now() / 1000);
    const res = await raw(azure, "PUT", `/secrets/${name}`, {
      body: {
        value: "v1",
        contentType: "text/plain",
        tags: { team: "a" },
        attributes: { enabled: true, exp: before + 3600 },
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.id).toMatch(new RegExp(`^${azure.url}/secrets/${name}/[0-9a-f]{32}$`));
    expect(res.body).toMatchObject({ value: "v1", contentType: "text/plain", tags: { team: "a" } });
    const a = res.body.attributes;
    expect(a).toMatchObject({ enabled: true, exp: before + 3600, recoveryLevel: "Recoverable+Purgeable" });
    expect(a.recoverableDays).toBe(90);
    expect(Number.isInteger(a.created) && a.created >= before && a.created <= before + 5).toBe(true);
    expect(a.updated).toBe(a.created);
  });

  it("creates a new version on every set and reads the latest or a given version", async () => {
    const client = sdkClient(azure);
    const name = fresh();
    const first = await client.setSecret(name, "one");
    const second = await client.setSecret(name, "two");
    expect(second.properties.version).not.toBe(first.properties.version);
    expect((await client.getSecret(name)).value).toBe("two");
    expect((await client.getSecret(name, { version: first.properties.version! })).value).toBe("one");
    const versions = [];
    for await (const v of client.listPropertiesOfSecretVersions(name)) versions.push(v.version);
    expect(versions.sort()).toEqual([first.properties.version, second.properties.version].sort());
    const missing = await raw(azure, "GET", `/secrets/${name}/${"0".repeat(32)}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("SecretNotFound");
  });

  it("treats names case-insensitively and keeps the casing of creation", async () => {
    const name = `Mixed${fresh()}`;
    await raw(azure, "PUT", `/secrets/${name}`, { body: { value: "first" } });
    const again = await raw(azure, "PUT", `/secrets/${name.toLowerCase()}`, { body: { value: "second" } });
    expect(again.body.id).toContain(`/secrets/${name}/`);
    expect((await raw(azure, "GET", `/secrets/${name.toUpperCase()}`)).body.value).toBe("second");
  });

  it("updates a version's tags, contentType and attributes without changing its value", async () => {
    const client = sdkClient(azure);
    const name = fresh();
    const set = await client.setSecret(name, "keep-me", { tags: { a: "1" } });
    const updated = await client.updateSecretProperties(name, set.properties.version!, {
      tags: { b: "2" },
      contentType: "application/json",
    });
    expect(updated.tags).toEqual({ b: "2" });
    expect(updated.contentType).toBe("application/json");
    const got = await client.getSecret(name);
    expect(got.value).toBe("keep-me");
    expect(got.properties.tags).toEqual({ b: "2" });
    // An empty version segment addresses the current version, as the SDKs send it.
    const patched = await raw(azure, "PATCH", `/secrets/${name}/`, {
      body: { attributes: { enabled: false } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.value).toBeUndefined();
    const disabled = await raw(azure, "GET", `/secrets/${name}`);
    expect(disabled.status).toBe(403);
    expect(disabled.body.error.innererror.code).toBe("SecretDisabled");
  });

  it("lists secrets as SecretItems (id without version, tags, no value) in nextLink pages", async () => {
    const stem = fresh("page");
    const names = Array.from({ length: 7 }, (_, i) => `${stem}-${i}`);
    for (const n of names)
      await raw(azure, "PUT", `/secrets/${n}`, { body: { value: `value-${n}`, tags: { n } } });

    const seen: string[] = [];
    let link: string | null = "/secrets?api-version=7.4&maxresults=3";
    let pages = 0;
    while (link) {
      const res = await raw(azure, "GET", link);
      expect(res.status).toBe(200);
      expect(res.body.value.length).toBeLessThanOrEqual(3);
      for (const item of res.body.value) {
        expect(item.value).toBeUndefined();
        expect(item.id).toMatch(new RegExp(`^${azure.url}/secrets/[0-9a-zA-Z-]+$`));
        seen.push(item.id.split("/").at(-1));
      }
      link = res.body.nextLink;
      if (link)
        expect(link).toMatch(
          /^https:\/\/127\.0\.0\.1:\d+\/secrets\?api-version=7\.4&\$skiptoken=[\w-]+&maxresults=3$/,
        );
      pages++;
    }
    expect(seen.filter((n) => n.startsWith(stem))).toEqual(names);
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBe(Math.ceil(seen.length / 3));

    const sdkNames: string[] = [];
    for await (const pageOfItems of sdkClient(azure).listPropertiesOfSecrets().byPage({ maxPageSize: 2 }))
      for (const p of pageOfItems) sdkNames.push(p.name);
    expect(sdkNames).toEqual(seen);

    expect((await raw(azure, "GET", "/secrets?api-version=7.4&maxresults=26")).status).toBe(400);
  });
});

describe("local Azure Key Vault: soft delete", () => {
  it("deletes softly: DeletedSecretBundle with recoveryId and a purge date 90 days out", async () => {
    const name = fresh();
    await raw(azure, "PUT", `/secrets/${name}`, { body: { value: "doomed", tags: { t: "1" } } });
    const res = await raw(azure, "DELETE", `/secrets/${name}`);
    expect(res.status).toBe(200);
    expect(res.body.recoveryId).toBe(`${azure.url}/deletedsecrets/${name}`);
    expect(res.body.scheduledPurgeDate - res.body.deletedDate).toBe(90 * 24 * 3600);
    expect(res.body.value).toBeUndefined();
    expect(res.body.tags).toEqual({ t: "1" });

    expect((await raw(azure, "GET", `/secrets/${name}`)).status).toBe(404);
    expect((await raw(azure, "DELETE", `/secrets/${name}`)).status).toBe(404);
    const deleted = await raw(azure, "GET", `/deletedsecrets/${name}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.value).toBeUndefined();
    const list = await raw(azure, "GET", "/deletedsecrets");
    expect(list.body.value.map((i: { recoveryId: string }) => i.recoveryId)).toContain(res.body.recoveryId);
    const active = await raw(azure, "GET", "/secrets");
    expect(active.body.value.map((i: { id: string }) => i.id)).not.toContain(`${azure.url}/secrets/${name}`);
  });

  it("refuses to reuse a deleted-but-recoverable name with Key Vault's 409", async () => {
    const name = fresh();
    await raw(azure, "PUT", `/secrets/${name}`, { body: { value: "x" } });
    await raw(azure, "DELETE", `/secrets/${name}`);
    const res = await raw(azure, "PUT", `/secrets/${name}`, { body: { value: "y" } });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({
      error: {
        code: "Conflict",
        message: `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
        innererror: { code: "ObjectIsDeletedButRecoverable" },
      },
    });
  });

  it("recovers a deleted secret with all its versions, and purges for good", async () => {
    const client = sdkClient(azure);
    const name = fresh();
    const first = await client.setSecret(name, "old");
    await client.setSecret(name, "new");
    await (await client.beginDeleteSecret(name)).pollUntilDone();
    await (await client.beginRecoverDeletedSecret(name)).pollUntilDone();
    expect((await client.getSecret(name)).value).toBe("new");
    expect((await client.getSecret(name, { version: first.properties.version! })).value).toBe("old");

    await (await client.beginDeleteSecret(name)).pollUntilDone();
    const purge = await raw(azure, "DELETE", `/deletedsecrets/${name}`);
    expect(purge.status).toBe(204);
    expect((await raw(azure, "GET", `/deletedsecrets/${name}`)).body.error.message).toBe(
      `Deleted Secret not found: ${name}`,
    );
    expect((await raw(azure, "POST", `/deletedsecrets/${name}/recover`)).status).toBe(404);
    const reborn = await client.setSecret(name, "fresh start");
    const versions = [];
    for await (const v of client.listPropertiesOfSecretVersions(name)) versions.push(v);
    expect(versions).toHaveLength(1);
    expect(reborn.value).toBe("fresh start");
  });

  it("runs deletion, purge and recovery in the background for transitionMs, with conflicts meanwhile", async () => {
    const slow = await startTestAzure({ transitionMs: 250 });
    try {
      const name = fresh();
      await raw(slow, "PUT", `/secrets/${name}`, { body: { value: "x" } });
      expect((await raw(slow, "DELETE", `/secrets/${name}`)).status).toBe(200);
      // Deleting: not readable, not yet listed as deleted, and every write conflicts.
      expect((await raw(slow, "GET", `/deletedsecrets/${name}`)).status).toBe(404);
      const again = await raw(slow, "DELETE", `/secrets/${name}`);
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({
        message: `Secret ${name} is currently being deleted.`,
        innererror: { code: "ObjectIsBeingDeleted" },
      });
      expect(
        (await raw(slow, "PUT", `/secrets/${name}`, { body: { value: "y" } })).body.error.innererror.code,
      ).toBe("ObjectIsBeingDeleted");
      expect((await raw(slow, "DELETE", `/deletedsecrets/${name}`)).status).toBe(409);

      // The SDK's poller waits the deletion out.
      const client = sdkClient(slow);
      const other = fresh();
      await client.setSecret(other, "z");
      const started = Date.now();
      await (await client.beginDeleteSecret(other, { intervalInMs: 50 })).pollUntilDone();
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      expect((await raw(slow, "GET", `/deletedsecrets/${name}`)).status).toBe(200);

      // Purging: the name cannot be re-created until the purge has finished.
      expect((await raw(slow, "DELETE", `/deletedsecrets/${name}`)).status).toBe(204);
      const early = await raw(slow, "PUT", `/secrets/${name}`, { body: { value: "y" } });
      expect(early.status).toBe(409);
      expect(early.body.error.message).toContain("cannot be re-created; retry later");
      await new Promise((r) => setTimeout(r, 300));
      expect((await raw(slow, "PUT", `/secrets/${name}`, { body: { value: "y" } })).status).toBe(200);

      // Recovering: readable again only when recovery has finished.
      expect((await raw(slow, "POST", `/deletedsecrets/${other}/recover`)).status).toBe(200);
      expect((await raw(slow, "GET", `/secrets/${other}`)).status).toBe(404);
      await new Promise((r) => setTimeout(r, 300));
      expect((await raw(slow, "GET", `/secrets/${other}`)).body.value).toBe("z");
    } finally {
      await slow.stop();
    }
  });
});

describe("local Azure Key Vault: limits", () => {
  it("accepts names of [0-9a-zA-Z-] up to 127 characters and rejects others with the service's wording", async () => {
    expect((await raw(azure, "PUT", `/secrets/${"n".repeat(127)}`, { body: { value: "x" } })).status).toBe(
      200,
    );
    const long = await raw(azure, "PUT", `/secrets/${"n".repeat(128)}`, { body: { value: "x" } });
    expect(long.status).toBe(400);
    const underscore = await raw(azure, "PUT", "/secrets/bad_name", { body: { value: "x" } });
    expect(underscore.status).toBe(400);
    expect(underscore.body.error).toEqual({
      code: "BadParameter",
      message: "The request URI contains an invalid name: bad_name",
    });
  });

  it("takes values up to 25,600 bytes", async () => {
    const name = fresh();
    expect(
      (await raw(azure, "PUT", `/secrets/${name}`, { body: { value: "a".repeat(25_600) } })).status,
    ).toBe(200);
    const over = await raw(azure, "PUT", `/secrets/${name}`, { body: { value: "a".repeat(25_601) } });
    expect(over.status).toBe(400);
    expect(over.body.error).toEqual({
      code: "BadParameter",
      message: "Secret is beyond the maximum permitted length of 25600 characters.",
    });
    // Counted in UTF-8 bytes: 12,801 two-byte characters are 25,602 bytes.
    expect(
      (await raw(azure, "PUT", `/secrets/${name}`, { body: { value: "é".repeat(12_801) } })).status,
    ).toBe(400);
  });

  it("takes up to 15 tags of 512 characters, and a contentType of 255", async () => {
    const tags = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, "v"]));
    const put = (body: object) => raw(azure, "PUT", `/secrets/${fresh()}`, { body: { value: "x", ...body } });
    expect((await put({ tags: tags(15) })).status).toBe(200);
    const sixteen = await put({ tags: tags(16) });
    expect(sixteen.status).toBe(400);
    expect(sixteen.body.error).toEqual({ code: "BadParameter", message: "Property has invalid value" });
    expect((await put({ tags: { k: "v".repeat(512) } })).status).toBe(200);
    expect((await put({ tags: { k: "v".repeat(513) } })).status).toBe(400);
    expect((await put({ tags: { ["k".repeat(513)]: "v" } })).status).toBe(400);
    expect((await put({ contentType: "c".repeat(255) })).status).toBe(200);
    expect((await put({ contentType: "c".repeat(256) })).status).toBe(400);
  });
});

describe("local Azure Key Vault: faults", () => {
  it("throttles with 429 and Retry-After for the chosen operation, the chosen number of times", async () => {
    const name = fresh();
    await raw(azure, "PUT", `/secrets/${name}`, { body: { value: "x" } });
    azure.faults.inject({ operation: "GetSecret", status: 429, retryAfterSeconds: 7, times: 2 });
    const before = azure.requests.get("GetSecret");
    for (let i = 0; i < 2; i++) {
      const res = await raw(azure, "GET", `/secrets/${name}`);
      expect(res.status).toBe(429);
      expect(res.headers["retry-after"]).toBe("7");
      expect(res.body.error.code).toBe("Throttled");
    }
    expect((await raw(azure, "PUT", `/secrets/${name}`, { body: { value: "y" } })).status).toBe(200);
    expect((await raw(azure, "GET", `/secrets/${name}`)).status).toBe(200);
    expect(azure.requests.get("GetSecret")).toBe(before + 3);
  });

  it("sends Retry-After: 1 on 429 when none was chosen, and none on 5xx", async () => {
    azure.faults.inject({ status: 429, times: 1 });
    expect((await raw(azure, "GET", "/secrets")).headers["retry-after"]).toBe("1");
    azure.faults.inject({ status: 503, times: 1 });
    const res = await raw(azure, "GET", "/secrets");
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("ServiceUnavailable");
    expect(res.headers["retry-after"]).toBeUndefined();
  });

  it("adds latency to every response", async () => {
    azure.faults.latencyMs = 150;
    const started = Date.now();
    await raw(azure, "GET", "/secrets");
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});
