/**
 * Deletion policies, late and duplicated events, never going backwards, repairs, retried pushes,
 * throttling and failing stores: the engine against the local Vault and the local AWS over HTTP.
 */
import { DescribeSecretCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startLocalAws } from "../../infra/local/aws/index.ts";
import { startLocalVault } from "../../infra/local/vault/index.ts";
import { createVaultSource, tokenAuth } from "../../shared/vault/index.ts";
import { awsWrites, entry, row, startStack, vaultHttp, type Stack } from "./helpers.ts";

let s: Stack;
beforeAll(async () => {
  s = await startStack();
});
afterAll(async () => {
  await s.close();
});
beforeEach(() => {
  s.aws.reset();
  s.vault.faults.clear();
  s.logs.length = 0;
});

async function deletedDate(name: string): Promise<Date | undefined> {
  return (await s.sdk.send(new DescribeSecretCommand({ SecretId: name }))).DeletedDate;
}

describe("deletionPolicy", () => {
  it("Delete removes a secret the PushSecret no longer maps; None keeps it", async () => {
    await s.vault.writeKv("secret", "del/a", { k: "v" });
    await s.vault.writeKv("secret", "del/b", { k: "v" });
    const engine = s.engine();
    await engine.reconcile([
      entry("default/del", "del/a", "/del/old", { secretKey: "k", deletionPolicy: "Delete" }),
      entry("default/keep", "del/b", "/del/kept", { secretKey: "k" }),
    ]);
    // Both PushSecrets now map their path elsewhere.
    const report = await engine.reconcile([
      entry("default/del", "del/a", "/del/new", { secretKey: "k", deletionPolicy: "Delete" }),
      entry("default/keep", "del/b", "/del/kept2", { secretKey: "k" }),
    ]);
    expect(row(report, "/del/old")).toMatchObject({ pushSecret: "default/del", outcome: "deleted" });
    expect(await deletedDate("/del/old")).toBeInstanceOf(Date);
    expect(row(report, "/del/new").outcome).toBe("created");
    expect(row(report, "/del/kept")).toMatchObject({
      pushSecret: "default/keep",
      outcome: "skipped",
      reason: "no longer mapped; deletionPolicy None keeps it",
    });
    expect(await deletedDate("/del/kept")).toBeUndefined();
  });

  it("ownership comes from the Vault path: every PushSecret reading it must say Delete", async () => {
    await s.vault.writeKv("secret", "del/shared", { k: "v" });
    const engine = s.engine();
    await engine.reconcile([
      entry("default/del", "del/shared", "/del/shared-old", { secretKey: "k", deletionPolicy: "Delete" }),
    ]);
    const vetoed = await engine.reconcile([
      entry("default/del", "del/shared", "/del/shared-new", { secretKey: "k", deletionPolicy: "Delete" }),
      entry("default/reader", "del/shared", "/del/shared/reader", { secretKey: "k" }),
    ]);
    expect(row(vetoed, "/del/shared-old")).toMatchObject({
      pushSecret: "default/del,default/reader",
      outcome: "skipped",
    });
    const deleted = await engine.reconcile([
      entry("default/del", "del/shared", "/del/shared-new", { secretKey: "k", deletionPolicy: "Delete" }),
    ]);
    expect(row(deleted, "/del/shared-old").outcome).toBe("deleted");
    expect(row(deleted, "/del/shared/reader").outcome).toBe("deleted");
  });

  it("keeps a managed secret no PushSecret claims any more", async () => {
    await s.vault.writeKv("secret", "del/gone-ps", { k: "v" });
    await s.vault.writeKv("secret", "del/other", { k: "v" });
    const engine = s.engine();
    await engine.reconcile([
      entry("default/gone", "del/gone-ps", "/del/orphan", { secretKey: "k", deletionPolicy: "Delete" }),
    ]);
    const report = await engine.reconcile([
      entry("default/other", "del/other", "/del/other", { secretKey: "k", deletionPolicy: "Delete" }),
    ]);
    expect(row(report, "/del/orphan")).toMatchObject({
      outcome: "skipped",
      reason: "managed by pushsync but mapped by no PushSecret; kept",
    });
    expect(row(report, "/del/orphan").pushSecret).toBeUndefined();
    expect(await deletedDate("/del/orphan")).toBeUndefined();
  });

  it("follows a Vault secret soft-deleted, destroyed or removed with its metadata (Delete), or keeps it (None)", async () => {
    for (const p of ["soft", "destroyed", "metadata", "none"])
      await s.vault.writeKv("secret", `vdel/${p}`, { k: p });
    const entries = [
      entry("default/soft", "vdel/soft", "/vdel/soft", { secretKey: "k", deletionPolicy: "Delete" }),
      entry("default/destroyed", "vdel/destroyed", "/vdel/destroyed", {
        secretKey: "k",
        deletionPolicy: "Delete",
      }),
      entry("default/metadata", "vdel/metadata", "/vdel/metadata", {
        secretKey: "k",
        deletionPolicy: "Delete",
      }),
      entry("default/none", "vdel/none", "/vdel/none", { secretKey: "k", deletionPolicy: "None" }),
    ];
    const engine = s.engine();
    expect((await engine.reconcile(entries)).totals.created).toBe(4);

    expect(await vaultHttp(s.vault, "DELETE", "secret/data/vdel/soft")).toBe(204);
    expect(await vaultHttp(s.vault, "PUT", "secret/destroy/vdel/destroyed", { versions: [1] })).toBe(204);
    expect(await vaultHttp(s.vault, "DELETE", "secret/metadata/vdel/metadata")).toBe(204);
    expect(await vaultHttp(s.vault, "DELETE", "secret/data/vdel/none")).toBe(204);

    const report = await engine.reconcile(entries);
    for (const key of ["/vdel/soft", "/vdel/destroyed", "/vdel/metadata"]) {
      expect(row(report, key).outcome).toBe("deleted");
      expect(await deletedDate(key)).toBeInstanceOf(Date);
    }
    expect(row(report, "/vdel/none")).toMatchObject({
      outcome: "skipped",
      reason: "Vault source deleted; deletionPolicy None keeps the remote secret",
    });
    expect(await s.awsValue("/vdel/none")).toBe("none");

    // Nothing more to do afterwards.
    const again = await engine.reconcile(entries);
    expect(row(again, "/vdel/soft")).toMatchObject({
      outcome: "unchanged",
      reason: "Vault source deleted; remote secret absent",
    });
    expect(again.totals.deleted).toBe(0);

    // Undeleted in Vault: the remote secret is restored and written again.
    expect(await vaultHttp(s.vault, "POST", "secret/undelete/vdel/soft", { versions: [1] })).toBe(204);
    const restored = await engine.reconcile(entries);
    expect(row(restored, "/vdel/soft").outcome).toBe("updated");
    expect(await deletedDate("/vdel/soft")).toBeUndefined();
    expect(await s.awsValue("/vdel/soft")).toBe("soft");
  });

  it("an event for a deleted Vault secret deletes through describe(), without listing", async () => {
    await s.vault.writeKv("secret", "vdel/event", { k: "e" });
    const entries = [
      entry("default/ev", "vdel/event", "/vdel/event", { secretKey: "k", deletionPolicy: "Delete" }),
    ];
    const engine = s.engine();
    await engine.pushPaths(entries, [{ mount: "secret", path: "vdel/event" }]);
    await vaultHttp(s.vault, "DELETE", "secret/data/vdel/event");
    s.aws.requests.reset();
    const report = await engine.pushPaths(entries, [{ mount: "secret", path: "vdel/event" }]);
    expect(row(report, "/vdel/event").outcome).toBe("deleted");
    expect(s.aws.requests.get("ListSecrets")).toBe(0);
    expect(s.aws.requests.get("DescribeSecret")).toBe(1);
  });
});

