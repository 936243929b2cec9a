import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalGcp, startLocalGcp } from "../../infra/local/gcp/server.ts";
import { api, payload, seed } from "./helpers.ts";

const NUMBER = "123456789012";
const RFC3339_NANOS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;

let gcp: LocalGcp;
beforeAll(async () => {
  gcp = await startLocalGcp({ port: 0, projectNumber: NUMBER });
});
afterAll(async () => {
  await gcp.close();
});

describe("local GCP: secrets", () => {
  it("creates a secret named with the project number, with labels, annotations and a quoted etag", async () => {
    const res = await api(gcp, "POST", "/v1/projects/my-project/secrets?secretId=create-1", {
      replication: { userManaged: { replicas: [{ location: "us-east1" }, { location: "europe-west1" }] } },
      labels: { env: "prod" },
      annotations: { "owner.team": "payments" },
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      name: `projects/${NUMBER}/secrets/create-1`,
      labels: { env: "prod" },
      annotations: { "owner.team": "payments" },
      replication: { userManaged: { replicas: [{ location: "us-east1" }, { location: "europe-west1" }] } },
    });
    expect(res.json.createTime).toMatch(RFC3339_NANOS);
    expect(res.json.etag).toMatch(/^"[0-9a-f]+"$/);

    const got = await api(gcp, "GET", `/v1/projects/${NUMBER}/secrets/create-1`);
    expect(got.json).toEqual(res.json);
  });

  it("answers a second create with ALREADY_EXISTS (409) in Google's error body", async () => {
    await seed(gcp, "dup-1");
    const res = await api(gcp, "POST", "/v1/projects/proj/secrets?secretId=dup-1", {
      replication: { automatic: {} },
    });
    expect(res.status).toBe(409);
    expect(res.json).toEqual({
      error: {
        code: 409,
        message: `Secret [projects/${NUMBER}/secrets/dup-1] already exists.`,
        status: "ALREADY_EXISTS",
      },
    });
  });

  it.each([
    ["an invalid id", "bad.id", { replication: { automatic: {} } }],
    ["an id over 255 characters", "x".repeat(256), { replication: { automatic: {} } }],
    ["no replication", "norepl", {}],
    ["both replication kinds", "both", { replication: { automatic: {}, userManaged: { replicas: [] } } }],
    ["an uppercase label key", "lbl1", { replication: { automatic: {} }, labels: { Env: "x" } }],
    ["a label value with a dot", "lbl2", { replication: { automatic: {} }, labels: { env: "a.b" } }],
    [
      "65 labels",
      "lbl3",
      {
        replication: { automatic: {} },
        labels: Object.fromEntries([...Array(65).keys()].map((i) => [`k${i}`, "v"])),
      },
    ],
    [
      "an annotation key ending in a dash",
      "ann1",
      { replication: { automatic: {} }, annotations: { "bad-": "v" } },
    ],
    [
      "16 KiB of annotations",
      "ann2",
      { replication: { automatic: {} }, annotations: { big: "x".repeat(16 * 1024) } },
    ],
    ["an unknown field", "unk", { replication: { automatic: {} }, colour: "blue" }],
  ])("rejects %s with INVALID_ARGUMENT (400)", async (_what, id, body) => {
    const res = await api(gcp, "POST", `/v1/projects/proj/secrets?secretId=${id}`, body);
    expect(res.status).toBe(400);
    expect(res.json.error.status).toBe("INVALID_ARGUMENT");
    const got = await api(gcp, "GET", `/v1/projects/proj/secrets/${id}`);
    expect(got.status).toBe(404);
  });

  it("accepts 64 labels and annotations just under 16 KiB", async () => {
    const labels = Object.fromEntries([...Array(64).keys()].map((i) => [`k${i}`, "v"]));
    const res = await api(gcp, "POST", "/v1/projects/proj/secrets?secretId=limits-ok", {
      replication: { automatic: {} },
      labels,
      annotations: { big: "x".repeat(16 * 1024 - 4) },
    });
    expect(res.status).toBe(200);
  });

  it("answers NOT_FOUND (404) for a missing secret", async () => {
    const res = await api(gcp, "GET", "/v1/projects/proj/secrets/missing-1");
    expect(res.status).toBe(404);
    expect(res.json.error).toEqual({
      code: 404,
      message: `Secret [projects/${NUMBER}/secrets/missing-1] not found.`,
      status: "NOT_FOUND",
    });
  });

  it("updates only the fields in updateMask, checks the etag and changes it", async () => {
    await seed(gcp, "patch-1", [], { keep: "me", drop: "me" });
    const before = (await api(gcp, "GET", "/v1/projects/proj/secrets/patch-1")).json;
    const stale = await api(gcp, "PATCH", "/v1/projects/proj/secrets/patch-1?updateMask=annotations", {
      annotations: { a: "1" },
      etag: '"0"',
    });
    expect(stale.status).toBe(400);
    expect(stale.json.error.status).toBe("FAILED_PRECONDITION");

    const res = await api(gcp, "PATCH", "/v1/projects/proj/secrets/patch-1?updateMask=annotations", {
      labels: { ignored: "yes" },
      annotations: { a: "1" },
      etag: before.etag,
    });
    expect(res.status).toBe(200);
    expect(res.json.labels).toEqual({ keep: "me", drop: "me" });
    expect(res.json.annotations).toEqual({ a: "1" });
    expect(res.json.etag).not.toBe(before.etag);

    const both = await api(gcp, "PATCH", "/v1/projects/proj/secrets/patch-1?updateMask=labels,annotations", {
      labels: { keep: "me" },
    });
    expect(both.json.labels).toEqual({ keep: "me" });
    expect(both.json.annotations).toBeUndefined();
  });

  it("rejects an update without a mask or of an immutable field", async () => {
    await seed(gcp, "patch-2");
    const none = await api(gcp, "PATCH", "/v1/projects/proj/secrets/patch-2", { labels: {} });
    expect(none.status).toBe(400);
    const repl = await api(gcp, "PATCH", "/v1/projects/proj/secrets/patch-2?updateMask=replication", {
      replication: { automatic: {} },
    });
    expect(repl.status).toBe(400);
    expect(repl.json.error.message).toContain("replication");
  });

  it("deletes with an etag check; the secret and its versions are gone", async () => {
    await seed(gcp, "del-1", ["v1"]);
    const { etag } = (await api(gcp, "GET", "/v1/projects/proj/secrets/del-1")).json;
    const wrong = await api(
      gcp,
      "DELETE",
      `/v1/projects/proj/secrets/del-1?etag=${encodeURIComponent('"1"')}`,
    );
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.status).toBe("FAILED_PRECONDITION");
    const ok = await api(gcp, "DELETE", `/v1/projects/proj/secrets/del-1?etag=${encodeURIComponent(etag)}`);
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({});
    expect((await api(gcp, "GET", "/v1/projects/proj/secrets/del-1/versions/1")).status).toBe(404);
    expect((await api(gcp, "DELETE", "/v1/projects/proj/secrets/del-1")).status).toBe(404);
  });
});

