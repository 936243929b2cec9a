/**
 * First syncs: how a full plan learns whether many new keys already exist (one names listing
 * instead of a describe per key, given up when it cannot be cheaper), that an existing secret
 * among them is still refused, and that several stores are planned side by side, each within
 * its own concurrency, with Vault calls bounded on their own. Real providers over HTTP(S)
 * against the local clouds and the local Vault.
 */
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startLocalAws } from "../../infra/local/aws/index.ts";
import type { PushEntry } from "../../shared/engine/types.ts";
import type { SecretStoreProvider } from "../../shared/providers/types.ts";
import type { VaultSource } from "../../shared/vault/types.ts";
import { harnesses, type Cloud } from "../conformance/harness.ts";
import { entry, row, startStack, type Stack } from "./helpers.ts";

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
});

/** n entries pushing `secret/<path>` key "k" to remote keys `<prefix><i>`. */
const many = (n: number, path: string, prefix: string, o: Partial<PushEntry> = {}): PushEntry[] =>
  Array.from({ length: n }, (_, i) =>
    entry(`default/p${i}`, path, `${prefix}${i}`, { secretKey: "k", ...o }),
  );

/** Secrets created with the plain SDK, as another team would. */
async function createOthers(names: string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names
        .slice(i, i + 50)
        .map((Name) => s.sdk.send(new CreateSecretCommand({ Name, SecretString: "theirs" }))),
    );
  }
}

/** Calls in flight now and at most. */
class Gauge {
  now = 0;
  max = 0;
  async around<T>(fn: () => Promise<T>): Promise<T> {
    this.now += 1;
    this.max = Math.max(this.max, this.now);
    try {
      return await fn();
    } finally {
      this.now -= 1;
    }
  }
}

describe("new keys at AWS", () => {
  it("narrows the names listing to the new keys' prefix and describes none of them", async () => {
    await s.vault.writeKv("secret", "fs/narrow", { k: "v" });
    await createOthers(Array.from({ length: 150 }, (_, i) => `/elsewhere/${i}`));
    s.aws.requests.reset();
    const report = await s.engine().reconcile(many(40, "fs/narrow", "/fs/narrow/"));
    expect(report.totals).toMatchObject({ created: 40, error: 0 });
    // The managed listing, then one page of names under "/fs/narrow/" (unfiltered it takes two).
    expect(report.calls).toEqual({ "default/aws": { ListSecrets: 2, CreateSecret: 40 } });
    expect(await s.awsValue("/fs/narrow/39")).toBe("v");
  });

  it("gives the listing up once it cannot be cheaper, then describes each new key", async () => {
    await s.vault.writeKv("secret", "fs/giveup", { k: "v" });
    // 350 secrets sharing the new keys' prefix: four pages of names for three new keys.
    await createOthers(Array.from({ length: 350 }, (_, i) => `/fs/giveup/n-other-${i}`));
    s.aws.requests.reset();
    const three = await s.engine().reconcile(many(3, "fs/giveup", "/fs/giveup/n"));
    expect(three.totals).toMatchObject({ created: 3, error: 0 });
    // Three pages read (pages + keys found = 3 = the missing keys), then three describes.
    expect(three.calls).toEqual({ "default/aws": { ListSecrets: 4, DescribeSecret: 3, CreateSecret: 3 } });

    // One new key: one describe, no names listing.
    const one = await s.engine().reconcile(many(1, "fs/giveup", "/fs/giveup/single"));
    expect(one.calls).toEqual({ "default/aws": { ListSecrets: 1, DescribeSecret: 1, CreateSecret: 1 } });
  });
});

describe.each(harnesses)("new keys at $name", (h) => {
  const STORE = "first-sync/store";
  let cloud: Cloud;
  beforeAll(async () => {
    cloud = await h.start();
  });
  afterAll(async () => {
    await cloud?.close();
  });
  const engine = () => s.engine({ providers: new Map([[STORE, cloud.provider]]) });
  const toStore = (n: number, path: string, prefix: string): PushEntry[] =>
    many(n, path, prefix, { store: STORE });
  /** The call that describes a secret in this store (a metadata read, not a value read). */
  const describeOp = h.name === "aws-secrets-manager" ? "DescribeSecret" : "GetSecret";
  const calls = (): Record<string, number> => {
    const { Unauthenticated: _challenge, ...rest } = cloud.requests.snapshot();
    return rest;
  };

  it("writes exactly one value per key after the listings, describing none", async () => {
    await s.vault.writeKv("secret", "fs/all", { k: "first" });
    cloud.requests.reset();
    const report = await engine().reconcile(toStore(30, "fs/all", "/fs/all/"));
    expect(report.totals).toMatchObject({ created: 30, error: 0 });
    const expected: Record<string, Record<string, number>> = {
      "aws-secrets-manager": { ListSecrets: 2, CreateSecret: 30 },
      "gcp-secret-manager": { ListSecrets: 2, CreateSecret: 30, AddSecretVersion: 30, UpdateSecret: 30 },
      // Live names, then soft-deleted ones.
      "azure-key-vault": { GetSecrets: 2, GetDeletedSecrets: 1, SetSecret: 30 },
    };
    expect(calls()).toEqual(expected[h.name]);
    expect(await cloud.value("/fs/all/0")).toBe("first");
    expect(await cloud.value("/fs/all/29")).toBe("first");
  });

  it("still refuses an unmarked secret among many new keys, found by name and described", async () => {
    await s.vault.writeKv("secret", "fs/own", { k: "from-vault" });
    await cloud.createForeign("/fs/own/7", "theirs");
    cloud.requests.reset();
    const report = await engine().reconcile(toStore(30, "fs/own", "/fs/own/"));
    expect(row(report, "/fs/own/7")).toMatchObject({ outcome: "error", error: { code: "NotOwned" } });
    expect(report.totals).toMatchObject({ created: 29, error: 1 });
    expect(cloud.requests.get(describeOp)).toBe(1);
    expect(cloud.requests.get(h.ops.create)).toBe(29);
    expect(await cloud.value("/fs/own/7")).toBe("theirs");
    expect(await cloud.value("/fs/own/8")).toBe("from-vault");
  });

  it("brings back a secret deleted behind pushsync's back when it comes with other new keys", async () => {
    await s.vault.writeKv("secret", "fs/back", { k: "v1" });
    const eng = engine();
    expect((await eng.reconcile(toStore(3, "fs/back", "/fs/back/"))).totals.created).toBe(3);
    await cloud.remove("/fs/back/1");
    // Azure lists soft-deleted secrets apart: only the names listing finds this one to recover.
    const report = await eng.reconcile(toStore(8, "fs/back", "/fs/back/"));
    expect(report.totals.error).toBe(0);
    expect(report.entries.filter((r) => r.outcome === "created")).toHaveLength(
      h.name === "gcp-secret-manager" ? 6 : 5,
    );
    expect(await cloud.value("/fs/back/1")).toBe("v1");
  });
});

