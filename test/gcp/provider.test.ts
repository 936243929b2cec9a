import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type LocalGcp, startLocalGcp } from "../../infra/local/gcp/server.ts";
import { ProviderError } from "../../shared/errors/index.ts";
import { createGcpSecretManagerProvider } from "../../shared/providers/gcp-secret-manager/index.ts";
import type {
  PushMetadata,
  PushRequest,
  RemoteSecretState,
  SecretStoreProvider,
} from "../../shared/providers/types.ts";
import { api, payload, seed } from "./helpers.ts";
import { rejection as rejectionOf } from "../support/rejection.ts";

const NUMBER = "123456789012";
let gcp: LocalGcp;
let provider: SecretStoreProvider;

beforeAll(async () => {
  gcp = await startLocalGcp({ port: 0, projectNumber: NUMBER });
  provider = createGcpSecretManagerProvider({
    storeName: "team/gcp",
    projectId: "proj",
    emulatorHost: gcp.host,
  });
});
afterEach(() => {
  gcp.faults.clear();
});
afterAll(async () => {
  await provider.close?.();
  await gcp.close();
});

function request(
  key: string,
  value: string | Buffer,
  opts: { fingerprint?: string; current?: RemoteSecretState; metadata?: PushMetadata } = {},
): PushRequest {
  return {
    key,
    value: Buffer.isBuffer(value) ? value : Buffer.from(value),
    metadata: opts.metadata ?? {},
    marker: { vaultPath: "kv/app/db", vaultVersion: 3, fingerprint: opts.fingerprint ?? "f".repeat(64) },
    idempotencyToken: "t".repeat(32),
    ...(opts.current ? { current: opts.current } : {}),
  };
}

/** Pushes the way the engine does: describe first, then push with what it saw. */
async function pushLikeEngine(
  p: SecretStoreProvider,
  key: string,
  value: string,
  fingerprint = "a".repeat(64),
) {
  const current = await p.describe(key);
  return p.push(request(key, value, { fingerprint, ...(current ? { current } : {}) }));
}

async function versionStates(id: string): Promise<Record<string, string>> {
  const res = await api(gcp, "GET", `/v1/projects/proj/secrets/${id}/versions`);
  return Object.fromEntries(
    (res.json.versions as { name: string; state: string }[]).map((v) => [v.name.split("/").pop()!, v.state]),
  );
}

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, ProviderError);

