/**
 * The engine against the local Vault and the local AWS over HTTP: what gets pushed, ownership,
 * adoption, update policies, conflicts, and the cost of a steady-state reconcile.
 */
import { CreateSecretCommand, DescribeSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { shortFingerprint } from "../../shared/engine/fingerprint.ts";
import type { PushEntry } from "../../shared/engine/types.ts";
import { awsWrites, entry, row, startStack, type Stack } from "./helpers.ts";

let s: Stack;
beforeAll(async () => {
  s = await startStack();
});
afterAll(async () => {
  await s.close();
});
beforeEach(() => {
  s.aws.reset();
  s.provider.calls.reset();
  s.logs.length = 0;
});

async function tags(name: string): Promise<Record<string, string>> {
  const out = await s.sdk.send(new DescribeSecretCommand({ SecretId: name }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key, t.Value]));
}

describe("pushing values", () => {
  it("creates a single key, the whole secret as JSON and a templated value, with the marker", async () => {
    const v = await s.vault.writeKv("secret", "push/db", { username: "app", password: "pw-1" });
    const entries: PushEntry[] = [
      entry("default/db-password", "push/db", "/push/db-password", { secretKey: "password" }),
      entry("default/db-all", "push/db", "/push/db-all"),
      entry("default/db-dsn", "push/db", "/push/db-dsn", {
        secretKey: "dsn",
        template: {
          text: "dsn: {{ .username }}:{{ .password }}",
          render: (d) => ({ ...d, dsn: `${d.username}:${d.password}@db` }),
        },
      }),
    ];
    const report = await s.engine().reconcile(entries);

    expect(report.totals).toMatchObject({ created: 3, error: 0 });
    // One Vault secret behind three entries: read once.
    expect(report.vaultReads).toEqual({ metadata: 1, data: 1 });
    expect(await s.awsValue("/push/db-password")).toBe("pw-1");
    expect(JSON.parse((await s.awsValue("/push/db-all"))!)).toEqual({ username: "app", password: "pw-1" });
    expect(await s.awsValue("/push/db-dsn")).toBe("app:pw-1@db");

    const r = row(report, "/push/db-password");
    expect(r).toMatchObject({ pushSecret: "default/db-password", store: "default/aws", outcome: "created" });
    expect(r.vault).toBe(`secret/push/db@${v}`);
    expect(r.fingerprint).toMatch(/^[0-9a-f]{12}$/);
    const t = await tags("/push/db-password");
    expect(t["managed-by"]).toBe("pushsync");
    expect(t["pushsync.io/vault-path"]).toBe("secret/push/db");
    expect(t["pushsync.io/vault-version"]).toBe(String(v));
    expect(shortFingerprint(t["pushsync.io/fingerprint"]!)).toBe(r.fingerprint);
    // Three entries with different rendering: three different fingerprints.
    expect(new Set(report.entries.map((e) => e.fingerprint)).size).toBe(3);
  });

  it("a steady-state reconcile writes nothing and reads no values, in Vault or AWS", async () => {
    await s.vault.writeKv("secret", "steady/a", { k: "a1" });
    await s.vault.writeKv("secret", "steady/b", { k: "b1" });
    const entries = [
      entry("default/a", "steady/a", "/steady/a", { secretKey: "k" }),
      entry("default/b", "steady/b", "/steady/b", { secretKey: "k" }),
      entry("default/b-json", "steady/b", "/steady/b-json"),
    ];
    const engine = s.engine();
    expect((await engine.reconcile(entries)).totals.created).toBe(3);

    s.aws.requests.reset();
    s.vault.requests.reset();
    s.provider.calls.reset();
    const report = await engine.reconcile(entries);

    expect(report.totals).toMatchObject({ unchanged: 3, created: 0, updated: 0, error: 0 });
    expect(awsWrites(s.aws)).toBe(0);
    expect(s.aws.requests.get("GetSecretValue") + s.aws.requests.get("BatchGetSecretValue")).toBe(0);
    expect(s.aws.requests.snapshot()).toEqual({ ListSecrets: 1 });
    expect(s.provider.calls.snapshot()).toEqual({ ListSecrets: 1 });
    expect(report.calls).toEqual({ "default/aws": { ListSecrets: 1 } });
    // Vault: metadata once per path, no data read.
    expect(report.vaultReads).toEqual({ metadata: 2, data: 0 });
    expect(s.vault.requests.get("kv2.read")).toBe(0);
    expect(s.vault.requests.get("kv2.metadata.read")).toBe(2);
  });

  it("updates when Vault moves on, only the entries reading the changed path", async () => {
    await s.vault.writeKv("secret", "upd/a", { k: "a1" });
    await s.vault.writeKv("secret", "upd/b", { k: "b1" });
    const entries = [
      entry("default/a", "upd/a", "/upd/a", { secretKey: "k" }),
      entry("default/b", "upd/b", "/upd/b", { secretKey: "k" }),
    ];
    const engine = s.engine();
    await engine.reconcile(entries);
    const v2 = await s.vault.writeKv("secret", "upd/a", { k: "a2" });
    s.aws.requests.reset();

    const report = await engine.reconcile(entries);
    expect(row(report, "/upd/a")).toMatchObject({ outcome: "updated", vault: `secret/upd/a@${v2}` });
    expect(row(report, "/upd/b").outcome).toBe("unchanged");
    expect(await s.awsValue("/upd/a")).toBe("a2");
    expect((await tags("/upd/a"))["pushsync.io/vault-version"]).toBe(String(v2));
    expect(s.aws.requests.get("PutSecretValue")).toBe(1);
    expect(report.vaultReads.data).toBe(1);
  });

  it("a metadata change (tags) is a change too", async () => {
    await s.vault.writeKv("secret", "meta/a", { k: "a1" });
    const engine = s.engine();
    await engine.reconcile([entry("default/a", "meta/a", "/meta/a", { secretKey: "k" })]);
    const report = await engine.reconcile([
      entry("default/a", "meta/a", "/meta/a", { secretKey: "k", metadata: { tags: { team: "payments" } } }),
    ]);
    expect(row(report, "/meta/a").outcome).toBe("updated");
    expect((await tags("/meta/a")).team).toBe("payments");
  });

  it("KV v1 sources have no versions: their data is read and fingerprinted on every plan", async () => {
    await s.vault.writeKv("kv1", "legacy/app", { k: "one" });
    const e = [
      entry("default/legacy", "legacy/app", "/legacy/app", {
        secretKey: "k",
        source: { vaultStore: "vault", parts: [{ location: { mount: "kv1", path: "legacy/app" } }] },
      }),
    ];
    const engine = s.engine();
    expect(row(await engine.reconcile(e), "/legacy/app")).toMatchObject({
      outcome: "created",
      vault: "kv1/legacy/app@0",
    });
    s.aws.requests.reset();
    const steady = await engine.reconcile(e);
    expect(row(steady, "/legacy/app").outcome).toBe("unchanged");
    expect(steady.vaultReads).toEqual({ metadata: 0, data: 1 });
    expect(awsWrites(s.aws)).toBe(0);
    await s.vault.writeKv("kv1", "legacy/app", { k: "two" });
    expect(row(await engine.reconcile(e), "/legacy/app").outcome).toBe("updated");
    expect(await s.awsValue("/legacy/app")).toBe("two");
  });

  it("keeps at most `concurrency` provider calls in flight per store", async () => {
    const timed = async (concurrency: number, prefix: string): Promise<number> => {
      const entries = Array.from({ length: 16 }, (_, i) =>
        entry(`default/c${i}`, "conc/src", `/${prefix}/${i}`, { secretKey: "k" }),
      );
      const started = Date.now();
      const report = await s.engine({ concurrency }).reconcile(entries);
      expect(report.totals.created).toBe(16);
      expect(report.calls).toEqual({ "default/aws": { ListSecrets: 2, CreateSecret: 16 } });
      return Date.now() - started;
    };
    await s.vault.writeKv("secret", "conc/src", { k: "v" });
    s.aws.faults.latencyMs = 40;
    try {
      // Two listings (managed, then names), then 16 CreateSecret calls of >= 40 ms each.
      const serial = await timed(2, "c2");
      const parallel = await timed(16, "c16");
      expect(serial).toBeGreaterThanOrEqual(2 * 40 + (16 / 2) * 40);
      expect(parallel).toBeLessThan(serial / 2);
    } finally {
      s.aws.faults.clear();
    }
  });

  it("reports a missing secret key as an error naming it, and carries on with the others", async () => {
    await s.vault.writeKv("secret", "err/a", { k: "a1" });
    const report = await s
      .engine()
      .reconcile([
        entry("default/bad", "err/a", "/err/bad", { secretKey: "nope" }),
        entry("default/good", "err/a", "/err/good", { secretKey: "k" }),
      ]);
    expect(row(report, "/err/bad")).toMatchObject({
      outcome: "error",
      error: { code: "Invalid", message: 'secret key "nope" not found in the source data of default/bad' },
    });
    expect(row(report, "/err/good").outcome).toBe("created");
  });
});