describe("local GCP: versions", () => {
  it("adds versions with a CRC32C check and serves them, latest included", async () => {
    await seed(gcp, "ver-1");
    const v1 = await api(gcp, "POST", "/v1/projects/proj/secrets/ver-1:addVersion", payload("first"));
    expect(v1.status).toBe(200);
    expect(v1.json).toMatchObject({
      name: `projects/${NUMBER}/secrets/ver-1/versions/1`,
      state: "ENABLED",
      clientSpecifiedPayloadChecksum: true,
      replicationStatus: { automatic: {} },
    });
    await api(gcp, "POST", "/v1/projects/proj/secrets/ver-1:addVersion", payload("second"));

    const latest = await api(gcp, "GET", "/v1/projects/proj/secrets/ver-1/versions/latest:access");
    expect(latest.status).toBe(200);
    expect(latest.json.name).toBe(`projects/${NUMBER}/secrets/ver-1/versions/2`);
    expect(Buffer.from(latest.json.payload.data, "base64").toString()).toBe("second");
    expect(latest.json.payload.dataCrc32c).toBe(
      (payload("second") as { payload: { dataCrc32c: string } }).payload.dataCrc32c,
    );

    const first = await api(gcp, "GET", "/v1/projects/proj/secrets/ver-1/versions/1:access");
    expect(Buffer.from(first.json.payload.data, "base64").toString()).toBe("first");
  });

  it("rejects a payload whose dataCrc32c does not match, and one over 64 KiB", async () => {
    await seed(gcp, "ver-2");
    const bad = await api(gcp, "POST", "/v1/projects/proj/secrets/ver-2:addVersion", payload("data", 12345));
    expect(bad.status).toBe(400);
    expect(bad.json.error.status).toBe("INVALID_ARGUMENT");
    const big = await api(
      gcp,
      "POST",
      "/v1/projects/proj/secrets/ver-2:addVersion",
      payload("x".repeat(64 * 1024 + 1)),
    );
    expect(big.status).toBe(400);
    expect(big.json.error.message).toContain("64KiB");
    const max = await api(
      gcp,
      "POST",
      "/v1/projects/proj/secrets/ver-2:addVersion",
      payload("x".repeat(64 * 1024)),
    );
    expect(max.status).toBe(200);
    expect(max.json.name).toMatch(/versions\/1$/);
  });

  it("accepts a version without a checksum and says so", async () => {
    await seed(gcp, "ver-3");
    const res = await api(gcp, "POST", "/v1/projects/proj/secrets/ver-3:addVersion", {
      payload: { data: Buffer.from("plain").toString("base64") },
    });
    expect(res.status).toBe(200);
    expect(res.json.clientSpecifiedPayloadChecksum).toBeUndefined();
  });

  it("moves versions through ENABLED, DISABLED and DESTROYED, refusing access when not enabled", async () => {
    await seed(gcp, "state-1", ["a", "b"]);
    const base = "/v1/projects/proj/secrets/state-1/versions";
    const disabled = await api(gcp, "POST", `${base}/1:disable`, {});
    expect(disabled.json.state).toBe("DISABLED");
    const denied = await api(gcp, "GET", `${base}/1:access`);
    expect(denied.status).toBe(400);
    expect(denied.json.error).toMatchObject({
      status: "FAILED_PRECONDITION",
      message: `Secret Version [projects/${NUMBER}/secrets/state-1/versions/1] is in DISABLED state.`,
    });

    const stale = await api(gcp, "POST", `${base}/1:enable`, { etag: '"0"' });
    expect(stale.status).toBe(400);
    const enabled = await api(gcp, "POST", `${base}/1:enable`, { etag: disabled.json.etag });
    expect(enabled.json.state).toBe("ENABLED");
    expect((await api(gcp, "GET", `${base}/1:access`)).status).toBe(200);

    const destroyed = await api(gcp, "POST", `${base}/2:destroy`, {});
    expect(destroyed.json.state).toBe("DESTROYED");
    expect(destroyed.json.destroyTime).toMatch(RFC3339_NANOS);
    expect((await api(gcp, "GET", `${base}/latest:access`)).json.error.message).toContain("DESTROYED");
    // latest is the most recently created version, whatever its state.
    expect((await api(gcp, "GET", `${base}/latest`)).json.name).toMatch(/versions\/2$/);
    expect((await api(gcp, "POST", `${base}/2:enable`, {})).status).toBe(400);
    expect((await api(gcp, "POST", `${base}/2:destroy`, {})).status).toBe(400);
  });

  it("delays destruction when the secret has a versionDestroyTtl", async () => {
    const res = await api(gcp, "POST", "/v1/projects/proj/secrets?secretId=ttl-1", {
      replication: { automatic: {} },
      versionDestroyTtl: "86400s",
    });
    expect(res.json.versionDestroyTtl).toBe("86400s");
    await api(gcp, "POST", "/v1/projects/proj/secrets/ttl-1:addVersion", payload("v"));
    const v = await api(gcp, "POST", "/v1/projects/proj/secrets/ttl-1/versions/1:destroy", {});
    expect(v.json.state).toBe("DISABLED");
    expect(Date.parse(v.json.scheduledDestroyTime)).toBeGreaterThan(Date.now() + 86_000_000);
  });

  it("answers NOT_FOUND for latest on a secret without versions and for a missing version", async () => {
    await seed(gcp, "empty-1");
    const latest = await api(gcp, "GET", "/v1/projects/proj/secrets/empty-1/versions/latest:access");
    expect(latest.status).toBe(404);
    expect(latest.json.error.message).toBe(
      `Secret [projects/${NUMBER}/secrets/empty-1] not found or has no versions.`,
    );
    const seven = await api(gcp, "GET", "/v1/projects/proj/secrets/empty-1/versions/7");
    expect(seven.status).toBe(404);
  });

  it("lists versions newest first, filters by state and pages", async () => {
    await seed(gcp, "list-v", ["1", "2", "3", "4"]);
    await api(gcp, "POST", "/v1/projects/proj/secrets/list-v/versions/2:disable", {});
    const all = await api(gcp, "GET", "/v1/projects/proj/secrets/list-v/versions");
    expect(all.json.versions.map((v: { name: string }) => v.name.split("/").pop())).toEqual([
      "4",
      "3",
      "2",
      "1",
    ]);
    expect(all.json.totalSize).toBe(4);
    const enabled = await api(gcp, "GET", "/v1/projects/proj/secrets/list-v/versions?filter=state%3Aenabled");
    expect(enabled.json.versions.map((v: { name: string }) => v.name.split("/").pop())).toEqual([
      "4",
      "3",
      "1",
    ]);
    const page1 = await api(gcp, "GET", "/v1/projects/proj/secrets/list-v/versions?pageSize=3");
    expect(page1.json.versions).toHaveLength(3);
    const page2 = await api(
      gcp,
      "GET",
      `/v1/projects/proj/secrets/list-v/versions?pageSize=3&pageToken=${page1.json.nextPageToken}`,
    );
    expect(page2.json.versions.map((v: { name: string }) => v.name.split("/").pop())).toEqual(["1"]);
    expect(page2.json.nextPageToken).toBeUndefined();
  });

  it("serves versions by alias set through UpdateSecret", async () => {
    await seed(gcp, "alias-1", ["old", "new"]);
    const res = await api(gcp, "PATCH", "/v1/projects/proj/secrets/alias-1?updateMask=versionAliases", {
      versionAliases: { stable: "1" },
    });
    expect(res.json.versionAliases).toEqual({ stable: "1" });
    const got = await api(gcp, "GET", "/v1/projects/proj/secrets/alias-1/versions/stable:access");
    expect(Buffer.from(got.json.payload.data, "base64").toString()).toBe("old");
    const dangling = await api(gcp, "PATCH", "/v1/projects/proj/secrets/alias-1?updateMask=version_aliases", {
      versionAliases: { nope: "9" },
    });
    expect(dangling.status).toBe(400);
  });

  it("encodes enums as numbers when asked with $alt=json;enum-encoding=int", async () => {
    await seed(gcp, "enum-1", ["x"]);
    const res = await api(
      gcp,
      "GET",
      "/v1/projects/proj/secrets/enum-1/versions/1?$alt=json%3Benum-encoding%3Dint",
    );
    expect(res.json.state).toBe(1);
    const plain = await api(gcp, "GET", "/v1/projects/proj/secrets/enum-1/versions/1?alt=json");
    expect(plain.json.state).toBe("ENABLED");
  });
});