describe("GCP provider: push", () => {
  it("creates a secret with labels, annotations and the first version, in three calls", async () => {
    provider.calls.reset();
    gcp.requests.reset();
    const result = await provider.push(
      request("/prod/lambda/db-password", "s3cret-1", {
        metadata: { labels: { env: "prod" }, annotations: { owner: "payments" } },
      }),
    );
    expect(result).toEqual({ action: "created", versionId: "1" });
    expect(provider.calls.snapshot()).toEqual({ AddSecretVersion: 1, CreateSecret: 1, UpdateSecret: 1 });
    expect(gcp.requests.snapshot()).toEqual(provider.calls.snapshot());

    const secret = (await api(gcp, "GET", "/v1/projects/proj/secrets/__prod__lambda__db-password")).json;
    expect(secret.labels).toEqual({ env: "prod", "managed-by": "pushsync" });
    expect(secret.annotations).toEqual({
      owner: "payments",
      "pushsync-fingerprint": "f".repeat(64),
      "pushsync-vault-path": "kv/app/db",
      "pushsync-vault-version": "3",
      "pushsync-secret-version": "1",
      "pushsync-versions": "1",
    });
    expect(secret.replication).toEqual({ automatic: {} });
    const version = (
      await api(gcp, "GET", "/v1/projects/proj/secrets/__prod__lambda__db-password/versions/1")
    ).json;
    expect(version.clientSpecifiedPayloadChecksum).toBe(true);
    expect(await provider.getSecret({ key: "/prod/lambda/db-password" })).toEqual(Buffer.from("s3cret-1"));
  });

  it("updates an existing secret with GetSecret, AddSecretVersion and UpdateSecret", async () => {
    await pushLikeEngine(provider, "upd-1", "v1");
    provider.calls.reset();
    const current = await provider.describe("upd-1");
    expect(current).toMatchObject({
      key: "upd-1",
      name: "upd-1",
      managedBy: "pushsync",
      currentIsMarked: true,
    });
    const result = await provider.push(
      request("upd-1", "v2", { fingerprint: "b".repeat(64), current: current! }),
    );
    expect(result).toEqual({ action: "updated", versionId: "2" });
    expect(provider.calls.snapshot()).toEqual({
      AddSecretVersion: 1,
      GetSecret: 2,
      GetSecretVersion: 1,
      UpdateSecret: 1,
    });
    expect(await provider.getSecret({ key: "upd-1" })).toEqual(Buffer.from("v2"));
    expect((await provider.describe("upd-1"))?.marker?.fingerprint).toBe("b".repeat(64));
  });

  it("tells from the annotations that the current value is unchanged, until someone adds a version", async () => {
    await pushLikeEngine(provider, "mark-1", "v1", "c".repeat(64));
    const described = await provider.describe("mark-1");
    expect(described).toMatchObject({
      marker: { fingerprint: "c".repeat(64), vaultPath: "kv/app/db", vaultVersion: 3 },
      currentIsMarked: true,
    });

    await api(gcp, "POST", "/v1/projects/proj/secrets/mark-1:addVersion", payload("edited by hand"));
    expect((await provider.describe("mark-1"))?.currentIsMarked).toBe(false);
    // A list sees annotations only: the version added by hand does not show there (see index.ts).
    const listed = await collect(provider.listManaged());
    expect(listed.find((s) => s.key === "mark-1")?.currentIsMarked).toBe(true);

    await api(gcp, "POST", "/v1/projects/proj/secrets/mark-1/versions/2:disable", {});
    await api(gcp, "POST", "/v1/projects/proj/secrets/mark-1:addVersion", payload("x"));
    await api(gcp, "POST", "/v1/projects/proj/secrets/mark-1/versions/3:destroy", {});
    expect((await provider.describe("mark-1"))?.currentIsMarked).toBe(false);
  });

  it("keeps versionRetention of its own versions, destroys older ones and leaves others' alone", async () => {
    await pushLikeEngine(provider, "ret-1", "v1");
    await api(gcp, "POST", "/v1/projects/proj/secrets/ret-1:addVersion", payload("not ours"));
    provider.calls.reset();
    for (let i = 3; i <= 6; i++) await pushLikeEngine(provider, "ret-1", `v${i}`);
    expect(await versionStates("ret-1")).toEqual({
      "1": "DESTROYED",
      "2": "ENABLED",
      "3": "DESTROYED",
      "4": "DESTROYED",
      "5": "ENABLED",
      "6": "ENABLED",
    });
    expect(provider.calls.get("DestroySecretVersion")).toBe(3);
    const secret = (await api(gcp, "GET", "/v1/projects/proj/secrets/ret-1")).json;
    expect(secret.annotations["pushsync-versions"]).toBe("5,6");
    expect(secret.annotations["pushsync-secret-version"]).toBe("6");

    const keep3 = createGcpSecretManagerProvider({
      storeName: "keep3",
      projectId: "proj",
      emulatorHost: gcp.host,
      versionRetention: 3,
    });
    for (let i = 1; i <= 5; i++) await pushLikeEngine(keep3, "ret-3", `v${i}`);
    expect(Object.values(await versionStates("ret-3")).filter((s) => s === "ENABLED")).toHaveLength(3);
    await keep3.close?.();
  });

  it("refuses a versionRetention below 2", () => {
    expect(() =>
      createGcpSecretManagerProvider({
        storeName: "s",
        projectId: "p",
        emulatorHost: gcp.host,
        versionRetention: 1,
      }),
    ).toThrow(/versionRetention/);
  });

  it("sets user-managed replication and CMEK when creating", async () => {
    await provider.push(
      request("repl-1", "v", {
        metadata: {
          replicationLocations: ["us-east1", "us-west1"],
          cmekKeyName: "projects/k/keyRings/r/cryptoKeys/c",
        },
      }),
    );
    const secret = (await api(gcp, "GET", "/v1/projects/proj/secrets/repl-1")).json;
    const cmek = { customerManagedEncryption: { kmsKeyName: "projects/k/keyRings/r/cryptoKeys/c" } };
    expect(secret.replication).toEqual({
      userManaged: {
        replicas: [
          { location: "us-east1", ...cmek },
          { location: "us-west1", ...cmek },
        ],
      },
    });
  });

  it("never leaves annotations naming a version that does not exist when a step fails", async () => {
    // Creation succeeds, AddSecretVersion fails: a marked-less secret pushsync owns.
    gcp.faults.inject({ operation: "AddSecretVersion", status: 503, times: 1 });
    const first = await rejection(provider.push(request("crash-1", "v1")));
    expect(first).toMatchObject({ code: "Unavailable", retryable: true });
    const half = await provider.describe("crash-1");
    expect(half).toMatchObject({ managedBy: "pushsync", currentIsMarked: false });
    expect(half?.marker).toBeUndefined();

    await pushLikeEngine(provider, "crash-1", "v1", "1".repeat(64));
    // The version is added, UpdateSecret fails: the annotations still describe the previous push.
    gcp.faults.inject({ operation: "UpdateSecret", status: 503, times: 1 });
    const current = await provider.describe("crash-1");
    await rejection(
      provider.push(request("crash-1", "v2", { fingerprint: "2".repeat(64), current: current! })),
    );
    const after = await provider.describe("crash-1");
    expect(after).toMatchObject({ marker: { fingerprint: "1".repeat(64) }, currentIsMarked: false });

    const retried = await pushLikeEngine(provider, "crash-1", "v2", "2".repeat(64));
    expect(retried).toEqual({ action: "updated", versionId: "3" });
    expect(await provider.describe("crash-1")).toMatchObject({
      marker: { fingerprint: "2".repeat(64) },
      currentIsMarked: true,
    });
  });

  it("reports a concurrent change of the secret as a retryable Conflict", async () => {
    await pushLikeEngine(provider, "race-1", "v1");
    const current = (await provider.describe("race-1"))!;
    const results = await Promise.allSettled([
      provider.push(request("race-1", "a", { current })),
      provider.push(request("race-1", "b", { current })),
    ]);
    const failed = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toMatchObject({ code: "Conflict", retryable: true });
  });

  it("does not take over a secret it does not own", async () => {
    await seed(gcp, "foreign-1", ["theirs"]);
    const err = await rejection(provider.push(request("foreign-1", "ours")));
    expect(err.code).toBe("NotOwned");
    expect(await versionStates("foreign-1")).toEqual({ "1": "ENABLED" });

    await seed(gcp, "eso-1", ["pushed by eso"], { "managed-by": "external-secrets" });
    const eso = (await provider.describe("eso-1"))!;
    expect(eso).toMatchObject({ managedBy: "external-secrets", currentIsMarked: false });
    expect(eso.marker).toBeUndefined();
    await provider.push(request("eso-1", "adopted", { current: eso }));
    expect((await provider.describe("eso-1"))?.managedBy).toBe("pushsync");
  });

  it("refuses oversize values and unmappable keys before any call, without the value in the message", async () => {
    provider.calls.reset();
    const canary = "canary-value-7f3e";
    const big = Buffer.concat([Buffer.from(canary), Buffer.alloc(64 * 1024 - canary.length + 1, 120)]);
    const tooLarge = await rejection(provider.push(request("big-1", big)));
    expect(tooLarge.code).toBe("TooLarge");
    expect(tooLarge.message).toContain("65537");
    expect(tooLarge.message).toContain("65536");
    expect(tooLarge.message).not.toContain(canary);

    const badKey = await rejection(provider.push(request("a__b", canary)));
    expect(badKey.code).toBe("InvalidName");
    expect(badKey.message).toContain("'__' is reserved");
    expect(provider.calls.total()).toBe(0);

    const reservedLabel = await rejection(
      provider.push(request("lbl-1", canary, { metadata: { labels: { "managed-by": "me" } } })),
    );
    expect(reservedLabel.code).toBe("Invalid");

    await provider.push(request("max-1", Buffer.alloc(64 * 1024, 121)));
    expect((await provider.getSecret({ key: "max-1" })).length).toBe(64 * 1024);
  });

  it("maps distinct keys to distinct secrets", async () => {
    expect(provider.mapKey("/team/db")).toBe("__team__db");
    expect(provider.mapKey("team/db")).toBe("team__db");
    await provider.push(request("/team/db", "with slash"));
    await provider.push(request("team/db", "without"));
    expect(await provider.getSecret({ key: "/team/db" })).toEqual(Buffer.from("with slash"));
    expect(await provider.getSecret({ key: "team/db" })).toEqual(Buffer.from("without"));
  });
});

