import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, b64, secret, startCluster, type Cluster } from "./helpers.ts";

const SECRETS = "/api/v1/namespaces/default/secrets";
const CONFIGMAPS = "/api/v1/namespaces/default/configmaps";
const VALUE = "s3cr3t-value-never-echoed";

describe("local Kubernetes: Secret and ConfigMap rules", () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await startCluster();
  });
  afterAll(() => c.close());

  it("merges stringData into data as base64 and does not store stringData", async () => {
    const created = await api(c.k8s, "POST", SECRETS, {
      body: {
        metadata: { name: "sd" },
        data: { a: b64("from-data"), b: b64("old") },
        stringData: { b: "new", c: "ünï" },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.data).toEqual({ a: b64("from-data"), b: b64("new"), c: b64("ünï") });
    expect(created.body.stringData).toBeUndefined();
    const patched = await api(c.k8s, "PATCH", `${SECRETS}/sd`, { body: { stringData: { d: "x" } } });
    expect(patched.body.data.d).toBe(b64("x"));
    expect(patched.body.type).toBe("Opaque");
  });

  it("refuses data that is not base64 with 400 and the offset, never the value", async () => {
    const reply = await api(c.k8s, "POST", SECRETS, {
      body: { metadata: { name: "b64" }, data: { k: `${VALUE}!` } },
    });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({
      reason: "BadRequest",
      message: 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 6',
    });
    expect(reply.text).not.toContain(VALUE);
    const unpadded = await api(c.k8s, "POST", SECRETS, {
      body: { metadata: { name: "b64" }, data: { k: "YWJj ZA" } },
    });
    expect(unpadded.status).toBe(400);
    const wrapped = await api(c.k8s, "POST", SECRETS, {
      body: { metadata: { name: "b64" }, data: { k: "YWJj\nZGVm" } },
    });
    expect(wrapped.status).toBe(201);
  });

  it("validates data keys and the 1 MiB limit (422), naming the key but not the value", async () => {
    const key = await api(c.k8s, "POST", SECRETS, { body: secret("keys", { "bad key": VALUE }) });
    expect(key.status).toBe(422);
    expect(key.body.message).toMatch(
      /^Secret "keys" is invalid: data\[bad key\]: Invalid value: "bad key": a valid config key/,
    );
    expect(key.text).not.toContain(VALUE);
    const big = await api(c.k8s, "POST", SECRETS, {
      body: { metadata: { name: "big" }, data: { a: Buffer.alloc(1024 * 1024 + 1).toString("base64") } },
    });
    expect(big.status).toBe(422);
    expect(big.body.message).toBe('Secret "big" is invalid: data: Too long: must have at most 1048576 bytes');
    const fits = await api(c.k8s, "POST", SECRETS, {
      body: { metadata: { name: "fits" }, data: { a: Buffer.alloc(1024 * 1024).toString("base64") } },
    });
    expect(fits.status).toBe(201);
  });

  it("requires the keys of typed Secrets and keeps the type once set", async () => {
    const tls = await api(c.k8s, "POST", SECRETS, {
      body: secret("tls", { "tls.crt": "c" }, { type: "kubernetes.io/tls" }),
    });
    expect(tls.status).toBe(422);
    expect(tls.body.message).toBe('Secret "tls" is invalid: data[tls.key]: Required value');
    const basic = await api(c.k8s, "POST", SECRETS, {
      body: secret("basic", {}, { type: "kubernetes.io/basic-auth" }),
    });
    expect(basic.body.details.causes.map((x: { field: string }) => x.field)).toEqual([
      "data[username]",
      "data[password]",
    ]);
    await api(c.k8s, "POST", SECRETS, { body: secret("typed", { a: "1" }) });
    const retype = await api(c.k8s, "PATCH", `${SECRETS}/typed`, { body: { type: "example.com/other" } });
    expect(retype.status).toBe(422);
    expect(retype.body.message).toBe(
      'Secret "typed" is invalid: type: Invalid value: "example.com/other": field is immutable',
    );
  });

  it("refuses data changes to an immutable Secret with 422, and lets metadata change", async () => {
    await api(c.k8s, "POST", SECRETS, { body: secret("frozen", { a: VALUE }, { immutable: true }) });
    const change = await api(c.k8s, "PATCH", `${SECRETS}/frozen`, { body: { data: { a: b64("other") } } });
    expect(change.status).toBe(422);
    expect(change.body).toMatchObject({
      reason: "Invalid",
      message: 'Secret "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set',
      details: { name: "frozen", kind: "Secret", causes: [{ reason: "FieldValueForbidden", field: "data" }] },
    });
    expect(change.text).not.toContain(b64(VALUE));
    const thaw = await api(c.k8s, "PATCH", `${SECRETS}/frozen`, { body: { immutable: false } });
    expect(thaw.body.message).toBe(
      'Secret "frozen" is invalid: immutable: Forbidden: field is immutable when `immutable` is set',
    );
    const label = await api(c.k8s, "PATCH", `${SECRETS}/frozen`, {
      body: { metadata: { labels: { a: "b" } } },
    });
    expect(label.status).toBe(200);
    expect((await api(c.k8s, "DELETE", `${SECRETS}/frozen`)).status).toBe(200);
  });

  it("applies the same rules to ConfigMaps: keys, binaryData base64, no key in both, immutable", async () => {
    const ok = await api(c.k8s, "POST", CONFIGMAPS, {
      body: { metadata: { name: "cm" }, data: { a: "1" }, binaryData: { b: b64("2") } },
    });
    expect(ok.status).toBe(201);
    const dup = await api(c.k8s, "POST", CONFIGMAPS, {
      body: { metadata: { name: "dup" }, data: { a: "1" }, binaryData: { a: b64("2") } },
    });
    expect(dup.body.message).toBe(
      'ConfigMap "dup" is invalid: data[a]: Invalid value: "a": duplicate of key present in binaryData',
    );
    const bin = await api(c.k8s, "POST", CONFIGMAPS, {
      body: { metadata: { name: "bin" }, binaryData: { a: "%%" } },
    });
    expect(bin.status).toBe(400);
    await api(c.k8s, "POST", CONFIGMAPS, {
      body: { metadata: { name: "icm" }, data: { a: "1" }, immutable: true },
    });
    const change = await api(c.k8s, "PATCH", `${CONFIGMAPS}/icm`, { body: { data: { a: "2" } } });
    expect(change.body.message).toBe(
      'ConfigMap "icm" is invalid: data: Forbidden: field is immutable when `immutable` is set',
    );
  });
});
