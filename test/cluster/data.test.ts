/**
 * What an ExternalSecret reads from Vault and how it lands in the Secret: data with property
 * (nested), version and decodingStrategy; dataFrom extract and find with rewrite and
 * conversionStrategy; templates (data, type, metadata, mergePolicy); status, Events and metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Puller } from "../../functions/cluster/puller.ts";
import { DATA_HASH_ANNOTATION, MANAGED_LABEL } from "../../functions/cluster/secret.ts";
import {
  apply,
  eventsFor,
  externalSecret,
  metric,
  metricsText,
  readyWith,
  secretWith,
  startStack,
  startTestPuller,
  until,
  type Json,
  type Stack,
} from "./helpers.ts";

let stack: Stack;
let puller: Puller;

beforeAll(async () => {
  stack = await startStack();
  const { vault } = stack;
  await vault.writeKv("secret", "app/db", {
    username: "app",
    password: "s3cr3t-one",
    config: { port: 5432, tls: { mode: "verify" } },
  });
  await vault.writeKv("secret", "app/db", {
    username: "app",
    password: "s3cr3t-two",
    config: { port: 5432, tls: { mode: "verify" } },
  });
  await vault.writeKv("secret", "app/encoded", {
    std: Buffer.from("plain?text>").toString("base64"),
    url: Buffer.from("plain?text>").toString("base64url") + "=",
    raw: "not base64!",
  });
  await vault.writeKv("secret", "team/alpha", { key: "a" });
  await vault.writeKv("secret", "team/beta", { key: "b" });
  await vault.writeKv("secret", "team/sub/gamma", { key: "g" });
  await vault.writeKv("secret", "teamwork/delta", { key: "d" });
  puller = await startTestPuller(stack);
});

afterAll(async () => {
  await puller?.close();
  await stack?.close();
});

describe("data", () => {
  it("reads keys, properties (nested, gjson-like), versions and whole secrets", async () => {
    await apply(
      stack.kube,
      externalSecret("db", {
        data: [
          { secretKey: "password", remoteRef: { key: "app/db", property: "password" } },
          {
            secretKey: "previous",
            remoteRef: { key: "secret/data/app/db", property: "password", version: "1" },
          },
          { secretKey: "tls-mode", remoteRef: { key: "app/db", property: "config.tls.mode" } },
          { secretKey: "port", remoteRef: { key: "app/db", property: "config.port" } },
          { secretKey: "config", remoteRef: { key: "app/db", property: "config" } },
          { secretKey: "all", remoteRef: { key: "app/db" } },
        ],
      }),
    );
    const s = await secretWith(stack.kube, "db", (d) => d.password !== undefined);
    const d = Object.fromEntries(
      Object.entries(s.data as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, "base64").toString(),
      ]),
    );
    expect(d.password).toBe("s3cr3t-two");
    expect(d.previous).toBe("s3cr3t-one");
    expect(d["tls-mode"]).toBe("verify");
    expect(d.port).toBe("5432");
    expect(JSON.parse(d.config!)).toEqual({ port: 5432, tls: { mode: "verify" } });
    expect(JSON.parse(d.all!)).toEqual({
      config: { port: 5432, tls: { mode: "verify" } },
      password: "s3cr3t-two",
      username: "app",
    });
    expect(s.metadata.labels[MANAGED_LABEL]).toBe("true");
    expect(s.metadata.annotations[DATA_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{64}$/);
    const owner = s.metadata.ownerReferences[0];
    expect(owner).toMatchObject({
      kind: "ExternalSecret",
      name: "db",
      controller: true,
      apiVersion: "external-secrets.io/v1",
    });

    const es = await readyWith(stack.kube, "db", "SecretSynced");
    const ready = es.status.conditions.find((c: Json) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "True", message: "secret synced" });
    expect(es.status.binding).toEqual({ name: "db" });
    expect(es.status.syncedResourceVersion).toMatch(/^1-[0-9a-f]{56}$/);
    expect(Date.now() - Date.parse(es.status.refreshTime)).toBeLessThan(10_000);
    const events = await eventsFor(stack.kube, "db");
    expect(events.map((e) => `${e.type}/${e.reason}`)).toContain("Normal/Created");
  });

  it("fails with SecretSyncedError naming the property, not its value, when it does not exist", async () => {
    await apply(
      stack.kube,
      externalSecret("bad-property", {
        data: [{ secretKey: "x", remoteRef: { key: "app/db", property: "nope" } }],
      }),
    );
    const es = await readyWith(stack.kube, "bad-property", "SecretSyncedError");
    expect(es.status.conditions[0]).toMatchObject({
      status: "False",
      message: "could not get secret data from provider",
    });
    // Retried with backoff; the same failure bumps one Event's count, as client-go's recorder does.
    const failed = await until(async () => {
      const events = (await eventsFor(stack.kube, "bad-property")).filter((e) => e.reason === "UpdateFailed");
      return events.length === 1 && events[0].count >= 2 ? events[0] : undefined;
    });
    expect(failed.type).toBe("Warning");
    expect(failed.message).toContain(
      'spec.data[0] (key=app/db): property "nope" not found in the remote value',
    );
    expect(failed.message).not.toContain("s3cr3t");
  });

  it("decodes with decodingStrategy Base64, Base64URL and Auto, and fails on a value that is not base64", async () => {
    await apply(
      stack.kube,
      externalSecret("decoded", {
        data: [
          {
            secretKey: "std",
            remoteRef: { key: "app/encoded", property: "std", decodingStrategy: "Base64" },
          },
          {
            secretKey: "url",
            remoteRef: { key: "app/encoded", property: "url", decodingStrategy: "Base64URL" },
          },
          {
            secretKey: "auto-std",
            remoteRef: { key: "app/encoded", property: "std", decodingStrategy: "Auto" },
          },
          {
            secretKey: "auto-raw",
            remoteRef: { key: "app/encoded", property: "raw", decodingStrategy: "Auto" },
          },
          { secretKey: "none", remoteRef: { key: "app/encoded", property: "std", decodingStrategy: "None" } },
        ],
      }),
    );
    const s = await secretWith(stack.kube, "decoded", (d) => d.std !== undefined);
    const d = Object.fromEntries(
      Object.entries(s.data as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, "base64").toString(),
      ]),
    );
    expect(d).toEqual({
      std: "plain?text>",
      url: "plain?text>",
      "auto-std": "plain?text>",
      "auto-raw": "not base64!",
      none: Buffer.from("plain?text>").toString("base64"),
    });

    await apply(
      stack.kube,
      externalSecret("not-base64", {
        data: [
          { secretKey: "x", remoteRef: { key: "app/encoded", property: "raw", decodingStrategy: "Base64" } },
        ],
      }),
    );
    await readyWith(stack.kube, "not-base64", "SecretSyncedError");
  });
});

describe("dataFrom", () => {
  it("extracts every field, converting keys by conversionStrategy", async () => {
    await stack.vault.writeKv("secret", "app/odd-keys", { "a/b": "1", "c d": "2", plain: "3" });
    await apply(
      stack.kube,
      externalSecret("extracted", {
        dataFrom: [
          { extract: { key: "app/odd-keys" } },
          { extract: { key: "app/odd-keys", conversionStrategy: "Unicode" } },
          { extract: { key: "app/db", property: "config.tls" } },
        ],
      }),
    );
    const s = await secretWith(stack.kube, "extracted", (d) => d.mode !== undefined);
    const keys = Object.keys(s.data).sort();
    expect(keys).toEqual(["a_U002f_b", "a_b", "c_U0020_d", "c_d", "mode", "plain"]);
  });

  it("finds by path and name regexp, rewrites with regexp and transform", async () => {
    await apply(
      stack.kube,
      externalSecret("found", {
        dataFrom: [
          { find: { path: "team", name: { regexp: "^team/(alpha|sub/.*)$" } } },
          {
            find: { path: "team", name: { regexp: "beta" } },
            rewrite: [
              { regexp: { source: "team/(.*)", target: "renamed-$1" } },
              { transform: { template: "{{ .value | upper }}" } },
            ],
          },
        ],
      }),
    );
    const s = await secretWith(stack.kube, "found", (d) => Object.keys(d).length >= 3);
    const d = Object.fromEntries(
      Object.entries(s.data as Record<string, string>).map(([k, v]) => [
        k,
        JSON.parse(Buffer.from(v, "base64").toString()),
      ]),
    );
    // "teamwork/delta" shares the string prefix but not the folder.
    expect(d).toEqual({
      team_alpha: { key: "a" },
      team_sub_gamma: { key: "g" },
      "RENAMED-BETA": { key: "b" },
    });
  });
});

describe("templates", () => {
  it("renders data, type and metadata; mergePolicy Replace keeps only the template's keys", async () => {
    await apply(
      stack.kube,
      externalSecret(
        "templated",
        {
          data: [
            { secretKey: "user", remoteRef: { key: "app/db", property: "username" } },
            { secretKey: "pass", remoteRef: { key: "app/db", property: "password" } },
          ],
          target: {
            template: {
              type: "kubernetes.io/basic-auth",
              metadata: {
                labels: { app: "db", who: "{{ .user }}" },
                annotations: { note: "rendered" },
                finalizers: ["example.com/keep"],
              },
              data: {
                username: "{{ .user }}",
                password: "{{ .pass }}",
                dsn: "postgres://{{ .user }}:{{ .pass | b64enc }}@db",
              },
            },
          },
        },
        { labels: { "es-label": "not-copied" } },
      ),
    );
    const s = await secretWith(stack.kube, "templated", (d) => d.dsn !== undefined);
    expect(s.type).toBe("kubernetes.io/basic-auth");
    expect(Object.keys(s.data).sort()).toEqual(["dsn", "password", "username"]);
    expect(Buffer.from(s.data.dsn, "base64").toString()).toBe(
      `postgres://app:${Buffer.from("s3cr3t-two").toString("base64")}@db`,
    );
    expect(s.metadata.labels).toMatchObject({ app: "db", who: "app", [MANAGED_LABEL]: "true" });
    expect(s.metadata.labels["es-label"]).toBeUndefined();
    expect(s.metadata.annotations.note).toBe("rendered");
    expect(s.metadata.finalizers).toEqual(["example.com/keep"]);
  });

  it("mergePolicy Merge keeps the fetched keys next to the rendered ones; no template copies the ExternalSecret's labels", async () => {
    await apply(
      stack.kube,
      externalSecret("merged", {
        data: [{ secretKey: "user", remoteRef: { key: "app/db", property: "username" } }],
        target: { template: { mergePolicy: "Merge", data: { greeting: "hello {{ .user }}" } } },
      }),
    );
    const s = await secretWith(stack.kube, "merged", (d) => d.greeting !== undefined);
    expect(Object.keys(s.data).sort()).toEqual(["greeting", "user"]);

    await apply(
      stack.kube,
      externalSecret(
        "plain",
        { data: [{ secretKey: "user", remoteRef: { key: "app/db", property: "username" } }] },
        { labels: { team: "blue" } },
      ),
    );
    const plain = await secretWith(stack.kube, "plain", (d) => d.user === "app");
    expect(plain.metadata.labels.team).toBe("blue");
  });

  it("reports a template error without the data in it", async () => {
    await apply(
      stack.kube,
      externalSecret("bad-template", {
        data: [{ secretKey: "pass", remoteRef: { key: "app/db", property: "password" } }],
        target: { template: { data: { out: "{{ .missing }}" } } },
      }),
    );
    await readyWith(stack.kube, "bad-template", "SecretSyncedError");
    const failed = (await eventsFor(stack.kube, "bad-template")).find((e) => e.reason === "UpdateFailed");
    expect(failed?.message).toContain('missing key "missing"');
    expect(failed?.message).not.toContain("s3cr3t");
  });
});

describe("metrics", () => {
  it("serves ESO's metric names with per-ExternalSecret labels", async () => {
    await readyWith(stack.kube, "db", "SecretSynced");
    const text = await metricsText(puller);
    expect(
      metric(text, 'externalsecret_sync_calls_total{name="db",namespace="default"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metric(
        text,
        'externalsecret_status_condition{name="db",namespace="default",condition="Ready",status="True"}',
      ),
    ).toBe(1);
    expect(
      metric(
        text,
        'externalsecret_status_condition{name="db",namespace="default",condition="Ready",status="False"}',
      ),
    ).toBe(0);
    expect(
      metric(
        text,
        'externalsecret_status_condition{name="bad-property",namespace="default",condition="Ready",status="False"}',
      ),
    ).toBe(1);
    expect(
      metric(text, 'externalsecret_sync_calls_error{name="bad-property",namespace="default"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'externalsecret_reconcile_duration{name="db",namespace="default"}')).toBeGreaterThan(
      0,
    );
    expect(
      metric(
        text,
        'externalsecret_provider_api_calls_count{provider="HashiCorp/Vault",call="ReadSecretData",status="success"}',
      ),
    ).toBeGreaterThan(0);
    expect(
      metric(
        text,
        'externalsecret_provider_api_calls_count{provider="HashiCorp/Vault",call="ListSecrets",status="success"}',
      ),
    ).toBeGreaterThan(0);
    expect(metric(text, "pushsync_puller_is_leader")).toBe(1);
    expect(metric(text, 'pushsync_puller_informer_synced{resource="externalsecrets"}')).toBe(1);
    const ready = await fetch(`http://127.0.0.1:${puller.port}/readyz`);
    expect(ready.status).toBe(200);
    const health = await fetch(`http://127.0.0.1:${puller.port}/healthz`);
    expect(await health.json()).toMatchObject({ status: "ok", leader: true });
  });
});