describe("GCP provider: errors and retries", () => {
  it("maps throttling to a retryable Throttled with Retry-After, without SDK retries", async () => {
    await pushLikeEngine(provider, "thr-1", "v1");
    gcp.requests.reset();
    gcp.faults.inject({ operation: "AccessSecretVersion", status: 429, times: 1, retryAfterSeconds: 3 });
    const err = await rejection(provider.getSecret({ key: "thr-1" }));
    expect(err).toMatchObject({ code: "Throttled", retryable: true, retryAfterMs: 3000 });
    expect(err.message).toContain("RESOURCE_EXHAUSTED");
    expect(gcp.requests.get("AccessSecretVersion")).toBe(1);

    gcp.faults.inject({ operation: "AddSecretVersion", status: 429, times: 1 });
    const current = await provider.describe("thr-1");
    expect(await rejection(provider.push(request("thr-1", "v2", { current: current! })))).toMatchObject({
      code: "Throttled",
      retryable: true,
    });
    expect(gcp.requests.get("AddSecretVersion")).toBe(1);
  });

  it.each([
    [500, "Unavailable", true],
    [503, "Unavailable", true],
    [504, "Timeout", true],
    [403, "PermissionDenied", false],
    [400, "Invalid", false],
  ])("maps HTTP %i to %s (retryable %s)", async (status, code, retryable) => {
    gcp.faults.inject({ operation: "GetSecret", status, times: 1 });
    expect(await rejection(provider.secretExists("anything"))).toMatchObject({ code, retryable });
  });

  it("reports a server that is not there as retryable Unavailable", async () => {
    const down = await startLocalGcp({ port: 0 });
    const host = down.host;
    await down.close();
    const p = createGcpSecretManagerProvider({ storeName: "down", projectId: "p", emulatorHost: host });
    expect(await rejection(p.secretExists("x"))).toMatchObject({ code: "Unavailable", retryable: true });
    await p.close?.();
  });
});