describe("ownership", () => {
  it("never overwrites a secret pushsync does not own", async () => {
    await s.vault.writeKv("secret", "own/a", { k: "from-vault" });
    await s.sdk.send(new CreateSecretCommand({ Name: "/own/foreign", SecretString: "theirs" }));
    const report = await s
      .engine()
      .reconcile([entry("default/a", "own/a", "/own/foreign", { secretKey: "k" })]);
    expect(row(report, "/own/foreign")).toMatchObject({
      outcome: "error",
      error: {
        code: "NotOwned",
        message: 'remote secret "/own/foreign" in store default/aws exists and is not managed by pushsync',
        retryable: false,
      },
    });
    expect(await s.awsValue("/own/foreign")).toBe("theirs");
    expect(awsWrites(s.aws)).toBe(1); // the test's own CreateSecret
  });

  it("refuses an ESO-marked secret without adopt, and adopts unmarked and ESO-marked ones with it", async () => {
    await s.vault.writeKv("secret", "adopt/a", { k: "from-vault" });
    await s.sdk.send(new CreateSecretCommand({ Name: "/adopt/plain", SecretString: "old" }));
    await s.sdk.send(
      new CreateSecretCommand({
        Name: "/adopt/eso",
        SecretString: "old",
        Tags: [{ Key: "managed-by", Value: "external-secrets" }],
      }),
    );
    const engine = s.engine();
    const refused = await engine.reconcile([entry("default/a", "adopt/a", "/adopt/eso", { secretKey: "k" })]);
    expect(row(refused, "/adopt/eso").error?.message).toBe(
      'remote secret "/adopt/eso" in store default/aws exists and is not managed by pushsync (managed-by: external-secrets)',
    );

    const adopted = await engine.reconcile([
      entry("default/a", "adopt/a", "/adopt/plain", { secretKey: "k", adopt: true }),
      entry("default/a", "adopt/a", "/adopt/eso", { secretKey: "k", adopt: true }),
    ]);
    expect(row(adopted, "/adopt/plain").outcome).toBe("updated");
    expect(row(adopted, "/adopt/eso").outcome).toBe("updated");
    expect(await s.awsValue("/adopt/plain")).toBe("from-vault");
    expect(await s.awsValue("/adopt/eso")).toBe("from-vault");
    expect((await tags("/adopt/eso"))["managed-by"]).toBe("pushsync");
  });

  it("does not adopt a secret managed by another tool", async () => {
    await s.vault.writeKv("secret", "adopt/b", { k: "from-vault" });
    await s.sdk.send(
      new CreateSecretCommand({
        Name: "/adopt/tf",
        SecretString: "old",
        Tags: [{ Key: "managed-by", Value: "terraform" }],
      }),
    );
    const report = await s
      .engine()
      .reconcile([entry("default/b", "adopt/b", "/adopt/tf", { secretKey: "k", adopt: true })]);
    expect(row(report, "/adopt/tf")).toMatchObject({ outcome: "error", error: { code: "NotOwned" } });
    expect(await s.awsValue("/adopt/tf")).toBe("old");
  });
});

