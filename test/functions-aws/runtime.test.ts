/**
 * The cloud-agnostic runtime (shared/runtime) on its own, with the stores' own Vault auth (a
 * token): configuration, manifest errors, which events push what, and which fail.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startLocalAws, type LocalAws } from "../../infra/local/aws/index.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import type { LogFields, Logger } from "../../shared/observability/logger.ts";
import { createRuntime, newestOf, parseChangeEvent, type Runtime } from "../../shared/runtime/index.ts";
import { changeEvent, FINGERPRINT_KEY, ROLE_CREDENTIALS } from "./helpers.ts";

let vault: LocalVault;
let aws: LocalAws;
const open: Runtime[] = [];

beforeAll(async () => {
  vault = await startLocalVault({ port: 0 });
  aws = await startLocalAws({ port: 0 });
});
beforeEach(() => aws.reset());
afterAll(async () => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  for (const r of open) await r.close();
  await aws?.close();
  await vault?.close();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    VAULT_TOKEN: vault.rootToken,
    AWS_ACCESS_KEY_ID: ROLE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ROLE_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
    PUSHSYNC_FINGERPRINT_KEY: FINGERPRINT_KEY,
    ...extra,
  };
}

function records(into: Record<string, unknown>[], base: LogFields = {}): Logger {
  const write = (level: string) => (msg: string, fields?: LogFields) =>
    void into.push({ level, msg, ...base, ...fields });
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (fields) => records(into, { ...base, ...fields }),
  };
}

function stores(): string {
  return `apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: { name: vault }
spec: { provider: { vault: { server: "${vault.url}", path: secret, version: v2 } } }
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: { name: aws, namespace: default }
spec: { provider: { aws: { service: SecretsManager, region: us-east-1 } } }
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: { name: aws-other, namespace: default }
spec: { provider: { aws: { service: SecretsManager, region: us-east-1, prefix: other- } } }
`;
}

function push(name: string, path: string, remoteKey: string, store = "aws", deletionPolicy = "None"): string {
  return `---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: ${name}, namespace: default }
spec:
  deletionPolicy: ${deletionPolicy}
  secretStoreRefs: [{ name: vault, kind: ClusterSecretStore }, { name: ${store}, kind: SecretStore }]
  selector: { secret: { name: ${path} } }
  data: [{ match: { remoteRef: { remoteKey: ${remoteKey} } } }]
`;
}

const scratch: string[] = [];

function manifests(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "pushsync-runtime-"));
  scratch.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function runtime(
  dir: string,
  extraEnv: Record<string, string> = {},
  logs: Record<string, unknown>[] = [],
) {
  const r = await createRuntime({ manifestsDir: dir, env: env(extraEnv), logger: records(logs) });
  open.push(r);
  return r;
}

const BROKEN = `apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: broken, namespace: default }
spec:
  secretStoreRefs: [{ name: vault, kind: ClusterSecretStore }, { name: aws, kind: SecretStore }]
  selector: { secret: { name: app/broken } }
  data: [{ match: { remoteRef: {} } }]
`;

describe("configuration", () => {
  it("requires the fingerprint key, and a role for aws-iam Vault auth", async () => {
    const dir = manifests({ "stores.yaml": stores() });
    const base = { manifestsDir: dir };
    await expect(createRuntime({ ...base, env: { ...env(), PUSHSYNC_FINGERPRINT_KEY: "" } })).rejects.toThrow(
      /no fingerprint key: set PUSHSYNC_FINGERPRINT_KEY or PUSHSYNC_FINGERPRINT_KEY_FILE/,
    );
    await expect(createRuntime({ ...base, env: env({ PUSHSYNC_VAULT_AUTH: "aws-iam" }) })).rejects.toThrow(
      "PUSHSYNC_VAULT_AUTH=aws-iam needs PUSHSYNC_VAULT_ROLE",
    );
    await expect(createRuntime({ ...base, env: env({ PUSHSYNC_VAULT_AUTH: "ldap" }) })).rejects.toThrow(
      'PUSHSYNC_VAULT_AUTH: "ldap" is not one of store, aws-iam',
    );
  });

  it("serves only the stores PUSHSYNC_STORES names", async () => {
    const dir = manifests({
      "all.yaml":
        stores() +
        push("to-aws", "app/s1", "served-key") +
        push("to-other", "app/s2", "unserved-key", "aws-other"),
    });
    await vault.writeKv("secret", "app/s1", { password: "served-password" });
    await vault.writeKv("secret", "app/s2", { password: "other-password" });
    const logs: Record<string, unknown>[] = [];
    const r = await runtime(dir, { PUSHSYNC_STORES: "default/aws, default/nowhere" }, logs);
    expect(r.stores).toEqual(["default/aws"]);
    expect(logs).toContainEqual(expect.objectContaining({ level: "warn", store: "default/nowhere" }));
    const report = await r.reconcile();
    expect(report.entries.map((e) => [e.store, e.remoteKey, e.outcome])).toEqual([
      ["default/aws", "served-key", "created"],
    ]);
    expect(aws.requests.get("CreateSecret")).toBe(1);
  });
});

describe("manifest errors", () => {
  it("are logged with file:line while the valid rest is served, and keep unmapped secrets", async () => {
    await vault.writeKv("secret", "app/o", { password: "orphan-password" });
    const first = await runtime(
      manifests({ "a.yaml": stores() + push("moving", "app/o", "old-key-name", "aws", "Delete") }),
    );
    expect((await first.reconcile()).totals.created).toBe(1);

    // The PushSecret now pushes to another key; a broken file sits next to it.
    const moved = stores() + push("moving", "app/o", "new-key-name", "aws", "Delete");
    const logs: Record<string, unknown>[] = [];
    const withErrors = await runtime(manifests({ "a.yaml": moved, "broken.yaml": BROKEN }), {}, logs);
    const errors = logs.filter((l) => l.msg === "manifest error");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.at).toMatch(
      /broken\.yaml:7:\d+ PushSecret default\/broken: spec\.data\[0\]\.match\.remoteRef\.remoteKey/,
    );
    const kept = await withErrors.reconcile();
    expect(kept.entries.map((e) => [e.remoteKey, e.outcome, e.reason])).toEqual([
      ["new-key-name", "created", undefined],
      ["old-key-name", "skipped", "not deleted: some manifests failed to load and may still map it"],
    ]);

    // Once the manifests are whole again, the unmapped secret goes (deletionPolicy Delete).
    const whole = await runtime(manifests({ "a.yaml": moved }));
    const cleaned = await whole.reconcile();
    expect(cleaned.entries.map((e) => [e.remoteKey, e.outcome])).toEqual([
      ["new-key-name", "unchanged"],
      ["old-key-name", "deleted"],
    ]);
  });
});

describe("pushEvents", () => {
  it("pushes the entries reading the changed secrets, in the event's Vault namespace only", async () => {
    const dir = manifests({
      "a.yaml": stores() + push("ev-one", "app/e1", "event-one") + push("ev-two", "app/e2", "event-two"),
    });
    const r = await runtime(dir);
    const v1 = await vault.writeKv("secret", "app/e1", { password: "event-password-1" });
    await vault.writeKv("secret", "app/e2", { password: "event-password-2" });

    const other = { ...changeEvent("app/e1", 7), namespace: "team-a" };
    const nobody = changeEvent("app/nobody-reads-this", 1);
    const none = await r.pushEvents([other, nobody]);
    expect(none).toEqual({ report: expect.objectContaining({ entries: [] }), failedEventIds: [] });

    const done = await r.pushEvents([changeEvent("app/e1", v1)]);
    expect(done.failedEventIds).toEqual([]);
    expect(done.report.entries.map((e) => [e.remoteKey, e.outcome])).toEqual([["event-one", "created"]]);
  });

  it("names the events whose push failed retryably, not the permanent failures", async () => {
    const dir = manifests({
      "a.yaml":
        stores() + push("retry-one", "app/r1", "retry-one") + push("bad-name", "app/r2", "bad-name-abcdef"),
    });
    const r = await runtime(dir);
    const v = await vault.writeKv("secret", "app/r1", { password: "retry-password" });
    await vault.writeKv("secret", "app/r2", { password: "bad-name-password" });

    // A replica behind the event (Vault is at v, the event says v + 5): retry later.
    const ahead = changeEvent("app/r1", v + 5);
    // A remote key AWS advises against: retrying cannot help.
    const permanent = changeEvent("app/r2", 1);
    const result = await r.pushEvents([ahead, permanent]);
    expect(result.failedEventIds).toEqual([ahead.id]);
    const byKey = new Map(result.report.entries.map((e) => [e.remoteKey, e]));
    expect(byKey.get("retry-one")).toMatchObject({
      outcome: "error",
      error: { code: "Unavailable", retryable: true },
    });
    expect(byKey.get("bad-name-abcdef")).toMatchObject({
      outcome: "error",
      error: { code: "InvalidName", retryable: false },
    });
  });
});

describe("event bodies", () => {
  it("parses the forwarder's JSON and names the field that is wrong", () => {
    const e = changeEvent("app/p", 3);
    expect(parseChangeEvent(JSON.stringify(e))).toEqual({ event: e });
    const { version: _v, ...unversioned } = e;
    expect(parseChangeEvent(JSON.stringify(unversioned))).toEqual({ event: unversioned });
    expect(parseChangeEvent("[]")).toEqual({ error: "the body is not a JSON object" });
    expect(parseChangeEvent(JSON.stringify({ ...e, operation: "read" }))).toMatchObject({
      error: /^operation: one of write, patch/,
    });
    expect(parseChangeEvent(JSON.stringify({ ...e, version: -1 }))).toEqual({
      error: "version: a non-negative integer is required when present",
    });
    expect(parseChangeEvent(JSON.stringify({ ...e, time: "yesterday" }))).toEqual({
      error: "time: an RFC 3339 timestamp is required",
    });
    expect(parseChangeEvent(JSON.stringify({ ...e, source: "kafka" }))).toEqual({
      error: 'source: "audit" or "events" is required',
    });
  });

  it("folds a burst into the last event with the highest version", () => {
    const a = changeEvent("app/p", 4);
    const b = changeEvent("app/p", 2);
    const { version: _v, ...c } = { ...changeEvent("app/p", 0), operation: "metadata-delete" as const };
    expect(newestOf([a, b, c])).toEqual({ ...c, version: 4 });
    expect(newestOf([c])).toEqual(c);
  });
});
