/**
 * Property merges: several PushSecrets setting properties of one JSON remote secret, by
 * read-modify-write under a per-remote-key lock, over the local Vault and the local AWS.
 */
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
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
});

const json = async (name: string): Promise<unknown> => JSON.parse((await s.awsValue(name))!);

describe("property merges", () => {
  it("merges properties from two PushSecrets, keeps the other's on change, and settles", async () => {
    await s.vault.writeKv("secret", "prop/a", { user: "u1" });
    await s.vault.writeKv("secret", "prop/b", { pass: "p1" });
    const entries = [
      entry("team-a/user", "prop/a", "/prop/shared", { secretKey: "user", property: "username" }),
      entry("team-b/pass", "prop/b", "/prop/shared", { secretKey: "pass", property: "password" }),
    ];
    const engine = s.engine();
    const first = await engine.reconcile(entries);
    expect(row(first, "/prop/shared", "username")).toMatchObject({
      pushSecret: "team-a/user",
      outcome: "created",
    });
    expect(row(first, "/prop/shared", "password")).toMatchObject({
      pushSecret: "team-b/pass",
      outcome: "created",
    });
    expect(await json("/prop/shared")).toEqual({ username: "u1", password: "p1" });
    expect(s.aws.requests.get("CreateSecret")).toBe(1);

    await s.vault.writeKv("secret", "prop/a", { user: "u2" });
    const event = await engine.pushPaths(entries, [{ mount: "secret", path: "prop/a" }]);
    expect(row(event, "/prop/shared", "username").outcome).toBe("updated");
    expect(await json("/prop/shared")).toEqual({ username: "u2", password: "p1" });

    s.aws.requests.reset();
    const steady = await engine.reconcile(entries);
    expect(steady.totals).toMatchObject({ unchanged: 2, error: 0 });
    expect(awsWrites(s.aws)).toBe(0);
    expect(s.aws.requests.get("GetSecretValue")).toBe(0);
  });

  it("keeps both updates when pushes of the two PushSecrets run at the same time", async () => {
    await s.vault.writeKv("secret", "conc/a", { v: "a1" });
    await s.vault.writeKv("secret", "conc/b", { v: "b1" });
    const a = entry("team-a/x", "conc/a", "/conc/shared", { secretKey: "v", property: "a" });
    const b = entry("team-b/y", "conc/b", "/conc/shared", { secretKey: "v", property: "b" });
    const engine = s.engine();
    await engine.reconcile([a, b]);
    await s.vault.writeKv("secret", "conc/a", { v: "a2" });
    await s.vault.writeKv("secret", "conc/b", { v: "b2" });
    s.aws.faults.latencyMs = 20;
    // Each event handler knows only its own PushSecret's entries: two read-modify-writes of one secret.
    const [ra, rb] = await Promise.all([
      engine.pushPaths([a], [{ mount: "secret", path: "conc/a" }]),
      engine.pushPaths([b], [{ mount: "secret", path: "conc/b" }]),
    ]);
    s.aws.faults.clear();
    expect(ra.entries[0]!.outcome).toBe("updated");
    expect(rb.entries[0]!.outcome).toBe("updated");
    expect(await json("/conc/shared")).toEqual({ a: "a2", b: "b2" });

    // Another push of one PushSecret writes other bytes under its fingerprint: a new token, no clash.
    const again = await engine.pushPaths([a], [{ mount: "secret", path: "conc/a" }]);
    expect(again.entries[0]!.outcome).toBe("updated");
    // The full reconcile settles the remote secret under the fingerprint of both entries.
    expect((await engine.reconcile([a, b])).totals).toMatchObject({ updated: 2, error: 0 });
    expect((await engine.reconcile([a, b])).totals).toMatchObject({ unchanged: 2 });
    expect(await json("/conc/shared")).toEqual({ a: "a2", b: "b2" });
  });

  it("sets a property in an adopted JSON secret without losing its other properties", async () => {
    await s.vault.writeKv("secret", "prop/adopt", { token: "t1" });
    await s.sdk.send(
      new CreateSecretCommand({ Name: "/prop/adopted", SecretString: '{"region":"eu-west-1"}' }),
    );
    const report = await s.engine().reconcile([
      entry("default/t", "prop/adopt", "/prop/adopted", {
        secretKey: "token",
        property: "token",
        adopt: true,
      }),
    ]);
    expect(row(report, "/prop/adopted", "token").outcome).toBe("updated");
    expect(await json("/prop/adopted")).toEqual({ region: "eu-west-1", token: "t1" });
  });

  it("refuses to set a property in a remote value that is not a JSON object", async () => {
    await s.vault.writeKv("secret", "prop/plain", { token: "t1" });
    await s.sdk.send(new CreateSecretCommand({ Name: "/prop/plain", SecretString: "just text" }));
    const report = await s.engine().reconcile([
      entry("default/t", "prop/plain", "/prop/plain", {
        secretKey: "token",
        property: "token",
        adopt: true,
      }),
    ]);
    expect(row(report, "/prop/plain", "token")).toMatchObject({
      outcome: "error",
      error: {
        code: "Invalid",
        message:
          'remote secret "/prop/plain" in store default/aws is not a JSON object; cannot set a property in it',
      },
    });
    expect(await s.awsValue("/prop/plain")).toBe("just text");
  });

  it("removes the property of a deleted Vault secret (Delete), and the secret with the last one", async () => {
    await s.vault.writeKv("secret", "pdel/a", { v: "a" });
    await s.vault.writeKv("secret", "pdel/b", { v: "b" });
    const entries = [
      entry("team-a/x", "pdel/a", "/pdel/shared", {
        secretKey: "v",
        property: "a",
        deletionPolicy: "Delete",
      }),
      entry("team-b/y", "pdel/b", "/pdel/shared", {
        secretKey: "v",
        property: "b",
        deletionPolicy: "Delete",
      }),
    ];
    const engine = s.engine();
    await engine.reconcile(entries);
    await vaultHttp(s.vault, "DELETE", "secret/data/pdel/a");
    const one = await engine.reconcile(entries);
    expect(row(one, "/pdel/shared", "a").outcome).toBe("updated");
    expect(await json("/pdel/shared")).toEqual({ b: "b" });
    expect(row(await engine.reconcile(entries), "/pdel/shared", "a").outcome).toBe("unchanged");

    await vaultHttp(s.vault, "DELETE", "secret/data/pdel/b");
    const both = await engine.reconcile(entries);
    expect(row(both, "/pdel/shared", "b").outcome).toBe("deleted");
    expect(s.aws.requests.get("DeleteSecret")).toBe(1);
  });
});