describe("updatePolicy IfNotExists", () => {
  it("creates when absent, then never overwrites", async () => {
    await s.vault.writeKv("secret", "ine/a", { k: "first" });
    const e = entry("default/a", "ine/a", "/ine/a", { secretKey: "k", updatePolicy: "IfNotExists" });
    const engine = s.engine();
    expect(row(await engine.reconcile([e]), "/ine/a").outcome).toBe("created");
    await s.vault.writeKv("secret", "ine/a", { k: "second" });
    const report = await engine.reconcile([e]);
    expect(row(report, "/ine/a")).toMatchObject({
      outcome: "skipped",
      reason: "remote secret exists and updatePolicy is IfNotExists",
    });
    expect(await s.awsValue("/ine/a")).toBe("first");
  });

  it("leaves an existing foreign secret alone without an error", async () => {
    await s.vault.writeKv("secret", "ine/b", { k: "v" });
    await s.sdk.send(new CreateSecretCommand({ Name: "/ine/foreign", SecretString: "theirs" }));
    const report = await s
      .engine()
      .reconcile([
        entry("default/b", "ine/b", "/ine/foreign", { secretKey: "k", updatePolicy: "IfNotExists" }),
      ]);
    expect(row(report, "/ine/foreign").outcome).toBe("skipped");
    expect(await s.awsValue("/ine/foreign")).toBe("theirs");
  });
});