describe("GCP provider: listManaged and delete", () => {
  it("lists pushsync's and ESO's secrets over several pages, with keys read back from ids", async () => {
    const local = await startLocalGcp({ port: 0, maxPageSize: 2 });
    const p = createGcpSecretManagerProvider({
      storeName: "paged",
      projectId: "proj",
      emulatorHost: local.host,
    });
    try {
      for (const key of ["/prod/a", "/prod/b", "/prod/c", "plain"]) {
        await p.push(request(key, "v", { metadata: { labels: { env: "prod" } } }));
      }
      await seed(local, "eso-owned", ["v"], { "managed-by": "external-secrets", team: "x" });
      await seed(local, "unmanaged", ["v"]);
      p.calls.reset();
      const states = await collect(p.listManaged());
      expect(p.calls.snapshot()).toEqual({ ListSecrets: 3 });
      expect(states.map((s) => s.key).sort()).toEqual([
        "/prod/a",
        "/prod/b",
        "/prod/c",
        "eso-owned",
        "plain",
      ]);
      expect(states.find((s) => s.key === "/prod/a")).toEqual({
        key: "/prod/a",
        name: "__prod__a",
        managedBy: "pushsync",
        marker: { vaultPath: "kv/app/db", vaultVersion: 3, fingerprint: "f".repeat(64) },
        currentIsMarked: true,
        pendingDeletion: false,
        tags: { env: "prod" },
      });
      expect(states.find((s) => s.key === "eso-owned")).toEqual({
        key: "eso-owned",
        name: "eso-owned",
        managedBy: "external-secrets",
        currentIsMarked: false,
        pendingDeletion: false,
        tags: { team: "x" },
      });
    } finally {
      await p.close?.();
      await local.close();
    }
  });

  it("deletes its secret with the etag, ignores absent ones and refuses unmarked ones", async () => {
    await pushLikeEngine(provider, "del-1", "v");
    provider.calls.reset();
    await provider.delete("del-1");
    expect(provider.calls.snapshot()).toEqual({ DeleteSecret: 1, GetSecret: 1 });
    expect(await provider.secretExists("del-1")).toBe(false);
    await provider.delete("del-1");

    await seed(gcp, "del-foreign", ["v"]);
    expect((await rejection(provider.delete("del-foreign"))).code).toBe("NotOwned");
    expect(await provider.secretExists("del-foreign")).toBe(true);
  });
});