describe("local GCP: listing and filters", () => {
  let local: LocalGcp;
  const ids = (r: { json: { secrets?: { name: string }[] } }): string[] =>
    (r.json.secrets ?? []).map((s) => s.name.split("/").pop()!);
  const list = (query: string) => api(local, "GET", `/v1/projects/p/secrets?${query}`);

  beforeAll(async () => {
    local = await startLocalGcp({ port: 0 });
    await seed(local, "alpha-db", [], { env: "prod", "managed-by": "pushsync" }, "p");
    await seed(local, "alpha-api", [], { env: "dev", "managed-by": "external-secrets" }, "p");
    await seed(local, "beta-db", [], { env: "prod" }, "p");
    await seed(local, "gamma", [], {}, "p");
    await seed(local, "delta", [], { team: "core" }, "p");
  });
  afterAll(async () => {
    await local.close();
  });

  it("lists newest first with totalSize", async () => {
    const r = await list("");
    expect(ids(r)).toEqual(["delta", "gamma", "beta-db", "alpha-api", "alpha-db"]);
    expect(r.json.totalSize).toBe(5);
  });

  it.each([
    ["labels.managed-by:*", ["alpha-api", "alpha-db"]],
    ["labels.managed-by=pushsync", ["alpha-db"]],
    ["labels.env=prod", ["beta-db", "alpha-db"]],
    ["labels.env=prod AND labels.managed-by:*", ["alpha-db"]],
    ["labels.env=prod labels.managed-by:*", ["alpha-db"]],
    ["labels.env=dev OR labels.team=core", ["delta", "alpha-api"]],
    ["NOT labels.env:*", ["delta", "gamma"]],
    ["-labels.env:*", ["delta", "gamma"]],
    ["name:alpha", ["alpha-api", "alpha-db"]],
    ["name:ALPHA", ["alpha-api", "alpha-db"]],
    ["name:a*db", ["beta-db", "alpha-db"]],
    ['labels.env="prod" AND (name:beta OR name:gamma)', ["beta-db"]],
    ["replication.automatic:*", ["delta", "gamma", "beta-db", "alpha-api", "alpha-db"]],
  ])("filter %s", async (filter, expected) => {
    const r = await list(`filter=${encodeURIComponent(filter)}`);
    expect(r.status).toBe(200);
    expect(ids(r)).toEqual(expected);
    expect(r.json.totalSize).toBe(0);
  });

  it("filters on create_time", async () => {
    const all = (await list("")).json.secrets as { name: string; createTime: string }[];
    const gamma = all.find((s) => s.name.endsWith("/gamma"))!;
    const r = await list(`filter=${encodeURIComponent(`create_time>${gamma.createTime}`)}`);
    expect(ids(r)).toEqual(["delta"]);
  });

  it.each(["colour=blue", "name ~ alpha", "labels.env=prod AND (", "alpha"])(
    "rejects the filter %s with INVALID_ARGUMENT",
    async (filter) => {
      const r = await list(`filter=${encodeURIComponent(filter)}`);
      expect(r.status).toBe(400);
      expect(r.json.error.status).toBe("INVALID_ARGUMENT");
    },
  );

  it("pages with pageSize and nextPageToken, and rejects a bad token", async () => {
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const r = await list(`pageSize=2${token ? `&pageToken=${token}` : ""}`);
      expect(r.json.secrets.length).toBeLessThanOrEqual(2);
      seen.push(...ids(r));
      token = r.json.nextPageToken ?? "";
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(["delta", "gamma", "beta-db", "alpha-api", "alpha-db"]);
    expect((await list("pageToken=bogus")).status).toBe(400);
  });

  it("keeps regional secrets apart from global ones", async () => {
    const bad = await api(local, "POST", "/v1/projects/p/locations/us-east1/secrets?secretId=reg", {
      replication: { automatic: {} },
    });
    expect(bad.status).toBe(400);
    const res = await api(local, "POST", "/v1/projects/p/locations/us-east1/secrets?secretId=reg", {});
    expect(res.json.name).toBe("projects/123456789012/locations/us-east1/secrets/reg");
    await api(local, "POST", "/v1/projects/p/locations/us-east1/secrets/reg:addVersion", payload("r"));
    const got = await api(
      local,
      "GET",
      "/v1/projects/p/locations/us-east1/secrets/reg/versions/latest:access",
    );
    expect(Buffer.from(got.json.payload.data, "base64").toString()).toBe("r");
    expect(ids(await api(local, "GET", "/v1/projects/p/locations/us-east1/secrets"))).toEqual(["reg"]);
    expect(ids(await list(""))).not.toContain("reg");
  });
});

