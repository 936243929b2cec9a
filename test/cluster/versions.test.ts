/**
 * external-secrets.io v1 and v1beta1: an ExternalSecret written as v1beta1 is synced through
 * v1, and on a cluster whose CRD serves ExternalSecret only as v1beta1 (older ESO releases) the
 * puller finds that out and reads and writes v1beta1, with v1beta1's rules.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Puller } from "../../functions/cluster/puller.ts";
import {
  apply,
  eventsFor,
  externalSecret,
  secretWith,
  startStack,
  startTestPuller,
  until,
  type Json,
  type Stack,
} from "./helpers.ts";

const crdFile = path.join(
  import.meta.dirname,
  "..",
  "..",
  "infra",
  "k8s",
  "crds",
  "external-secrets.io_externalsecrets.yaml",
);
let stack: Stack;
let puller: Puller | undefined;

const asV1beta1 = (es: Json): Json => ({ ...es, apiVersion: "external-secrets.io/v1beta1" });

beforeAll(async () => {
  stack = await startStack();
  await stack.vault.writeKv("secret", "versions/app", { v: "value" });
});

afterAll(async () => {
  await puller?.close();
  await stack?.close();
});

describe("API versions", () => {
  it("syncs an ExternalSecret written as v1beta1 through v1", async () => {
    puller = await startTestPuller(stack);
    expect(puller.apiVersion).toBe("external-secrets.io/v1");
    await apply(
      stack.kube,
      asV1beta1(
        externalSecret("old-style", {
          data: [{ secretKey: "v", remoteRef: { key: "versions/app", property: "v" } }],
        }),
      ),
    );
    const s = await secretWith(stack.kube, "old-style", (d) => d.v === "value");
    expect(s.metadata.ownerReferences[0].apiVersion).toBe("external-secrets.io/v1");
    await puller.close();
    puller = undefined;
  });

  it("reads and writes v1beta1 on a cluster that serves only v1beta1", async () => {
    const crd = parse(readFileSync(crdFile, "utf8")) as Json;
    const v1beta1 = crd.spec.versions.find((v: Json) => v.name === "v1beta1");
    await apply(stack.kube, { ...crd, spec: { ...crd.spec, versions: [{ ...v1beta1, storage: true }] } });
    await until(
      async () => {
        const group: Json = await stack.kube.request("GET", "/apis/external-secrets.io/v1");
        return !group.resources.some((r: Json) => r.name === "externalsecrets");
      },
      3_000,
      "v1 no longer served",
    );

    puller = await startTestPuller(stack);
    expect(puller.apiVersion).toBe("external-secrets.io/v1beta1");
    await apply(
      stack.kube,
      asV1beta1(
        externalSecret("beta", {
          data: [{ secretKey: "v", remoteRef: { key: "versions/app", property: "v" } }],
        }),
      ),
    );
    const s = await secretWith(stack.kube, "beta", (d) => d.v === "value");
    expect(s.metadata.ownerReferences[0].apiVersion).toBe("external-secrets.io/v1beta1");
    const es: Json = await until(async () => {
      const got: Json = await stack.kube.request(
        "GET",
        "/apis/external-secrets.io/v1beta1/namespaces/default/externalsecrets/beta",
      );
      return got.status?.conditions ? got : undefined;
    });
    expect(es.status.conditions[0]).toMatchObject({ type: "Ready", reason: "SecretSynced" });

    // CreateOrMerge came with v1: a v1beta1 ExternalSecret asking for it is refused, by field.
    await apply(
      stack.kube,
      asV1beta1(
        externalSecret("beta-merge", {
          data: [{ secretKey: "v", remoteRef: { key: "versions/app", property: "v" } }],
          target: { creationPolicy: "CreateOrMerge" },
        }),
      ),
    );
    await until(async () => {
      const got: Json = await stack.kube.request(
        "GET",
        "/apis/external-secrets.io/v1beta1/namespaces/default/externalsecrets/beta-merge",
      );
      return got.status?.conditions?.[0]?.message === "invalid ExternalSecret";
    });
    const failed = (await eventsFor(stack.kube, "beta-merge")).find((e) => e.reason === "UpdateFailed");
    expect(failed?.message).toContain("spec.target.creationPolicy");
  });
});