describe("several stores", () => {
  /** The AWS provider of a store, without a names listing, counting describes in flight. */
  const probed = (p: SecretStoreProvider, store: Gauge, all: Gauge): SecretStoreProvider =>
    Object.assign(Object.create(p) as SecretStoreProvider, {
      listNames: undefined,
      describe: (key: string) => all.around(() => store.around(() => p.describe(key))),
    });

  it("plans the stores side by side, each with at most `concurrency` describes in flight", async () => {
    const other = await startLocalAws({ port: 0 });
    try {
      await s.vault.writeKv("secret", "fs/stores", { k: "v" });
      const [a, b, all] = [new Gauge(), new Gauge(), new Gauge()];
      const providers = new Map([
        ["default/aws", probed(s.provider, a, all)],
        ["other/aws", probed(s.awsProvider("other/aws", other), b, all)],
      ]);
      const entries = [
        ...many(6, "fs/stores", "/fs/stores/"),
        ...many(6, "fs/stores", "/fs/stores/", { store: "other/aws" }),
      ];
      s.aws.faults.latencyMs = 30;
      other.faults.latencyMs = 30;
      const report = await s.engine({ providers, concurrency: 2 }).reconcile(entries);
      expect(report.totals).toMatchObject({ created: 12, error: 0 });
      expect(report.calls["default/aws"]).toMatchObject({ DescribeSecret: 6, CreateSecret: 6 });
      expect(report.calls["other/aws"]).toMatchObject({ DescribeSecret: 6, CreateSecret: 6 });
      expect([a.max, b.max]).toEqual([2, 2]);
      // Two per store at once: a limit over all stores together would have kept this at 2.
      expect(all.max).toBe(4);
    } finally {
      s.aws.faults.clear();
      await other.close();
    }
  });

  it("keeps Vault calls within vaultConcurrency, reading each path once for all stores", async () => {
    const other = await startLocalAws({ port: 0 });
    try {
      const paths = Array.from({ length: 8 }, (_, i) => `fs/vault/${i}`);
      for (const p of paths) await s.vault.writeKv("secret", p, { k: p });
      const gauge = new Gauge();
      const vault: VaultSource = Object.assign(Object.create(s.source) as VaultSource, {
        readMetadata: (loc: Parameters<VaultSource["readMetadata"]>[0]) =>
          gauge.around(() => s.source.readMetadata(loc)),
        read: (...args: Parameters<VaultSource["read"]>) => gauge.around(() => s.source.read(...args)),
      });
      const providers = new Map([
        ["default/aws", s.provider],
        ["other/aws", s.awsProvider("other/aws", other)],
      ]);
      const entries = (prefix: string) =>
        paths.flatMap((p, i) => [
          entry(`default/v${i}`, p, `/${prefix}/${i}`, { secretKey: "k" }),
          entry(`default/v${i}`, p, `/${prefix}/${i}`, { secretKey: "k", store: "other/aws" }),
        ]);
      s.vault.faults.latencyMs = 20;

      const limited = await s.engine({ vault, providers, vaultConcurrency: 2 }).reconcile(entries("fsv2"));
      expect(limited.totals).toMatchObject({ created: 16, error: 0 });
      expect(limited.vaultReads).toEqual({ metadata: 8, data: 8 });
      expect(gauge.max).toBe(2);

      gauge.max = 0;
      const wide = await s.engine({ vault, providers }).reconcile(entries("fsv16"));
      expect(wide.totals).toMatchObject({ created: 16, error: 0 });
      expect(gauge.max).toBeGreaterThan(2);
    } finally {
      await other.close();
    }
  });
});
