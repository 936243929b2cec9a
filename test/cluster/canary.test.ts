/**
 * A secret value never leaves the data path: after syncs that succeed and syncs that fail on
 * the value itself (bad base64, not JSON, a template function refusing it), the value is in the
 * Secret and nowhere else: not in log lines (at debug level), Events, ExternalSecret status or
 * metrics. The Vault token, read from a Kubernetes Secret, is held to the same rule.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Puller } from "../../functions/cluster/puller.ts";
import {
  apply,
  decoded,
  expectNoValue,
  externalSecret,
  metricsText,
  readyWith,
  secretWith,
  startStack,
  startTestPuller,
  type Json,
  type Stack,
} from "./helpers.ts";

const CANARY = "canary-7f3a9c-cluster-value";
const VAULT_TOKEN = "canary-token-51d0e8-vault";
let stack: Stack;
let puller: Puller;

beforeAll(async () => {
  stack = await startStack({ vaultToken: VAULT_TOKEN });
  await stack.vault.writeKv("secret", "canary/app", { password: CANARY, nested: { inner: CANARY } });
  await stack.vault.writeKv("secret", "canary/tree/leaf", { password: CANARY });
  puller = await startTestPuller(stack, { vaultEvents: { address: stack.vault.url, token: VAULT_TOKEN } });
});

afterAll(async () => {
  await puller?.close();
  await stack?.close();
});

describe("the canary", () => {
  it("reaches the Secrets and appears in no log line, Event, status or metric", async () => {
    const ref = (property?: string, extra: Json = {}) => ({
      key: "canary/app",
      ...(property ? { property } : {}),
      ...extra,
    });
    await apply(
      stack.kube,
      externalSecret("canary-ok", {
        data: [
          { secretKey: "password", remoteRef: ref("password") },
          { secretKey: "inner", remoteRef: ref("nested.inner") },
        ],
        dataFrom: [{ find: { path: "canary/tree" } }, { extract: ref() }],
        target: { template: { mergePolicy: "Merge", data: { dsn: "user:{{ .password }}@db" } } },
      }),
    );
    const s = await secretWith(stack.kube, "canary-ok", (d) => d.dsn !== undefined);
    expect(decoded(s).password).toBe(CANARY);
    expect(decoded(s).dsn).toBe(`user:${CANARY}@db`);

    const failing = {
      "canary-base64": {
        data: [{ secretKey: "x", remoteRef: ref("password", { decodingStrategy: "Base64" }) }],
      },
      "canary-not-json": {
        data: [{ secretKey: "x", remoteRef: { key: "canary/app", property: "password.deeper" } }],
      },
      "canary-extract": { dataFrom: [{ extract: ref("password") }] },
      "canary-template": {
        data: [{ secretKey: "p", remoteRef: ref("password") }],
        target: { template: { data: { out: "{{ .p | b64dec }}", also: "{{ .p | fromJson }}" } } },
      },
    };
    for (const [name, spec] of Object.entries(failing)) await apply(stack.kube, externalSecret(name, spec));
    for (const name of Object.keys(failing)) await readyWith(stack.kube, name, "SecretSyncedError");

    // A change through the event stream, so instant updates are covered too.
    await stack.vault.writeKv("secret", "canary/app", {
      password: CANARY,
      nested: { inner: CANARY },
      more: CANARY,
    });
    await secretWith(stack.kube, "canary-ok", (d) => d.more === CANARY);

    const events: Json = await stack.kube.request("GET", "/api/v1/namespaces/default/events");
    const statuses: Json = await stack.kube.request("GET", "/apis/external-secrets.io/v1/externalsecrets");
    const haystacks = {
      logs: stack.logs.join("\n"),
      events: JSON.stringify(events.items),
      status: JSON.stringify(statuses.items.map((i: Json) => i.status)),
      metrics: await metricsText(puller),
    };
    expect(haystacks.logs.length).toBeGreaterThan(1000);
    expect(events.items.filter((e: Json) => e.reason === "UpdateFailed").length).toBeGreaterThanOrEqual(4);
    for (const text of Object.values(haystacks)) expectNoValue(text, CANARY, VAULT_TOKEN);
  });
});