describe("conflicts", () => {
  it("names both PushSecrets when they write one remote key differently, and pushes neither", async () => {
    await s.vault.writeKv("secret", "conf/a", { k: "a" });
    await s.vault.writeKv("secret", "conf/b", { k: "b" });
    const report = await s
      .engine()
      .reconcile([
        entry("team-a/one", "conf/a", "/conf/shared", { secretKey: "k" }),
        entry("team-b/two", "conf/b", "/conf/shared", { secretKey: "k" }),
        entry("team-c/ok", "conf/a", "/conf/ok", { secretKey: "k" }),
      ]);
    const rows = report.entries.filter((e) => e.remoteKey === "/conf/shared");
    expect(rows.map((r) => r.pushSecret).sort()).toEqual(["team-a/one", "team-b/two"]);
    for (const r of rows) {
      expect(r.outcome).toBe("error");
      expect(r.error).toMatchObject({
        code: "Conflict",
        message:
          'remote key "/conf/shared" in store default/aws is written differently by team-a/one and team-b/two',
      });
    }
    expect(row(report, "/conf/ok").outcome).toBe("created");
    expect(s.aws.requests.get("CreateSecret")).toBe(1);
  });

  it("allows two PushSecrets writing the same thing, and names a property clash", async () => {
    await s.vault.writeKv("secret", "conf/c", { k: "c", j: "j" });
    const same = await s
      .engine()
      .reconcile([
        entry("team-a/one", "conf/c", "/conf/same", { secretKey: "k" }),
        entry("team-b/two", "conf/c", "/conf/same", { secretKey: "k" }),
      ]);
    expect(same.entries.map((e) => e.outcome)).toEqual(["created", "created"]);
    expect(s.aws.requests.get("CreateSecret")).toBe(1);

    const clash = await s
      .engine()
      .reconcile([
        entry("team-a/one", "conf/c", "/conf/props", { secretKey: "k", property: "p" }),
        entry("team-b/two", "conf/c", "/conf/props", { secretKey: "j", property: "p" }),
      ]);
    expect(clash.entries[0]!.error?.message).toBe(
      'property "p" of remote key "/conf/props" in store default/aws is written differently by team-a/one and team-b/two',
    );
    const mixed = await s
      .engine()
      .reconcile([
        entry("team-a/one", "conf/c", "/conf/mixed", { secretKey: "k" }),
        entry("team-b/two", "conf/c", "/conf/mixed", { secretKey: "j", property: "p" }),
      ]);
    expect(mixed.entries[0]!.error?.message).toBe(
      'remote key "/conf/mixed" in store default/aws: team-a/one writes the whole value and team-b/two sets property "p"',
    );
  });

  it("rejects a remote key the store cannot name, without touching the others", async () => {
    await s.vault.writeKv("secret", "conf/d", { k: "d" });
    const report = await s
      .engine()
      .reconcile([
        entry("default/bad", "conf/d", "/conf/bad name!", { secretKey: "k" }),
        entry("default/ok", "conf/d", "/conf/fine", { secretKey: "k" }),
      ]);
    expect(row(report, "/conf/bad name!")).toMatchObject({
      outcome: "error",
      error: { code: "InvalidName" },
    });
    expect(row(report, "/conf/fine").outcome).toBe("created");
  });
});
