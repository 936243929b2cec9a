/**
 * creationPolicy (Owner, Orphan, Merge, None, CreateOrMerge), deletionPolicy (Retain, Delete,
 * Merge) when the Vault data goes away, immutable targets, and ownership conflicts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Puller } from "../../functions/cluster/puller.ts";
import {
  apply,
  decoded,
  eventsFor,
  externalSecret,
  forceSync,
  get,
  getSecret,
  mergePatch,
  readyWith,
  remove,
  secretObject,
  secretWith,
  startStack,
  startTestPuller,
  until,
  type Json,
  type Stack,
} from "./helpers.ts";

let stack: Stack;
let puller: Puller;

const one = (key: string, path: string, property: string) => ({
  secretKey: key,
  remoteRef: { key: path, property },
});

/** Deletes the latest version of a KV v2 secret (what `vault kv delete` does). */
async function deleteKv(path: string): Promise<void> {
  const reply = await stack.vault.request("DELETE", `secret/data/${path}`);
  expect(reply.status).toBe(204);
}

beforeAll(async () => {
  stack = await startStack();
  puller = await startTestPuller(stack);
});

afterAll(async () => {
  await puller?.close();
  await stack?.close();
});

describe("creationPolicy", () => {
  it("Owner: creates an owned Secret, which goes with the ExternalSecret", async () => {
    await stack.vault.writeKv("secret", "p/owner", { v: "owned-value" });
    const es = externalSecret("owner", {
      data: [one("v", "p/owner", "v")],
      target: { creationPolicy: "Owner" },
    });
    await apply(stack.kube, es);
    const s = await secretWith(stack.kube, "owner", (d) => d.v === "owned-value");
    expect(s.metadata.ownerReferences).toHaveLength(1);
    await remove(stack.kube, es);
    await until(
      async () => (await getSecret(stack.kube, "owner")) === undefined,
      5_000,
      "garbage collection",
    );
  });

  it("Owner: a renamed target leaves no Secret behind", async () => {
    await stack.vault.writeKv("secret", "p/rename", { v: "x" });
    const es = externalSecret("rename", {
      data: [one("v", "p/rename", "v")],
      target: { name: "first-name" },
    });
    await apply(stack.kube, es);
    await secretWith(stack.kube, "first-name", (d) => d.v === "x");
    await apply(stack.kube, { ...es, spec: { ...es.spec, target: { name: "second-name" } } });
    await secretWith(stack.kube, "second-name", (d) => d.v === "x");
    await until(
      async () => (await getSecret(stack.kube, "first-name")) === undefined,
      5_000,
      "orphan deleted",
    );
  });

  it("Orphan: creates a Secret without owner that stays after the ExternalSecret", async () => {
    await stack.vault.writeKv("secret", "p/orphan", { v: "kept" });
    const es = externalSecret("orphan", {
      data: [one("v", "p/orphan", "v")],
      target: { creationPolicy: "Orphan" },
    });
    await apply(stack.kube, es);
    const s = await secretWith(stack.kube, "orphan", (d) => d.v === "kept");
    expect(s.metadata.ownerReferences ?? []).toEqual([]);
    await remove(stack.kube, es);
    await new Promise((r) => setTimeout(r, 300));
    expect(decoded(await getSecret(stack.kube, "orphan"))).toEqual({ v: "kept" });
  });

  it("Merge: reports SecretMissing without a Secret, then merges into it keeping its other keys", async () => {
    await stack.vault.writeKv("secret", "p/merge", { v: "merged" });
    await apply(
      stack.kube,
      externalSecret("merge", {
        data: [one("from-vault", "p/merge", "v")],
        target: { creationPolicy: "Merge" },
      }),
    );
    const es = await readyWith(stack.kube, "merge", "SecretMissing");
    expect(es.status.conditions[0]).toMatchObject({
      status: "True",
      message: "secret will not be created due to CreationPolicy=Merge",
    });
    expect(await getSecret(stack.kube, "merge")).toBeUndefined();

    // The Secret appears: it is not labelled as managed, so a refresh brings the ExternalSecret back.
    await apply(stack.kube, secretObject("default", "merge", { mine: "untouched" }));
    await forceSync(stack.kube, "merge");
    const s = await secretWith(stack.kube, "merge", (d) => d["from-vault"] === "merged");
    expect(decoded(s)).toEqual({ mine: "untouched", "from-vault": "merged" });
    expect(s.metadata.ownerReferences ?? []).toEqual([]);
  });

  it("None: writes no Secret but reports SecretSynced", async () => {
    await stack.vault.writeKv("secret", "p/none", { v: "unused" });
    await apply(
      stack.kube,
      externalSecret("none", { data: [one("v", "p/none", "v")], target: { creationPolicy: "None" } }),
    );
    await readyWith(stack.kube, "none", "SecretSynced");
    expect(await getSecret(stack.kube, "none")).toBeUndefined();
  });

  it("CreateOrMerge: creates the Secret when absent and keeps foreign keys when merging", async () => {
    await stack.vault.writeKv("secret", "p/com", { v: "com" });
    await apply(stack.kube, secretObject("default", "com-existing", { other: "stays" }));
    await apply(
      stack.kube,
      externalSecret("com-new", {
        data: [one("v", "p/com", "v")],
        target: { creationPolicy: "CreateOrMerge" },
      }),
    );
    await apply(
      stack.kube,
      externalSecret("com-existing", {
        data: [one("v", "p/com", "v")],
        target: { creationPolicy: "CreateOrMerge" },
      }),
    );
    expect(decoded(await secretWith(stack.kube, "com-new", (d) => d.v === "com"))).toEqual({ v: "com" });
    expect(decoded(await secretWith(stack.kube, "com-existing", (d) => d.v === "com"))).toEqual({
      other: "stays",
      v: "com",
    });
  });

  it("refuses a Secret owned by another ExternalSecret", async () => {
    await stack.vault.writeKv("secret", "p/taken", { v: "first" });
    await apply(
      stack.kube,
      externalSecret("taken-a", { data: [one("v", "p/taken", "v")], target: { name: "taken" } }),
    );
    await secretWith(stack.kube, "taken", (d) => d.v === "first");
    await apply(
      stack.kube,
      externalSecret("taken-b", { data: [one("w", "p/taken", "v")], target: { name: "taken" } }),
    );
    const es = await readyWith(stack.kube, "taken-b", "SecretSyncedError");
    expect(es.status.conditions[0].message).toBe("target is owned by another ExternalSecret");
    expect(Object.keys((await getSecret(stack.kube, "taken")).data)).toEqual(["v"]);
  });

  it("immutable: the Secret is created immutable and keeps its first data, as in ESO", async () => {
    await stack.vault.writeKv("secret", "p/immutable", { v: "frozen" });
    await apply(
      stack.kube,
      externalSecret("frozen", { data: [one("v", "p/immutable", "v")], target: { immutable: true } }),
    );
    const s = await secretWith(stack.kube, "frozen", (d) => d.v === "frozen");
    expect(s.immutable).toBe(true);
    await stack.vault.writeKv("secret", "p/immutable", { v: "thawed" });
    const before = (await readyWith(stack.kube, "frozen", "SecretSynced")).status.syncedResourceVersion;
    await forceSync(stack.kube, "frozen");
    // The annotation changes syncedResourceVersion once the refresh it forced is done.
    await until(
      async () =>
        (await get(stack.kube, externalSecret("frozen", {}))).status.syncedResourceVersion !== before,
    );
    expect(decoded(await getSecret(stack.kube, "frozen"))).toEqual({ v: "frozen" });
    expect((await get(stack.kube, externalSecret("frozen", {}))).status.conditions[0].reason).toBe(
      "SecretSynced",
    );
  });

  it("a Secret made immutable by hand refuses new data: SecretSyncedError, the data stays", async () => {
    await stack.vault.writeKv("secret", "p/hand-frozen", { v: "one" });
    await apply(stack.kube, externalSecret("hand-frozen", { data: [one("v", "p/hand-frozen", "v")] }));
    await secretWith(stack.kube, "hand-frozen", (d) => d.v === "one");
    await mergePatch(
      stack.kube,
      { apiVersion: "v1", kind: "Secret", metadata: { name: "hand-frozen", namespace: "default" } },
      { immutable: true },
    );
    await stack.vault.writeKv("secret", "p/hand-frozen", { v: "two" });
    await forceSync(stack.kube, "hand-frozen");
    const es = await readyWith(stack.kube, "hand-frozen", "SecretSyncedError");
    expect(es.status.conditions[0].message).toBe("could not update secret, target is immutable");
    expect(decoded(await getSecret(stack.kube, "hand-frozen"))).toEqual({ v: "one" });
  });
});

