/**
 * From ESO manifests to pushed secrets: shared/spec loads and resolves them, from-manifests.ts
 * turns them into entries, the engine pushes them to the local AWS from the local Vault.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { entriesFromPushes } from "../../shared/engine/from-manifests.ts";
import { loadManifests, resolvePushSecrets } from "../../shared/spec/index.ts";
import { row, startStack, type Stack } from "./helpers.ts";

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

async function entriesFrom(paths: string[]) {
  const loaded = await loadManifests(paths);
  expect(loaded.errors).toEqual([]);
  const resolved = resolvePushSecrets(loaded.manifests);
  expect(resolved.errors).toEqual([]);
  return entriesFromPushes(resolved.pushes);
}

function manifestDir(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), "pushsync-manifests-"));
  writeFileSync(join(dir, "manifests.yaml"), yaml);
  return dir;
}

const stores = `
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: { name: vault, namespace: default }
spec:
  provider:
    vault:
      server: http://127.0.0.1:8200
      path: secret
      version: v2
      auth: { tokenSecretRef: { name: vault-token, key: token } }
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: { name: aws, namespace: default }
spec:
  provider:
    aws: { service: SecretsManager, region: us-east-1 }
`;

describe("entries from manifests", () => {
  it("pushes the fixtures' AWS PushSecrets: a key, a templated value, a property", async () => {
    const { entries, errors } = await entriesFrom(["test/fixtures/manifests"]);
    expect(errors).toEqual([]);
    const toAws = entries.filter((e) => e.store === "default/aws-secrets-manager");
    expect(toAws.map((e) => [e.pushSecret, e.remoteKey, e.secretKey, e.property ?? null])).toEqual([
      ["default/push-to-aws", "/prod/lambda/db-password", "password", null],
      ["default/lambda-config", "/prod/lambda/config", "config.json", null],
      ["default/lambda-config", "/prod/lambda/api", "api-token", "token"],
    ]);
    expect(toAws[0]!.source).toEqual({
      vaultStore: "vault-secretstore",
      parts: [{ location: { mount: "secret", path: "lambda-db-password" } }],
    });
    expect(toAws[1]).toMatchObject({
      adopt: true,
      deletionPolicy: "Delete",
      metadata: { description: "Lambda configuration, from Vault", tags: { team: "platform" } },
    });

    await s.vault.writeKv("secret", "lambda-db-password", { password: "db-pw" });
    await s.vault.writeKv("secret", "prod/lambda", {
      username: "lambda",
      password: 'p"w',
      "api-token": "tok",
    });
    const engine = s.engine({ providers: new Map([["default/aws-secrets-manager", s.provider]]) });
    const report = await engine.reconcile(toAws);
    expect(report.totals).toMatchObject({ created: 3, error: 0 });
    expect(await s.awsValue("/prod/lambda/db-password")).toBe("db-pw");
    expect(JSON.parse((await s.awsValue("/prod/lambda/config"))!)).toEqual({
      user: "lambda",
      password: 'p"w',
    });
    expect(JSON.parse((await s.awsValue("/prod/lambda/api"))!)).toEqual({ token: "tok" });
    expect((await engine.reconcile(toAws)).totals.unchanged).toBe(3);
  });

  it("reads an ExternalSecret source from Vault and renders its template, then the PushSecret's", async () => {
    const dir = manifestDir(`${stores}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: { name: app-db, namespace: default }
spec:
  secretStoreRef: { kind: SecretStore, name: vault }
  target:
    name: app-db
    template:
      mergePolicy: Merge
      data:
        dsn: '{{ printf "postgres://%s:%s@db/app" .username .password }}'
  data:
    - secretKey: username
      remoteRef: { key: es/db, property: username }
    - secretKey: password
      remoteRef: { key: es/creds, property: password }
  dataFrom:
    - extract: { key: es/extra }
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: app-db-push, namespace: default }
spec:
  secretStoreRefs: [{ name: aws }]
  selector: { secret: { name: app-db } }
  template:
    mergePolicy: Merge
    data:
      shout: '{{ .region | upper }}'
  data:
    - match: { secretKey: dsn, remoteRef: { remoteKey: /es/dsn } }
    - match: { secretKey: shout, remoteRef: { remoteKey: /es/shout } }
    - match: { remoteRef: { remoteKey: /es/all } }
`);
    const { entries, errors } = await entriesFrom([dir]);
    expect(errors).toEqual([]);
    expect(entries[0]!.source.parts).toEqual([
      { location: { mount: "secret", path: "es/extra" } },
      { location: { mount: "secret", path: "es/db" }, secretKey: "username", property: "username" },
      { location: { mount: "secret", path: "es/creds" }, secretKey: "password", property: "password" },
    ]);
    await s.vault.writeKv("secret", "es/db", { username: "app", host: "db" });
    await s.vault.writeKv("secret", "es/creds", { password: "pw1" });
    await s.vault.writeKv("secret", "es/extra", { region: "eu" });
    const engine = s.engine({ providers: new Map([["default/aws", s.provider]]) });
    const report = await engine.reconcile(entries);
    expect(report.totals).toMatchObject({ created: 3, error: 0 });
    expect(await s.awsValue("/es/dsn")).toBe("postgres://app:pw1@db/app");
    expect(await s.awsValue("/es/shout")).toBe("EU");
    expect(JSON.parse((await s.awsValue("/es/all"))!)).toEqual({
      region: "eu",
      username: "app",
      password: "pw1",
      dsn: "postgres://app:pw1@db/app",
      shout: "EU",
    });
    expect(row(report, "/es/dsn").vault).toBe("secret/es/extra@1,secret/es/db@1,secret/es/creds@1");

    // A change in any of the Vault secrets is a change of the pushed value.
    await s.vault.writeKv("secret", "es/creds", { password: "pw2" });
    const next = await engine.pushPaths(entries, [{ mount: "secret", path: "es/creds" }]);
    expect(row(next, "/es/dsn").outcome).toBe("updated");
    expect(await s.awsValue("/es/dsn")).toBe("postgres://app:pw2@db/app");
  });

  it("reports ExternalSecret features it cannot reproduce instead of pushing a different value", async () => {
    const dir = manifestDir(`${stores}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: { name: pinned, namespace: default }
spec:
  secretStoreRef: { kind: SecretStore, name: vault }
  target: { name: pinned }
  data:
    - secretKey: cert
      remoteRef: { key: es/cert, property: cert, version: "3", decodingStrategy: Base64 }
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: pinned-push, namespace: default }
spec:
  secretStoreRefs: [{ name: aws }]
  selector: { secret: { name: pinned } }
  data:
    - match: { secretKey: cert, remoteRef: { remoteKey: /es/cert } }
`);
    const { entries, errors } = await entriesFrom([dir]);
    expect(entries).toEqual([]);
    expect(errors).toEqual([
      'PushSecret default/pinned-push: source ExternalSecret default/pinned: data "cert" remoteRef: version (pushsync pushes the current version) is not supported in a push source',
      'PushSecret default/pinned-push: source ExternalSecret default/pinned: data "cert" remoteRef: decodingStrategy Base64 is not supported in a push source',
    ]);
  });
});