describe("GCP provider: read side", () => {
  beforeAll(async () => {
    await provider.push(
      request("/app/config", JSON.stringify({ user: "svc", db: { port: 5432 }, "a.b": "dotted" })),
    );
    await provider.push(request("/app/plain", "not json", { metadata: { labels: { tier: "gold" } } }));
    await provider.push(request("/other/x", "x", { metadata: { labels: { tier: "gold" } } }));
    await seed(gcp, "by-hand", ["v1", "v2"], { tier: "gold" });
  });

  it("reads the latest value, a version and JSON properties", async () => {
    expect(await provider.getSecret({ key: "by-hand" })).toEqual(Buffer.from("v2"));
    expect(await provider.getSecret({ key: "by-hand", version: "1" })).toEqual(Buffer.from("v1"));
    expect(await provider.getSecret({ key: "/app/config", property: "user" })).toEqual(Buffer.from("svc"));
    expect(await provider.getSecret({ key: "/app/config", property: "db" })).toEqual(
      Buffer.from('{"port":5432}'),
    );
    expect(await provider.getSecret({ key: "/app/config", property: "db.port" })).toEqual(
      Buffer.from("5432"),
    );
    expect(await provider.getSecret({ key: "/app/config", property: "a.b" })).toEqual(Buffer.from("dotted"));
    expect((await rejection(provider.getSecret({ key: "/app/config", property: "nope" }))).code).toBe(
      "NotFound",
    );
    expect((await rejection(provider.getSecret({ key: "/app/plain", property: "user" }))).code).toBe(
      "Invalid",
    );
    expect((await rejection(provider.getSecret({ key: "missing" }))).code).toBe("NotFound");
  });

  it("treats a disabled version as not found", async () => {
    await api(gcp, "POST", "/v1/projects/proj/secrets/by-hand/versions/1:disable", {});
    const err = await rejection(provider.getSecret({ key: "by-hand", version: "1" }));
    expect(err.code).toBe("NotFound");
    expect(err.message).toContain("disabled or destroyed");
    await api(gcp, "POST", "/v1/projects/proj/secrets/by-hand/versions/1:enable", {});
  });

  it("reads several secrets, leaving absent ones out", async () => {
    provider.calls.reset();
    const values = await provider.getSecrets(["/app/plain", "missing-1", "by-hand"]);
    expect([...values.entries()]).toEqual([
      ["/app/plain", Buffer.from("not json")],
      ["by-hand", Buffer.from("v2")],
    ]);
    expect(provider.calls.snapshot()).toEqual({ AccessSecretVersion: 3 });
  });

  it("finds secrets by labels, path and name pattern", async () => {
    const byLabel = await provider.findSecrets({ tags: { tier: "gold" } });
    expect([...byLabel.keys()].sort()).toEqual(["/app/plain", "/other/x", "by-hand"]);
    const byPath = await provider.findSecrets({ path: "/app/" });
    expect([...byPath.keys()].sort()).toEqual(["/app/config", "/app/plain"]);
    const byBoth = await provider.findSecrets({ tags: { tier: "gold" }, nameRegexp: "^/(app|other)/" });
    expect([...byBoth.keys()].sort()).toEqual(["/app/plain", "/other/x"]);
    expect(byBoth.get("/other/x")).toEqual(Buffer.from("x"));
  });

  it("says whether a secret exists", async () => {
    expect(await provider.secretExists("/app/config")).toBe(true);
    expect(await provider.secretExists("/app/none")).toBe(false);
  });

  it("works on regional secrets and through SECRETMANAGER_EMULATOR_HOST", async () => {
    const saved = process.env.SECRETMANAGER_EMULATOR_HOST;
    process.env.SECRETMANAGER_EMULATOR_HOST = gcp.host;
    const regional = createGcpSecretManagerProvider({
      storeName: "eu",
      projectId: "proj",
      location: "europe-west1",
    });
    try {
      expect(await regional.push(request("/eu/key", "regional"))).toEqual({
        action: "created",
        versionId: "1",
      });
      expect(await regional.getSecret({ key: "/eu/key" })).toEqual(Buffer.from("regional"));
      const secret = (await api(gcp, "GET", "/v1/projects/proj/locations/europe-west1/secrets/__eu__key"))
        .json;
      expect(secret.labels["managed-by"]).toBe("pushsync");
      expect(await provider.secretExists("/eu/key")).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.SECRETMANAGER_EMULATOR_HOST;
      else process.env.SECRETMANAGER_EMULATOR_HOST = saved;
      await regional.close?.();
    }
  });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