describe("deletionPolicy, when the Vault secret is deleted", () => {
  it("Retain keeps the Secret and reports the failure (as ESO, a missing key is an error)", async () => {
    await stack.vault.writeKv("secret", "d/retain", { v: "r" });
    await apply(
      stack.kube,
      externalSecret("retain", { data: [one("v", "d/retain", "v")], target: { deletionPolicy: "Retain" } }),
    );
    await secretWith(stack.kube, "retain", (d) => d.v === "r");
    await deleteKv("d/retain");
    await forceSync(stack.kube, "retain");
    await readyWith(stack.kube, "retain", "SecretSyncedError");
    expect(decoded(await getSecret(stack.kube, "retain"))).toEqual({ v: "r" });
  });

  it("Retain with a find that matches nothing keeps the Secret and reports it synced", async () => {
    await stack.vault.writeKv("secret", "d/found/one", { v: "1" });
    const spec = { dataFrom: [{ find: { path: "d/found" } }], target: { deletionPolicy: "Retain" } };
    await apply(stack.kube, externalSecret("retain-find", spec));
    await secretWith(stack.kube, "retain-find", (d) => d.d_found_one !== undefined);
    await deleteKv("d/found/one");
    await forceSync(stack.kube, "retain-find");
    const es = await until(async () => {
      const got = await get(stack.kube, externalSecret("retain-find", {}));
      return got?.status?.conditions?.[0]?.message === "secret retained due to DeletionPolicy=Retain"
        ? got
        : undefined;
    });
    expect(es.status.conditions[0].reason).toBe("SecretSynced");
    expect(await getSecret(stack.kube, "retain-find")).toBeDefined();
  });

  it("Delete deletes the Secret and reports SecretDeleted", async () => {
    await stack.vault.writeKv("secret", "d/delete", { v: "gone soon" });
    const spec = { data: [one("v", "d/delete", "v")], target: { deletionPolicy: "Delete" } };
    await apply(stack.kube, externalSecret("deleted", spec));
    await secretWith(stack.kube, "deleted", (d) => d.v === "gone soon");
    await deleteKv("d/delete");
    await forceSync(stack.kube, "deleted");
    const es = await readyWith(stack.kube, "deleted", "SecretDeleted");
    expect(es.status.conditions[0].message).toBe("secret deleted due to DeletionPolicy=Delete");
    expect(await getSecret(stack.kube, "deleted")).toBeUndefined();
    const reasons = (await eventsFor(stack.kube, "deleted")).map((e: Json) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(["Created", "Deleted", "MissingProviderSecret"]));
  });

  it("Merge removes only this ExternalSecret's keys from a Secret it merged into", async () => {
    await stack.vault.writeKv("secret", "d/merge", { v: "m" });
    await apply(stack.kube, secretObject("default", "merge-del", { foreign: "stays" }));
    const spec = {
      data: [one("ours", "d/merge", "v")],
      target: { creationPolicy: "Merge", deletionPolicy: "Merge" },
    };
    await apply(stack.kube, externalSecret("merge-del", spec));
    await secretWith(stack.kube, "merge-del", (d) => d.ours === "m");
    await deleteKv("d/merge");
    await forceSync(stack.kube, "merge-del");
    const s = await secretWith(stack.kube, "merge-del", (d) => d.ours === undefined);
    expect(decoded(s)).toEqual({ foreign: "stays" });
  });
});