describe("local GCP: protocol edges, faults and counts", () => {
  it("refuses projects outside projectIds with PERMISSION_DENIED", async () => {
    const local = await startLocalGcp({ port: 0, projectIds: ["mine"] });
    try {
      expect((await api(local, "GET", "/v1/projects/mine/secrets")).status).toBe(200);
      expect((await api(local, "GET", "/v1/projects/123456789012/secrets")).status).toBe(200);
      const other = await api(local, "GET", "/v1/projects/theirs/secrets");
      expect(other.status).toBe(403);
      expect(other.json.error.status).toBe("PERMISSION_DENIED");
    } finally {
      await local.close();
    }
  });

  it("rejects unknown query parameters and routes", async () => {
    const q = await api(gcp, "GET", "/v1/projects/proj/secrets?colour=blue");
    expect(q.status).toBe(400);
    expect((await api(gcp, "GET", "/v2/projects/proj/secrets")).status).toBe(404);
    expect((await api(gcp, "PUT", "/v1/projects/proj/secrets/x")).status).toBe(404);
    const iam = await api(gcp, "GET", "/v1/projects/proj/secrets/x:getIamPolicy");
    expect(iam.status).toBe(501);
    expect(iam.json.error.status).toBe("UNIMPLEMENTED");
  });

  it("injects throttling with Retry-After and RetryInfo, then 503 and 500, counting every request", async () => {
    await seed(gcp, "fault-1", ["v"]);
    gcp.requests.reset();
    gcp.faults.inject({ operation: "AccessSecretVersion", status: 429, times: 1, retryAfterSeconds: 7 });
    gcp.faults.inject({ operation: "GetSecret", status: 503, times: 1 });
    gcp.faults.inject({ operation: "ListSecrets", status: 500, times: 1 });

    const throttled = await api(gcp, "GET", "/v1/projects/proj/secrets/fault-1/versions/latest:access");
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("retry-after")).toBe("7");
    expect(throttled.json.error).toMatchObject({
      code: 429,
      status: "RESOURCE_EXHAUSTED",
      details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "7s" }],
    });
    expect((await api(gcp, "GET", "/v1/projects/proj/secrets/fault-1")).json.error.status).toBe(
      "UNAVAILABLE",
    );
    expect((await api(gcp, "GET", "/v1/projects/proj/secrets")).json.error.status).toBe("INTERNAL");
    // Each fault was used once: the same calls now succeed.
    expect((await api(gcp, "GET", "/v1/projects/proj/secrets/fault-1/versions/latest:access")).status).toBe(
      200,
    );
    expect((await api(gcp, "GET", "/v1/projects/proj/secrets/fault-1")).status).toBe(200);
    expect(gcp.requests.snapshot()).toEqual({ AccessSecretVersion: 2, GetSecret: 2, ListSecrets: 1 });
  });

  it("adds injected latency", async () => {
    gcp.faults.latencyMs = 150;
    const start = Date.now();
    await api(gcp, "GET", "/v1/projects/proj/secrets/fault-1");
    gcp.faults.clear();
    expect(Date.now() - start).toBeGreaterThanOrEqual(140);
  });
});