describe("events", () => {
  it("pushes only the entries reading a changed path, learning state with describe()", async () => {
    await s.vault.writeKv("secret", "ev/a", { k: "a1" });
    await s.vault.writeKv("secret", "ev/b", { k: "b1" });
    const entries = [
      entry("default/a", "ev/a", "/ev/a", { secretKey: "k" }),
      entry("default/b", "ev/b", "/ev/b", { secretKey: "k" }),
    ];
    const engine = s.engine();
    await engine.reconcile(entries);
    const v2 = await s.vault.writeKv("secret", "ev/a", { k: "a2" });
    s.aws.requests.reset();
    const report = await engine.pushPaths(entries, [{ mount: "secret", path: "ev/a", version: v2 }]);
    expect(report.entries.map((e) => e.remoteKey)).toEqual(["/ev/a"]);
    expect(row(report, "/ev/a").outcome).toBe("updated");
    expect(s.aws.requests.get("ListSecrets")).toBe(0);
    expect(s.aws.requests.get("DescribeSecret")).toBe(1);
    expect(await s.awsValue("/ev/a")).toBe("a2");
  });

  it("late and duplicated events change nothing", async () => {
    const v1 = await s.vault.writeKv("secret", "ev/late", { k: "one" });
    const e = [entry("default/late", "ev/late", "/ev/late", { secretKey: "k" })];
    const engine = s.engine();
    await engine.pushPaths(e, [{ mount: "secret", path: "ev/late", version: v1 }]);
    const v2 = await s.vault.writeKv("secret", "ev/late", { k: "two" });
    expect(
      row(await engine.pushPaths(e, [{ mount: "secret", path: "ev/late", version: v2 }]), "/ev/late").outcome,
    ).toBe("updated");
    s.aws.requests.reset();
    const duplicate = await engine.pushPaths(e, [{ mount: "secret", path: "ev/late", version: v2 }]);
    const late = await engine.pushPaths(e, [{ mount: "secret", path: "ev/late", version: v1 }]);
    expect(row(duplicate, "/ev/late").outcome).toBe("unchanged");
    expect(row(late, "/ev/late").outcome).toBe("unchanged");
    expect(awsWrites(s.aws)).toBe(0);
    expect(await s.awsValue("/ev/late")).toBe("two");
  });

  it("an event ahead of what Vault reports is a retryable error, not a push", async () => {
    const v = await s.vault.writeKv("secret", "ev/ahead", { k: "x" });
    const report = await s
      .engine()
      .pushPaths(
        [entry("default/ahead", "ev/ahead", "/ev/ahead", { secretKey: "k" })],
        [{ mount: "secret", path: "ev/ahead", version: v + 1 }],
      );
    expect(row(report, "/ev/ahead")).toMatchObject({
      outcome: "error",
      error: {
        code: "Unavailable",
        retryable: true,
        message: `Vault reports version ${v} of secret/ev/ahead, older than the changed version ${v + 1}`,
      },
    });
    expect(awsWrites(s.aws)).toBe(0);
  });

  it("never goes backwards: a lagging Vault does not overwrite a newer version", async () => {
    const replica = await startLocalVault({ port: 0 });
    const replicaSource = createVaultSource({
      address: replica.url,
      auth: tokenAuth({ token: replica.rootToken }),
    });
    try {
      await s.vault.writeKv("secret", "back/a", { k: "v1" });
      await s.vault.writeKv("secret", "back/a", { k: "v2" });
      const v3 = await s.vault.writeKv("secret", "back/a", { k: "v3" });
      await replica.writeKv("secret", "back/a", { k: "v1" });
      const e = [entry("default/back", "back/a", "/back/a", { secretKey: "k" })];
      await s.engine().reconcile(e);

      const report = await s.engine({ vault: replicaSource }).reconcile(e);
      expect(row(report, "/back/a")).toMatchObject({
        outcome: "skipped",
        reason: `destination records secret/back/a@${v3}, newer than version 1`,
      });
      expect(await s.awsValue("/back/a")).toBe("v3");
      expect(s.aws.requests.get("PutSecretValue")).toBe(0);
    } finally {
      await replicaSource.close();
      await replica.close();
    }
  });
});

