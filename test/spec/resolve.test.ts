import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  loadManifests,
  renderTemplate,
  resolvePushSecrets,
  type ResolvedPush,
} from "../../shared/spec/index.ts";
import { fixtures, load, pushSecret, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

async function fixturePushes(): Promise<Map<string, ResolvedPush>> {
  const { manifests, errors } = await loadManifests([join(fixtures, "manifests")]);
  expect(errors).toEqual([]);
  const { pushes, errors: resolveErrors } = resolvePushSecrets(manifests);
  expect(resolveErrors).toEqual([]);
  return new Map(pushes.map((p) => [p.id, p]));
}

describe("push source resolution", () => {
  it("case 1: a Vault store among the refs is the source; selector.secret.name is the Vault path", async () => {
    const push = (await fixturePushes()).get("default/push-to-aws")!;
    expect(push.source.kind).toBe("vault");
    expect(push.source.store.metadata.name).toBe("vault-secretstore");
    expect(push.source.locations).toEqual([{ mount: "secret", path: "lambda-db-password" }]);
    expect(push.source.kind === "vault" && push.source.location).toEqual({
      mount: "secret",
      path: "lambda-db-password",
    });
    expect(push.destinations.map((d) => [d.id, d.provider, d.deleteOptions])).toEqual([
      ["default/aws-secrets-manager", "aws-secrets-manager", { recoveryWindowInDays: 7 }],
    ]);
    expect(push.data).toEqual([
      {
        secretKey: "password",
        remoteKey: "/prod/lambda/db-password",
        property: undefined,
        metadata: { "default/aws-secrets-manager": {} },
        conversionStrategy: "None",
      },
    ]);
    expect(push).toMatchObject({
      updatePolicy: "Replace",
      deletionPolicy: "None",
      refreshIntervalMs: 3_600_000,
      adopt: false,
      template: undefined,
    });
  });

  it("case 1 normalises the Vault path (secret/data/prod/lambda)", async () => {
    const push = (await fixturePushes()).get("default/lambda-config")!;
    expect(push.source.locations).toEqual([{ mount: "secret", path: "prod/lambda" }]);
    expect(push.adopt).toBe(true);
    expect(push.refreshIntervalMs).toBe(30_000);
    expect(push.deletionPolicy).toBe("Delete");
    const rendered = renderTemplate(push.template!.data["config.json"]!, {
      username: "app",
      password: 'p"w',
    });
    expect(JSON.parse(rendered)).toEqual({ user: "app", password: 'p"w' });
    expect(push.template!.mergePolicy).toBe("Merge");
    // With mergePolicy Merge, keys of the Vault secret stay available next to the rendered ones.
    expect(push.data.map((d) => [d.secretKey, d.remoteKey, d.property])).toEqual([
      ["config.json", "/prod/lambda/config", undefined],
      ["api-token", "/prod/lambda/api", "token"],
    ]);
  });

  it("case 2: the ExternalSecret writing the Secret is the source, with its key map", async () => {
    const pushes = await fixturePushes();
    const gcp = pushes.get("default/push-to-gcp")!;
    expect(gcp.source.kind).toBe("externalSecret");
    if (gcp.source.kind !== "externalSecret") return;
    expect(gcp.source.externalSecret.metadata.name).toBe("app-db");
    expect(gcp.source.store.metadata).toMatchObject({ name: "vault-backend", namespace: "default" });
    expect(gcp.source.locations).toEqual([{ mount: "secret", path: "prod/database" }]);
    expect(
      Object.fromEntries(Object.entries(gcp.source.keys).map(([k, v]) => [k, [v.location, v.ref.property]])),
    ).toEqual({
      username: [{ mount: "secret", path: "prod/database" }, "username"],
      password: [{ mount: "secret", path: "prod/database" }, "password"],
    });
    expect(gcp.source.extracts).toEqual([]);
    expect(gcp.refreshIntervalMs).toBe(600_000);

    const db = pushes.get("default/database-to-gcp")!;
    if (db.source.kind !== "externalSecret") throw new Error("expected an ExternalSecret source");
    expect(db.source.keys).toEqual({});
    expect(db.source.extracts.map((e) => e.location)).toEqual([{ mount: "secret", path: "prod/database" }]);
    expect(db.data[0]!.secretKey).toBeUndefined();
  });

  it("case 3: neither a Vault store nor an ExternalSecret is an error saying what was expected", async () => {
    const { errorLines, manifests } = await load(`apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: no-source
spec:
  secretStoreRefs:
    - name: aws-secrets-manager
  selector:
    secret:
      name: lambda-db-password
  data:
    - match:
        secretKey: password
        remoteRef:
          remoteKey: /prod/lambda/db-password
`);
    expect(errorLines).toEqual([
      'test.yaml:10:7 PushSecret default/no-source: spec.selector.secret.name: no source for Secret "lambda-db-password": ' +
        "expected a Vault store in spec.secretStoreRefs (the name is then a Vault path) " +
        'or an ExternalSecret in namespace default writing Secret "lambda-db-password"',
    ]);
    expect(manifests.pushSecrets).toEqual([]);
  });

  it("case 2 looks only in the PushSecret's namespace and needs a Vault-backed ExternalSecret", async () => {
    const { errorLines } = await load(`apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: other-namespace
  namespace: argocd
spec:
  secretStoreRefs:
    - name: aws
  selector:
    secret:
      name: app-db
  data:
    - match:
        remoteRef:
          remoteKey: x
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: aws
  namespace: argocd
spec:
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: from-aws
  namespace: argocd
spec:
  secretStoreRef:
    name: aws
  target:
    name: from-aws
  data:
    - secretKey: a
      remoteRef:
        key: a
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: aws-source
  namespace: argocd
spec:
  secretStoreRefs:
    - name: aws
  selector:
    secret:
      name: from-aws
  data:
    - match:
        remoteRef:
          remoteKey: other
`);
    expect(errorLines).toEqual([
      'test.yaml:11:7 PushSecret argocd/other-namespace: spec.selector.secret.name: no source for Secret "app-db": ' +
        "expected a Vault store in spec.secretStoreRefs (the name is then a Vault path) " +
        'or an ExternalSecret in namespace argocd writing Secret "app-db"',
      "test.yaml:53:7 PushSecret argocd/aws-source: spec.selector.secret.name: ExternalSecret argocd/from-aws does not read from a Vault store, so it cannot be a push source",
    ]);
  });

  it("case 2 by label selector, and the checks on the keys a source provides", async () => {
    const { errorLines, manifests } = await load(`apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: labelled
spec:
  secretStoreRef:
    name: vault-backend
  target:
    name: labelled-secret
    template:
      metadata:
        labels:
          push: "yes"
      data:
        url: "https://{{ .host }}"
  data:
    - secretKey: host
      remoteRef: { key: prod/app, property: host }
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: by-label
spec:
  secretStoreRefs:
    - name: aws-secrets-manager
  selector:
    secret:
      selector:
        matchLabels:
          push: "yes"
  data:
    - match:
        secretKey: url
        remoteRef: { remoteKey: /app/url }
    - match:
        secretKey: host
        remoteRef: { remoteKey: /app/host }
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: with-template
spec:
  secretStoreRefs:
    - name: aws-secrets-manager
  selector:
    secret:
      name: labelled-secret
  template:
    data:
      upper: "{{ .url | upper }}"
  data:
    - match:
        secretKey: upper
        remoteRef: { remoteKey: /app/upper }
`);
    // The ExternalSecret's template replaces its data, so "host" is not in the Secret.
    expect(errorLines).toEqual([
      'test.yaml:37:9 PushSecret default/by-label: spec.data[1].match.secretKey: "host" is not a key of the source (keys: url)',
    ]);
    const { pushes } = resolvePushSecrets(manifests);
    expect(
      pushes.map((p) => [
        p.id,
        p.source.kind,
        p.source.kind === "externalSecret" && p.source.externalSecret.metadata.name,
      ]),
    ).toEqual([["default/with-template", "externalSecret", "labelled"]]);
  });

  it("rejects two Vault stores, no destination, and several ExternalSecrets writing one Secret", async () => {
    const { errorLines } = await load(`apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: two-vaults
spec:
  secretStoreRefs:
    - name: vault-secretstore
      kind: ClusterSecretStore
    - name: vault-backend
  selector:
    secret:
      name: prod/app
  data:
    - match:
        remoteRef: { remoteKey: x }
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: vault-only
spec:
  secretStoreRefs:
    - name: vault-backend
  selector:
    secret:
      selector:
        matchLabels: { a: b }
  data:
    - match:
        remoteRef: { remoteKey: x }
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: ambiguous
spec:
  secretStoreRefs:
    - name: aws-secrets-manager
  selector:
    secret:
      name: shared
  data:
    - match:
        remoteRef: { remoteKey: x }
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: first
spec:
  secretStoreRef: { name: vault-backend }
  target: { name: shared, creationPolicy: Merge }
  data:
    - secretKey: a
      remoteRef: { key: prod/a }
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: second
spec:
  secretStoreRef: { name: vault-backend }
  target: { name: shared, creationPolicy: Merge }
  dataFrom:
    - find: { path: prod }
`);
    expect(errorLines).toEqual([
      "test.yaml:6:3 PushSecret default/two-vaults: spec.secretStoreRefs: names more than one Vault store (ClusterSecretStore vault-secretstore, SecretStore default/vault-backend); pushsync reads from one",
      "test.yaml:6:3 PushSecret default/two-vaults: spec.secretStoreRefs: no destination: list an aws, gcpsm or azurekv store",
      "test.yaml:22:3 PushSecret default/vault-only: spec.secretStoreRefs: no destination: list an aws, gcpsm or azurekv store",
      "test.yaml:25:5 PushSecret default/vault-only: spec.selector.secret: with a Vault store as source, set selector.secret.name to the Vault path",
      'test.yaml:41:7 PushSecret default/ambiguous: spec.selector.secret.name: 2 ExternalSecrets write Secret "shared" (default/first, default/second); pushsync needs one',
    ]);
  });

  it("rejects an ExternalSecret source that uses dataFrom.find", async () => {
    const { errorLines } = await load(`apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: found
spec:
  secretStoreRef: { name: vault-backend }
  dataFrom:
    - find: { path: prod }
---
${pushSecret("from-find").replace("name: vault-secretstore\n      kind: ClusterSecretStore\n    - ", "").replace("name: prod/app", "name: found")}`);
    expect(errorLines).toEqual([
      "test.yaml:19:7 PushSecret default/from-find: spec.selector.secret.name: ExternalSecret default/found uses dataFrom.find; a push source needs fixed Vault paths",
    ]);
  });

  it("resolves store references by kind, namespace and labels, honouring ClusterSecretStore conditions", async () => {
    const { errorLines, manifests } = await load(`apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata:
  name: restricted
spec:
  conditions:
    - namespaces: [payments]
    - namespaceRegexes: ["^team-"]
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: gcp-a
  namespace: team-a
  labels: { cloud: gcp }
spec:
  provider:
    gcpsm: { projectID: a }
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: gcp-b
  namespace: team-a
  labels: { cloud: gcp, tier: test }
spec:
  provider:
    gcpsm: { projectID: b }
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: allowed
  namespace: team-a
spec:
  secretStoreRefs:
    - { name: vault-secretstore, kind: ClusterSecretStore }
    - { name: restricted, kind: ClusterSecretStore }
    - labelSelector: { matchLabels: { cloud: gcp } }
  selector:
    secret: { name: prod/app }
  data:
    - match:
        remoteRef: { remoteKey: app }
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: denied
  namespace: default
spec:
  secretStoreRefs:
    - { name: vault-secretstore, kind: ClusterSecretStore }
    - { name: restricted, kind: ClusterSecretStore }
    - labelSelector: { matchExpressions: [{ key: tier, operator: Exists }] }
  selector:
    secret: { name: prod/app }
  data:
    - match:
        remoteRef: { remoteKey: app }
`);
    expect(errorLines).toEqual([
      "test.yaml:58:7 PushSecret default/denied: spec.secretStoreRefs[1]: ClusterSecretStore restricted does not allow namespace default",
      "test.yaml:59:7 PushSecret default/denied: spec.secretStoreRefs[2].labelSelector: matches no SecretStore in namespace default",
    ]);
    const { pushes } = resolvePushSecrets(manifests);
    expect(pushes.map((p) => [p.id, p.destinations.map((d) => d.id)])).toEqual([
      ["team-a/allowed", ["restricted", "team-a/gcp-a", "team-a/gcp-b"]],
    ]);
  });
});

describe("destinations", () => {
  it("takes AWS deletion settings from the destination store", async () => {
    const { errorLines, manifests } = await load(
      pushSecret("forced").replace("name: aws-secrets-manager", "name: aws-force") +
        `---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: aws-force
spec:
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
      secretsManager:
        forceDeleteWithoutRecovery: true
`,
    );
    expect(errorLines).toEqual([]);
    const [push] = resolvePushSecrets(manifests).pushes;
    expect(push!.destinations.map((d) => [d.id, d.deleteOptions])).toEqual([
      ["default/aws-force", { force: true }],
    ]);
  });
});

describe("PushSecretMetadata per destination", () => {
  it("normalises each provider's fields", async () => {
    const pushes = await fixturePushes();
    expect(pushes.get("default/lambda-config")!.data[0]!.metadata).toEqual({
      "default/aws-secrets-manager": {
        tags: { team: "platform" },
        description: "Lambda configuration, from Vault",
        kmsKeyId: "alias/pushsync",
        secretPushFormat: "string",
      },
    });
    expect(pushes.get("default/push-to-gcp")!.data[0]!.metadata).toEqual({
      "default/gcp-secret-manager": {
        labels: { team: "payments" },
        annotations: { owner: "payments@example.com" },
        replicationLocations: ["europe-west1", "europe-west4"],
      },
    });
    expect(pushes.get("default/push-to-azure")!.data[0]!.metadata).toEqual({
      "default/azure-key-vault": {
        tags: { team: "payments" },
        contentType: "text/plain",
        expirationDate: "2030-01-01T00:00:00Z",
      },
    });
  });

  it("accepts ESO's spellings and reports fields that do not belong to the destination", async () => {
    const meta = (spec: string) => `      metadata:
        apiVersion: kubernetes.external-secrets.io/v1alpha1
        kind: PushSecretMetadata
        spec:
${spec}`;
    const data = (spec: string) => `  data:
    - match:
        secretKey: password
        remoteRef:
          remoteKey: /prod/app/password
${meta(spec)}`;
    const { errorLines, manifests } = await load(
      [
        pushSecret("aws-id", "", data("          kmsKeyID: alias/x\n")),
        pushSecret(
          "gcp-one-location",
          "",
          data("          replicationLocation: us-east1\n          cmekKeyName: projects/p/keys/k\n"),
        ).replace("name: aws-secrets-manager", "name: gcp-secret-manager"),
        pushSecret(
          "wrong-fields",
          "",
          data(
            "          labels: { a: b }\n          contentType: text/plain\n          tags: { managed-by: me }\n",
          ),
        ),
        pushSecret("azure-wrong", "", data("          description: d\n")).replace(
          "name: aws-secrets-manager",
          "name: azure-key-vault",
        ),
      ].join("---\n"),
    );
    expect(errorLines).toEqual([
      "test.yaml:69:11 PushSecret default/wrong-fields: spec.data[0].metadata.spec.labels: not a metadata field for aws-secrets-manager destination default/aws-secrets-manager (allowed: tags, description, kmsKeyId, kmsKeyID, secretPushFormat)",
      "test.yaml:70:11 PushSecret default/wrong-fields: spec.data[0].metadata.spec.contentType: not a metadata field for aws-secrets-manager destination default/aws-secrets-manager (allowed: tags, description, kmsKeyId, kmsKeyID, secretPushFormat)",
      "test.yaml:71:19 PushSecret default/wrong-fields: spec.data[0].metadata.spec.tags.managed-by: reserved for pushsync's ownership marker",
      "test.yaml:94:11 PushSecret default/azure-wrong: spec.data[0].metadata.spec.description: not a metadata field for azure-key-vault destination default/azure-key-vault (allowed: tags, expirationDate, contentType)",
    ]);
    const { pushes } = resolvePushSecrets(manifests);
    expect(pushes.map((p) => [p.id, Object.values(p.data[0]!.metadata)])).toEqual([
      ["default/aws-id", [{ kmsKeyId: "alias/x" }]],
      [
        "default/gcp-one-location",
        [{ replicationLocations: ["us-east1"], cmekKeyName: "projects/p/keys/k" }],
      ],
    ]);
  });
});
