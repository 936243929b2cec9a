/**
 * The provider contract, checked once for every store: the push engine and the real provider
 * over real HTTP(S) against the local cloud (harness.ts) and the local Vault. What differs
 * between stores (SDK calls, limits, operation names, metadata kinds) is in the harness.
 *
 * How each store learns of a value changed behind pushsync's back, and where it cannot, is
 * documented with the harness's `outOfBandSeenBy`; the repair test asserts exactly that.
 */
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { TAGS_DRIFTED, VALUE_DRIFTED } from "../../shared/engine/diff.ts";
import { createEngine, type Engine, type EngineOptions } from "../../shared/engine/engine.ts";
import type { PushEntry, Report, ReportEntry } from "../../shared/engine/types.ts";
import { createVaultSource, tokenAuth, type VaultSource } from "../../shared/vault/index.ts";
import { capturingLogger, entry, FINGERPRINT_KEY, row, vaultHttp } from "../engine/helpers.ts";
import { harnesses, type Cloud } from "./harness.ts";

const STORE = "conformance/store";

describe.each(harnesses)("$name", (h) => {
  let vault: LocalVault;
  let source: VaultSource;
  let cloud: Cloud;
  const logs: string[] = [];

  beforeAll(async () => {
    [vault, cloud] = await Promise.all([startLocalVault({ port: 0 }), h.start()]);
    source = createVaultSource({ address: vault.url, auth: tokenAuth({ token: vault.rootToken }) });
  });
  afterAll(async () => {
    await cloud?.close();
    await source?.close();
    await vault?.close();
  });
  beforeEach(() => {
    cloud.faults.clear();
    logs.length = 0;
  });

  const engine = (options: Partial<EngineOptions> = {}): Engine =>
    createEngine({
      vault: source,
      providers: new Map([[STORE, cloud.provider]]),
      fingerprintKey: FINGERPRINT_KEY,
      logger: capturingLogger(logs),
      retry: { baseDelayMs: 5 },
      ...options,
    });
  /** An entry pushing key "k" of Vault secret `secret/<path>` to this store. */
  const e = (pushSecret: string, path: string, remoteKey: string, o: Partial<PushEntry> = {}): PushEntry =>
    entry(pushSecret, path, remoteKey, { store: STORE, secretKey: "k", ...o });
  const put = (path: string, k: string) => vault.writeKv("secret", path, { k });
  const count = (ops: string[]) => ops.reduce((n, op) => n + cloud.requests.get(op), 0);
  /**
   * The report row of a remote secret no entry maps. Its key is read back from the store's name,
   * which may not spell it as the manifest did (Azure drops the leading "/"), so match by name.
   */
  const unmappedRow = (report: Report, remoteKey: string): ReportEntry => {
    const name = cloud.provider.mapKey(remoteKey);
    const found = report.entries.filter((r) => cloud.provider.mapKey(r.remoteKey) === name);
    expect(found).toHaveLength(1);
    return found[0]!;
  };

  it("creates, updates when Vault moves on, then leaves the secret unchanged with zero writes", async () => {
    await put("life/a", "first");
    const entries = [e("default/a", "life/a", "/cf/life/a")];
    const eng = engine();
    expect(row(await eng.reconcile(entries), "/cf/life/a").outcome).toBe("created");
    expect(await cloud.value("/cf/life/a")).toBe("first");

    const v2 = await put("life/a", "second");
    const updated = await eng.reconcile(entries);
    expect(row(updated, "/cf/life/a")).toMatchObject({ outcome: "updated", vault: `secret/life/a@${v2}` });
    expect(await cloud.value("/cf/life/a")).toBe("second");

    cloud.requests.reset();
    expect(row(await eng.reconcile(entries), "/cf/life/a").outcome).toBe("unchanged");
    expect(count(h.ops.writes)).toBe(0);
  });

  it("learns a steady state from listings alone: no value reads, no writes", async () => {
    await put("steady/a", "a1");
    await vault.writeKv("secret", "steady/b", { k: "b1", user: "app" });
    const entries = [
      e("default/upper", "steady/a", "/cf/Steady/MixedCase"),
      e("default/separators", "steady/a", "/cf/steady/under_score-dash"),
      e("default/b", "steady/b", "/cf/steady/json", { secretKey: undefined }),
      e("team-a/a", "steady/a", "/cf/steady/merged", { property: "a" }),
      e("team-b/b", "steady/b", "/cf/steady/merged", { property: "b" }),
      // More secrets than one page of the smallest listing (Azure: 25).
      ...Array.from({ length: 30 }, (_, i) => e(`default/many-${i}`, "steady/a", `/cf/steady/many/${i}`)),
    ];
    const eng = engine();
    expect((await eng.reconcile(entries)).totals).toMatchObject({ created: entries.length, error: 0 });

    cloud.requests.reset();
    vault.requests.reset();
    const steady = await eng.reconcile(entries);
    expect(steady.entries.filter((r) => r.pushSecret).map((r) => r.outcome)).toEqual(
      entries.map(() => "unchanged"),
    );
    const ops = Object.keys(cloud.requests.snapshot());
    expect(ops.length).toBeGreaterThan(0);
    expect(ops.filter((op) => !h.ops.list.includes(op))).toEqual([]);
    expect(count(h.ops.valueReads)).toBe(0);
    expect(count(h.ops.writes)).toBe(0);
    expect(steady.vaultReads.data).toBe(0);
  });

  describe("ownership", () => {
    it("refuses a secret created outside pushsync, leaving its value", async () => {
      await put("own/a", "from-vault");
      await cloud.createForeign("/cf/own/foreign", "theirs");
      cloud.requests.reset();
      const report = await engine().reconcile([e("default/a", "own/a", "/cf/own/foreign")]);
      expect(row(report, "/cf/own/foreign")).toMatchObject({
        outcome: "error",
        error: {
          code: "NotOwned",
          message: `remote secret "/cf/own/foreign" in store ${STORE} exists and is not managed by pushsync`,
        },
      });
      expect(count(h.ops.writes)).toBe(0);
      expect(await cloud.value("/cf/own/foreign")).toBe("theirs");
    });

    it("adopts an unmarked secret with adopt: true, and owns it afterwards", async () => {
      await put("own/b", "from-vault");
      await cloud.createForeign("/cf/own/plain", "old");
      const eng = engine();
      const adopted = await eng.reconcile([e("default/b", "own/b", "/cf/own/plain", { adopt: true })]);
      expect(row(adopted, "/cf/own/plain").outcome).toBe("updated");
      expect(await cloud.value("/cf/own/plain")).toBe("from-vault");
      // Owned now: without adopt it is pushsync's own, and up to date.
      expect(
        row(await eng.reconcile([e("default/b", "own/b", "/cf/own/plain")]), "/cf/own/plain").outcome,
      ).toBe("unchanged");
    });

    it("refuses an ESO-marked secret without adopt, and adopts it with adopt: true", async () => {
      await put("own/c", "from-vault");
      await cloud.createForeign("/cf/own/eso", "old", "external-secrets");
      const eng = engine();
      const refused = await eng.reconcile([e("default/c", "own/c", "/cf/own/eso")]);
      expect(row(refused, "/cf/own/eso").error).toMatchObject({
        code: "NotOwned",
        message: `remote secret "/cf/own/eso" in store ${STORE} exists and is not managed by pushsync (managed-by: external-secrets)`,
      });
      expect(await cloud.value("/cf/own/eso")).toBe("old");

      const adopted = await eng.reconcile([e("default/c", "own/c", "/cf/own/eso", { adopt: true })]);
      expect(row(adopted, "/cf/own/eso").outcome).toBe("updated");
      expect(await cloud.value("/cf/own/eso")).toBe("from-vault");
      expect(row(await eng.reconcile([e("default/c", "own/c", "/cf/own/eso")]), "/cf/own/eso").outcome).toBe(
        "unchanged",
      );
    });
  });

  it("updatePolicy IfNotExists creates once, then never overwrites, nor touches a foreign secret", async () => {
    await put("ine/a", "first");
    await cloud.createForeign("/cf/ine/foreign", "theirs");
    const entries = [
      e("default/a", "ine/a", "/cf/ine/a", { updatePolicy: "IfNotExists" }),
      e("default/f", "ine/a", "/cf/ine/foreign", { updatePolicy: "IfNotExists" }),
    ];
    const eng = engine();
    const first = await eng.reconcile(entries);
    expect(row(first, "/cf/ine/a").outcome).toBe("created");
    expect(row(first, "/cf/ine/foreign").outcome).toBe("skipped");

    await put("ine/a", "second");
    const report = await eng.reconcile(entries);
    expect(row(report, "/cf/ine/a")).toMatchObject({
      outcome: "skipped",
      reason: "remote secret exists and updatePolicy is IfNotExists",
    });
    expect(await cloud.value("/cf/ine/a")).toBe("first");
    expect(await cloud.value("/cf/ine/foreign")).toBe("theirs");
  });

  describe("deletion policies", () => {
    it("a mapping removed from the PushSecret: Delete deletes the remote secret, None keeps it", async () => {
      await put("del/map-d", "d");
      await put("del/map-n", "n");
      const eng = engine();
      await eng.reconcile([
        e("default/d", "del/map-d", "/cf/del/old-d", { deletionPolicy: "Delete" }),
        e("default/n", "del/map-n", "/cf/del/old-n", { deletionPolicy: "None" }),
      ]);
      // Each PushSecret now maps its Vault secret to another remote key.
      const report = await eng.reconcile([
        e("default/d", "del/map-d", "/cf/del/new-d", { deletionPolicy: "Delete" }),
        e("default/n", "del/map-n", "/cf/del/new-n", { deletionPolicy: "None" }),
      ]);
      expect(unmappedRow(report, "/cf/del/old-d").outcome).toBe("deleted");
      expect(await cloud.isLive("/cf/del/old-d")).toBe(false);
      expect(unmappedRow(report, "/cf/del/old-n")).toMatchObject({
        outcome: "skipped",
        reason: "no longer mapped; deletionPolicy None keeps it",
      });
      expect(await cloud.value("/cf/del/old-n")).toBe("n");
      expect(await cloud.value("/cf/del/new-d")).toBe("d");
    });

    it("a Vault secret deleted: Delete deletes, None keeps; undeleted in Vault, it is pushed again", async () => {
      await put("del/vault-d", "d");
      await put("del/vault-n", "n");
      const entries = [
        e("default/d", "del/vault-d", "/cf/del/vault-d", { deletionPolicy: "Delete" }),
        e("default/n", "del/vault-n", "/cf/del/vault-n", { deletionPolicy: "None" }),
      ];
      const eng = engine();
      expect((await eng.reconcile(entries)).totals).toMatchObject({ created: 2 });
      expect(await vaultHttp(vault, "DELETE", "secret/data/del/vault-d")).toBe(204);
      expect(await vaultHttp(vault, "DELETE", "secret/data/del/vault-n")).toBe(204);

      const report = await eng.reconcile(entries);
      expect(row(report, "/cf/del/vault-d").outcome).toBe("deleted");
      expect(await cloud.isLive("/cf/del/vault-d")).toBe(false);
      expect(row(report, "/cf/del/vault-n")).toMatchObject({
        outcome: "skipped",
        reason: "Vault source deleted; deletionPolicy None keeps the remote secret",
      });
      expect(await cloud.value("/cf/del/vault-n")).toBe("n");
      expect((await eng.reconcile(entries)).totals.deleted).toBe(0);

      expect(await vaultHttp(vault, "POST", "secret/undelete/del/vault-d", { versions: [1] })).toBe(204);
      const back = await eng.reconcile(entries);
      expect(["created", "updated"]).toContain(row(back, "/cf/del/vault-d").outcome);
      expect(await cloud.value("/cf/del/vault-d")).toBe("d");
    });
  });

  it("never goes backwards: an event for an older version than the destination records is skipped", async () => {
    const replica = await startLocalVault({ port: 0 });
    const replicaSource = createVaultSource({
      address: replica.url,
      auth: tokenAuth({ token: replica.rootToken }),
    });
    try {
      await put("back/a", "v1");
      await put("back/a", "v2");
      const v3 = await put("back/a", "v3");
      const entries = [e("default/back", "back/a", "/cf/back/a")];
      await engine().reconcile(entries);
      // A Vault that lags behind (a replica, a restore) still reports version 1.
      await replica.writeKv("secret", "back/a", { k: "v1" });
      cloud.requests.reset();

      const lagging = engine({ vault: replicaSource });
      const skipped = {
        outcome: "skipped",
        reason: `destination records secret/back/a@${v3}, newer than version 1`,
      };
      const event = await lagging.pushPaths(entries, [{ mount: "secret", path: "back/a", version: 1 }]);
      expect(row(event, "/cf/back/a")).toMatchObject(skipped);
      expect(row(await lagging.reconcile(entries), "/cf/back/a")).toMatchObject(skipped);
      expect(count(h.ops.writes)).toBe(0);
      expect(await cloud.value("/cf/back/a")).toBe("v3");
    } finally {
      await replicaSource.close();
      await replica.close();
    }
  });

  it("merges properties from two PushSecrets into one JSON secret, keeping the other's on change", async () => {
    await vault.writeKv("secret", "prop/a", { user: "u1" });
    await vault.writeKv("secret", "prop/b", { pass: "p1" });
    const entries = [
      e("team-a/user", "prop/a", "/cf/prop/shared", { secretKey: "user", property: "username" }),
      e("team-b/pass", "prop/b", "/cf/prop/shared", { secretKey: "pass", property: "password" }),
    ];
    const eng = engine();
    const first = await eng.reconcile(entries);
    expect(row(first, "/cf/prop/shared", "username")).toMatchObject({
      pushSecret: "team-a/user",
      outcome: "created",
    });
    expect(row(first, "/cf/prop/shared", "password")).toMatchObject({
      pushSecret: "team-b/pass",
      outcome: "created",
    });
    expect(JSON.parse((await cloud.value("/cf/prop/shared"))!)).toEqual({ username: "u1", password: "p1" });

    await vault.writeKv("secret", "prop/a", { user: "u2" });
    const event = await eng.pushPaths(entries, [{ mount: "secret", path: "prop/a" }]);
    expect(row(event, "/cf/prop/shared", "username").outcome).toBe("updated");
    expect(JSON.parse((await cloud.value("/cf/prop/shared"))!)).toEqual({ username: "u2", password: "p1" });
  });

  it("writes the PushSecret's metadata, and follows its changes", async () => {
    await put("meta/a", "m");
    const [one, two] = h.metadata;
    const eng = engine();
    const first = await eng.reconcile([e("default/m", "meta/a", "/cf/meta/a", { metadata: one.push })]);
    expect(row(first, "/cf/meta/a").outcome).toBe("created");
    expect(await cloud.metadata("/cf/meta/a")).toEqual(one.read);

    const second = await eng.reconcile([e("default/m", "meta/a", "/cf/meta/a", { metadata: two.push })]);
    expect(row(second, "/cf/meta/a").outcome).toBe("updated");
    expect(await cloud.metadata("/cf/meta/a")).toEqual(two.read);
    expect(await cloud.value("/cf/meta/a")).toBe("m");
  });

  it("writes back its tags edited behind pushsync's back, seen in the listing; others' tags start no write", async () => {
    await put("meta/drift", "d");
    const [one] = h.metadata;
    const tags = one.push.tags ?? one.push.labels ?? {};
    const entries = [e("default/drift", "meta/drift", "/cf/meta/drift", { metadata: one.push })];
    const eng = engine();
    expect(row(await eng.reconcile(entries), "/cf/meta/drift").outcome).toBe("created");

    // A tag someone else adds (cost allocation, automation) is not drift: no write for it.
    await cloud.retag("/cf/meta/drift", { ...tags, costcenter: "added-by-hand" });
    cloud.requests.reset();
    expect(row(await eng.reconcile(entries), "/cf/meta/drift").outcome).toBe("unchanged");
    expect(count(h.ops.writes)).toBe(0);

    // One of the PushSecret's own tags changed is: the push restores the PushSecret's set.
    await cloud.retag("/cf/meta/drift", { ...tags, team: "edited-by-hand" });
    cloud.requests.reset();
    expect(row(await eng.reconcile(entries), "/cf/meta/drift")).toMatchObject({
      outcome: "updated",
      reason: TAGS_DRIFTED,
    });
    expect(count(h.ops.valueReads)).toBe(0);
    expect(await cloud.metadata("/cf/meta/drift")).toEqual(one.read);
    expect(await cloud.value("/cf/meta/drift")).toBe("d");

    cloud.requests.reset();
    expect(row(await eng.reconcile(entries), "/cf/meta/drift").outcome).toBe("unchanged");
    expect(count(h.ops.writes)).toBe(0);
  });

  it("refuses a value one byte over the store's limit, naming the limit; the others are pushed", async () => {
    expect(cloud.provider.limits.maxValueBytes).toBe(h.maxValueBytes);
    // Two-byte characters: the limit counts bytes, not characters.
    await put("size/max", "é".repeat(h.maxValueBytes / 2));
    await put("size/over", `${"é".repeat(h.maxValueBytes / 2)}x`);
    await put("size/small", "s");
    const report = await engine().reconcile([
      e("default/max", "size/max", "/cf/size/max"),
      e("default/over", "size/over", "/cf/size/over"),
      e("default/small", "size/small", "/cf/size/small"),
    ]);
    expect(row(report, "/cf/size/over")).toMatchObject({ outcome: "error", error: { code: "TooLarge" } });
    expect(row(report, "/cf/size/over").error!.message).toContain(String(h.maxValueBytes));
    expect(await cloud.isLive("/cf/size/over")).toBe(false);
    expect(row(report, "/cf/size/max").outcome).toBe("created");
    expect(Buffer.byteLength((await cloud.value("/cf/size/max")) ?? "")).toBe(h.maxValueBytes);
    expect(row(report, "/cf/size/small").outcome).toBe("created");
  });

  it("refuses remote keys the store cannot name, stating the rule; the others are pushed", async () => {
    await put("names/a", "n");
    const report = await engine().reconcile([
      ...h.invalidKeys.map(({ key }, i) => e(`default/bad-${i}`, "names/a", key)),
      e("default/good", "names/a", "/cf/names/good"),
      e("default/longest", "names/a", h.longestKey),
    ]);
    for (const { key, rule } of h.invalidKeys) {
      const r = row(report, key);
      expect(r).toMatchObject({ outcome: "error", error: { code: "InvalidName" } });
      expect(r.error!.message).toContain(rule);
    }
    expect(row(report, "/cf/names/good").outcome).toBe("created");
    expect(row(report, h.longestKey).outcome).toBe("created");
    expect(await cloud.value(h.longestKey)).toBe("n");
  });

  // Retry-After 0: the local Azure would otherwise ask for a second.
  it("rides out throttling (429) of listing and writing through the resilience wrapper", async () => {
    await put("thr/a", "t");
    const [list] = h.ops.list;
    cloud.requests.reset();
    cloud.faults.inject({ operation: list, status: 429, times: 1, retryAfterSeconds: 0 });
    cloud.faults.inject({ operation: h.ops.create, status: 429, times: 2, retryAfterSeconds: 0 });
    const report = await engine().reconcile([e("default/thr", "thr/a", "/cf/thr/a")]);
    expect(row(report, "/cf/thr/a").outcome).toBe("created");
    expect(cloud.requests.get(list!)).toBeGreaterThanOrEqual(2);
    expect(cloud.requests.get(h.ops.create)).toBe(3);
    expect(await cloud.value("/cf/thr/a")).toBe("t");
  });

  it("a push bringing back a deleted secret, throttled half-way, completes on retry", async () => {
    await put("thr/restore", "r");
    const entries = [e("default/r", "thr/restore", "/cf/thr/restore", { deletionPolicy: "Delete" })];
    const eng = engine();
    await eng.reconcile(entries);
    await vaultHttp(vault, "DELETE", "secret/data/thr/restore");
    expect(row(await eng.reconcile(entries), "/cf/thr/restore").outcome).toBe("deleted");
    await vaultHttp(vault, "POST", "secret/undelete/thr/restore", { versions: [1] });

    cloud.requests.reset();
    cloud.faults.inject({ operation: h.ops.setValue, status: 429, times: 1, retryAfterSeconds: 0 });
    const report = await eng.reconcile(entries);
    expect(row(report, "/cf/thr/restore").error).toBeUndefined();
    expect(cloud.requests.get(h.ops.setValue)).toBe(2);
    expect(await cloud.value("/cf/thr/restore")).toBe("r");
  });

  it(`repairs a value changed behind pushsync's back (seen by: ${h.outOfBandSeenBy})`, async () => {
    await put("rep/a", "from-vault");
    const entries = [e("default/rep", "rep/a", "/cf/rep/a")];
    const changed = [{ mount: "secret", path: "rep/a" }];
    const eng = engine();
    await eng.reconcile(entries);
    await cloud.setValue("/cf/rep/a", "changed-by-hand");

    const reconciled = await eng.reconcile(entries);
    const repaired = { outcome: "updated", reason: VALUE_DRIFTED };
    if (h.outOfBandSeenBy === "reconcile") {
      expect(row(reconciled, "/cf/rep/a")).toMatchObject(repaired);
    } else {
      expect(row(reconciled, "/cf/rep/a").outcome).toBe("unchanged");
      expect(await cloud.value("/cf/rep/a")).toBe("changed-by-hand");
      expect(row(await eng.pushPaths(entries, changed), "/cf/rep/a")).toMatchObject(repaired);
    }
    expect(await cloud.value("/cf/rep/a")).toBe("from-vault");
    // Settled, whichever way the store is looked at.
    expect(row(await eng.reconcile(entries), "/cf/rep/a").outcome).toBe("unchanged");
    expect(row(await eng.pushPaths(entries, changed), "/cf/rep/a").outcome).toBe("unchanged");
  });

  it("brings back a secret deleted behind pushsync's back on the next reconcile", async () => {
    await put("rep/gone", "from-vault");
    const entries = [e("default/gone", "rep/gone", "/cf/rep/gone")];
    const eng = engine();
    await eng.reconcile(entries);
    await cloud.remove("/cf/rep/gone");
    expect(await cloud.isLive("/cf/rep/gone")).toBe(false);

    expect(["created", "updated"]).toContain(row(await eng.reconcile(entries), "/cf/rep/gone").outcome);
    expect(await cloud.value("/cf/rep/gone")).toBe("from-vault");
    expect(row(await eng.reconcile(entries), "/cf/rep/gone").outcome).toBe("unchanged");
  });

  it("no planted value appears in a log line, an error or the report", async () => {
    const canary = `canary-${randomBytes(8).toString("hex")}`;
    const remoteCanary = `remote-canary-${randomBytes(8).toString("hex")}`;
    const handCanary = `hand-canary-${randomBytes(8).toString("hex")}`;
    await vault.writeKv("secret", "canary/app", { k: canary, note: `not json ${canary}` });
    await put("canary/big", `${canary}${"x".repeat(h.maxValueBytes)}`);
    await cloud.createForeign("/cf/canary/foreign", remoteCanary);
    await cloud.createForeign("/cf/canary/text", remoteCanary);
    const entries = [
      e("default/ok", "canary/app", "/cf/canary/ok"),
      e("default/json", "canary/app", "/cf/canary/json", { secretKey: undefined }),
      e("default/missing", "canary/app", "/cf/canary/missing", { secretKey: "nope" }),
      e("default/big", "canary/big", "/cf/canary/big"),
      e("default/foreign", "canary/app", "/cf/canary/foreign"),
      e("default/text", "canary/app", "/cf/canary/text", { property: "p", adopt: true }),
    ];
    const eng = engine();
    const plan = await eng.plan(entries);
    const report = await eng.apply(plan);
    expect(await cloud.value("/cf/canary/ok")).toBe(canary);
    expect(
      report.entries
        .filter((r) => r.outcome === "error")
        .map((r) => r.pushSecret)
        .sort(),
    ).toEqual(["default/big", "default/foreign", "default/missing", "default/text"]);

    // A hand-set value flows back through the repair.
    await cloud.setValue("/cf/canary/ok", handCanary);
    const repaired = [
      await eng.reconcile(entries),
      await eng.pushPaths(entries, [{ mount: "secret", path: "canary/app" }]),
    ];
    expect(await cloud.value("/cf/canary/ok")).toBe(canary);

    const outputs = [
      ...logs,
      ...[report, ...repaired].flatMap((r) => [
        JSON.stringify(r),
        ...r.entries.map((x) => x.error?.message ?? ""),
      ]),
      JSON.stringify(plan),
      inspect(plan, { depth: 20 }),
    ];
    expect(logs.length).toBeGreaterThanOrEqual(entries.length);
    for (const text of outputs) {
      for (const planted of [canary, remoteCanary, handCanary]) expect(text).not.toContain(planted);
    }
  });
});