describe("repairs and retries", () => {
  it("repairs a value changed behind pushsync's back, then settles", async () => {
    await s.vault.writeKv("secret", "rep/a", { k: "vault-value" });
    const e = [entry("default/rep", "rep/a", "/rep/a", { secretKey: "k" })];
    const engine = s.engine();
    await engine.reconcile(e);
    await s.sdk.send(new PutSecretValueCommand({ SecretId: "/rep/a", SecretString: "changed-by-hand" }));

    const report = await engine.reconcile(e);
    expect(row(report, "/rep/a").outcome).toBe("updated");
    expect(await s.awsValue("/rep/a")).toBe("vault-value");
    expect(row(await engine.reconcile(e), "/rep/a").outcome).toBe("unchanged");
  });

  it("a push retried after a partial failure carries the same token: no new AWS version", async () => {
    await s.vault.writeKv("secret", "retry/a", { k: "one" });
    const e = [entry("default/retry", "retry/a", "/retry/a", { secretKey: "k" })];
    const engine = s.engine({ retry: { maxAttempts: 2, baseDelayMs: 1 } });
    await engine.reconcile(e);
    await s.vault.writeKv("secret", "retry/a", { k: "two" });

    // The value is written, the marker tags are not.
    s.aws.faults.inject({ operation: "TagResource", status: 500, times: 2 });
    const failed = await engine.reconcile(e);
    expect(row(failed, "/retry/a")).toMatchObject({
      outcome: "error",
      error: { code: "Unavailable", retryable: true },
    });
    // The wrapper retried the whole push once: two PutSecretValue calls, one new version.
    expect(s.aws.requests.get("PutSecretValue")).toBe(2);
    expect(await s.awsVersions("/retry/a")).toBe(2);

    const retried = await engine.reconcile(e);
    expect(row(retried, "/retry/a").outcome).toBe("updated");
    expect(s.aws.requests.get("PutSecretValue")).toBe(3);
    expect(await s.awsVersions("/retry/a")).toBe(2);
    expect(await s.awsValue("/retry/a")).toBe("two");
    expect(row(await engine.reconcile(e), "/retry/a").outcome).toBe("unchanged");
  });

  it("rides out throttling through the resilience wrapper, honouring Retry-After", async () => {
    await s.vault.writeKv("secret", "thr/a", { k: "t" });
    await s.vault.writeKv("secret", "thr/b", { k: "t" });
    const engine = s.engine();
    s.aws.faults.inject({ operation: "CreateSecret", status: 429, times: 2 });
    s.aws.faults.inject({ operation: "ListSecrets", status: 503, times: 1 });
    const first = await engine.reconcile([entry("default/thr", "thr/a", "/thr/a", { secretKey: "k" })]);
    expect(row(first, "/thr/a").outcome).toBe("created");
    expect(s.aws.requests.get("CreateSecret")).toBe(3);
    expect(s.aws.requests.get("ListSecrets")).toBe(2);

    s.aws.faults.inject({ operation: "CreateSecret", status: 429, times: 1, retryAfterSeconds: 1 });
    const started = Date.now();
    const second = await engine.reconcile([entry("default/thr", "thr/b", "/thr/b", { secretKey: "k" })]);
    expect(row(second, "/thr/b").outcome).toBe("created");
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("gives up after the bounded attempts with a retryable error", async () => {
    await s.vault.writeKv("secret", "thr/c", { k: "t" });
    s.aws.faults.inject({ operation: "CreateSecret", status: 429 });
    const report = await s
      .engine({ retry: { maxAttempts: 3, baseDelayMs: 1 } })
      .reconcile([entry("default/thr", "thr/c", "/thr/c", { secretKey: "k" })]);
    expect(row(report, "/thr/c")).toMatchObject({
      outcome: "error",
      error: { code: "Throttled", retryable: true },
    });
    expect(s.aws.requests.get("CreateSecret")).toBe(3);
  });
});

describe("failure isolation", () => {
  it("a failing store never stops the others", async () => {
    const broken = await startLocalAws({ port: 0 });
    try {
      broken.faults.inject({ status: 500 });
      await s.vault.writeKv("secret", "iso/a", { k: "a" });
      const engine = s.engine({
        providers: new Map([
          ["default/aws", s.provider],
          ["default/broken", s.awsProvider("default/broken", broken)],
        ]),
        retry: { maxAttempts: 2, baseDelayMs: 1 },
      });
      const report = await engine.reconcile([
        entry("default/a", "iso/a", "/iso/a", { secretKey: "k" }),
        entry("default/a", "iso/a", "/iso/a", { secretKey: "k", store: "default/broken" }),
      ]);
      const ok = report.entries.find((r) => r.store === "default/aws")!;
      const bad = report.entries.find((r) => r.store === "default/broken")!;
      expect(ok.outcome).toBe("created");
      expect(bad).toMatchObject({ outcome: "error", error: { code: "Unavailable", retryable: true } });
      expect(report.totals).toMatchObject({ created: 1, error: 1 });
    } finally {
      await broken.close();
    }
  });

  it("a sealed Vault is a retryable error, never a deletion", async () => {
    await s.vault.writeKv("secret", "iso/sealed", { k: "v" });
    const e = [
      entry("default/sealed", "iso/sealed", "/iso/sealed", { secretKey: "k", deletionPolicy: "Delete" }),
    ];
    const engine = s.engine({ retry: { maxAttempts: 2, baseDelayMs: 1 } });
    await engine.reconcile(e);
    s.vault.seal();
    try {
      const report = await engine.reconcile(e);
      expect(row(report, "/iso/sealed")).toMatchObject({
        outcome: "error",
        error: { code: "Unavailable", retryable: true },
      });
    } finally {
      s.vault.unseal();
    }
    expect(await deletedDate("/iso/sealed")).toBeUndefined();
    expect(s.aws.requests.get("DeleteSecret")).toBe(0);
  });

  it("an entry whose store has no provider is an error naming the store", async () => {
    await s.vault.writeKv("secret", "iso/b", { k: "b" });
    const report = await s
      .engine()
      .reconcile([entry("default/b", "iso/b", "/iso/b", { secretKey: "k", store: "nowhere" })]);
    expect(row(report, "/iso/b").error?.message).toBe("no provider is configured for store nowhere");
  });
});
