import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadManifests, type ExternalSecret, type SecretStore } from "../../shared/spec/index.ts";
import { fixtures, load, pushSecret, removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);

const store = (set: { stores: SecretStore[] }, id: string) =>
  set.stores.find((s) => (s.metadata.namespace ? `${s.metadata.namespace}/` : "") + s.metadata.name === id)!;

describe("the valid fixtures", () => {
  it("load without errors or warnings", async () => {
    const { manifests, errors, warnings } = await loadManifests([join(fixtures, "manifests")]);
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(manifests.files.map((f) => f.slice(fixtures.length + 1))).toEqual([
      "manifests/argocd.yaml",
      "manifests/database.yaml",
      "manifests/push-to-aws.yaml",
      "manifests/push-to-azure.yaml",
      "manifests/push-to-gcp.yaml",
      "manifests/push-with-metadata.yaml",
      "manifests/stores.yaml",
    ]);
    expect(
      manifests.stores.map((s) => `${s.kind} ${s.metadata.namespace}/${s.metadata.name} ${s.providerKind}`),
    ).toEqual([
      "ClusterSecretStore /vault-secretstore vault",
      "SecretStore default/vault-backend vault",
      "SecretStore argocd/vault-backend vault",
      "SecretStore default/aws-secrets-manager aws-secrets-manager",
      "SecretStore default/gcp-secret-manager gcp-secret-manager",
      "SecretStore default/azure-key-vault azure-key-vault",
    ]);
    expect(manifests.pushSecrets.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual([
      "default/push-to-aws",
      "default/push-to-azure",
      "default/push-to-gcp",
      "default/database-to-gcp",
      "default/lambda-config",
    ]);
    expect(
      manifests.externalSecrets.map((e) => `${e.apiVersion} ${e.metadata.namespace}/${e.metadata.name}`),
    ).toEqual([
      "external-secrets.io/v1 argocd/argocd-admin-password",
      "external-secrets.io/v1 default/database-credentials",
      "external-secrets.io/v1beta1 default/api-keys",
      "external-secrets.io/v1beta1 default/app-db",
    ]);
  });

  it("keep the source position of resources and fields", async () => {
    const { manifests } = await loadManifests([
      join(fixtures, "manifests", "push-to-aws.yaml"),
      join(fixtures, "manifests", "stores.yaml"),
    ]);
    const ps = manifests.pushSecrets[0]!;
    expect(ps.source).toMatchObject({
      file: join(fixtures, "manifests", "push-to-aws.yaml"),
      line: 1,
      column: 1,
    });
    expect(ps.source.fields.get("spec.data[0].match.remoteRef.remoteKey")).toEqual({ line: 18, column: 11 });
    expect(ps.source.fields.get("spec.secretStoreRefs[1].name")).toEqual({ line: 9, column: 7 });
    const aws = store(manifests, "default/aws-secrets-manager");
    expect(aws.source.line).toBeGreaterThan(1);
    expect(aws.source.fields.get("spec.provider.aws.region")).toBeDefined();
  });

  it("apply ESO's defaults", async () => {
    const { manifests } = await loadManifests([join(fixtures, "manifests")]);
    const ps = manifests.pushSecrets.find((p) => p.metadata.name === "push-to-aws")!;
    expect(ps.metadata).toEqual({ name: "push-to-aws", namespace: "default", labels: {}, annotations: {} });
    expect(ps.spec).toEqual({
      refreshInterval: "1h",
      secretStoreRefs: [
        { name: "vault-secretstore", kind: "ClusterSecretStore" },
        { name: "aws-secrets-manager", kind: "SecretStore" },
      ],
      updatePolicy: "Replace",
      deletionPolicy: "None",
      selector: { secret: { name: "lambda-db-password" } },
      data: [
        {
          match: { secretKey: "password", remoteRef: { remoteKey: "/prod/lambda/db-password" } },
          conversionStrategy: "None",
        },
      ],
    });
    const argocd = manifests.externalSecrets.find((e) => e.metadata.name === "argocd-admin-password")!;
    expect(argocd.spec).toEqual({
      refreshInterval: "5m",
      secretStoreRef: { kind: "SecretStore", name: "vault-backend" },
      target: { name: "argocd-secret", creationPolicy: "Merge", deletionPolicy: "Retain", immutable: false },
      data: [
        {
          secretKey: "admin.password",
          remoteRef: {
            key: "secret/data/argocd/admin",
            property: "admin.password",
            conversionStrategy: "Default",
            decodingStrategy: "None",
            metadataPolicy: "None",
          },
        },
      ],
    } satisfies ExternalSecret["spec"]);
    const db = manifests.externalSecrets.find((e) => e.metadata.name === "database-credentials")!;
    expect(db.spec.dataFrom).toEqual([
      {
        extract: {
          key: "secret/data/prod/database",
          conversionStrategy: "Default",
          decodingStrategy: "None",
          metadataPolicy: "None",
        },
      },
    ]);
    const apiKeys = manifests.externalSecrets.find((e) => e.metadata.name === "api-keys")!;
    expect(apiKeys.spec.target).toEqual({
      name: "api-keys",
      creationPolicy: "Owner",
      deletionPolicy: "Retain",
      immutable: false,
    });
    expect(apiKeys.spec.refreshInterval).toBe("1h");
    expect(store(manifests, "vault-secretstore").spec.provider.vault).toEqual({
      server: "http://127.0.0.1:8200",
      path: "secret",
      version: "v2",
      auth: { tokenSecretRef: { name: "vault-token", key: "token", namespace: "default" } },
    });
    expect(store(manifests, "argocd/vault-backend").spec.provider.vault?.auth?.appRole).toEqual({
      path: "approle",
      roleId: "argocd",
      secretRef: { name: "vault-approle", key: "secret-id" },
    });
    expect(store(manifests, "default/aws-secrets-manager").spec.provider.aws).toMatchObject({
      service: "SecretsManager",
      region: "us-east-1",
      secretsManager: { recoveryWindowInDays: 7 },
    });
    expect(store(manifests, "default/gcp-secret-manager").spec.provider.gcpsm).toMatchObject({
      projectID: "pushsync-local",
      secretVersionSelectionPolicy: "LatestOrFail",
    });
    expect(store(manifests, "default/azure-key-vault").spec.provider.azurekv).toMatchObject({
      vaultUrl: "https://127.0.0.1:8443",
      authType: "ServicePrincipal",
      environmentType: "PublicCloud",
    });
  });
});

describe("SecretStore and ClusterSecretStore", () => {
  it("read every vault field", async () => {
    const { manifests, errorLines } = await load(
      `apiVersion: external-secrets.io/v1beta1
kind: SecretStore
metadata:
  name: vault-full
  namespace: team-a
spec:
  provider:
    vault:
      server: https://vault.example.com:8200
      path: kv/team-a
      version: v1
      namespace: ns1
      caBundle: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
      caProvider:
        type: ConfigMap
        name: vault-ca
        key: ca.crt
      auth:
        namespace: admin
        kubernetes:
          role: pushsync
          serviceAccountRef:
            name: pushsync
            audiences: [vault]
          secretRef:
            name: sa-token
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata:
  name: vault-jwt
spec:
  provider:
    vault:
      server: http://127.0.0.1:8200
      auth:
        jwt:
          role: ci
          kubernetesServiceAccountToken:
            serviceAccountRef:
              name: ci
            expirationSeconds: 600
`,
      { stores: false },
    );
    expect(errorLines).toEqual([]);
    expect(manifests.stores[0]!.spec.provider.vault).toEqual({
      server: "https://vault.example.com:8200",
      path: "kv/team-a",
      version: "v1",
      namespace: "ns1",
      caBundle: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
      caProvider: { type: "ConfigMap", name: "vault-ca", key: "ca.crt" },
      auth: {
        namespace: "admin",
        kubernetes: {
          mountPath: "kubernetes",
          role: "pushsync",
          serviceAccountRef: { name: "pushsync", audiences: ["vault"] },
          secretRef: { name: "sa-token" },
        },
      },
    });
    expect(manifests.stores[1]!.spec.provider.vault?.auth?.jwt).toEqual({
      path: "jwt",
      role: "ci",
      kubernetesServiceAccountToken: { serviceAccountRef: { name: "ci" }, expirationSeconds: 600 },
    });
    expect(manifests.stores[1]!.metadata.namespace).toBe("");
  });

  it("read the aws, gcpsm and azurekv fields", async () => {
    const { manifests, errorLines } = await load(
      `apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata:
  name: aws
spec:
  provider:
    aws:
      service: SecretsManager
      region: eu-west-1
      role: arn:aws:iam::123456789012:role/pushsync
      externalID: pushsync
      prefix: team-a/
      auth:
        jwt:
          serviceAccountRef:
            name: pushsync
            namespace: tools
      secretsManager:
        forceDeleteWithoutRecovery: true
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: gcp
spec:
  provider:
    gcpsm:
      projectID: my-project
      location: europe-west1
      secretVersionSelectionPolicy: LatestOrFetch
      auth:
        workloadIdentity:
          serviceAccountRef:
            name: pushsync
          clusterName: main
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: azure
spec:
  provider:
    azurekv:
      vaultUrl: https://my-vault.vault.azure.net
      authType: WorkloadIdentity
      environmentType: ChinaCloud
      serviceAccountRef:
        name: pushsync
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: azure-mi
spec:
  provider:
    azurekv:
      vaultUrl: https://my-vault.vault.azure.net
      authType: ManagedIdentity
      identityId: 11111111-2222-3333-4444-555555555555
`,
      { stores: false },
    );
    expect(errorLines).toEqual([]);
    const [aws, gcp, azure, mi] = manifests.stores;
    expect(aws!.spec.provider.aws).toEqual({
      service: "SecretsManager",
      region: "eu-west-1",
      role: "arn:aws:iam::123456789012:role/pushsync",
      externalID: "pushsync",
      prefix: "team-a/",
      auth: { jwt: { serviceAccountRef: { name: "pushsync", namespace: "tools" } } },
      secretsManager: { forceDeleteWithoutRecovery: true },
    });
    expect(gcp!.spec.provider.gcpsm).toEqual({
      projectID: "my-project",
      location: "europe-west1",
      secretVersionSelectionPolicy: "LatestOrFetch",
      auth: { workloadIdentity: { serviceAccountRef: { name: "pushsync" }, clusterName: "main" } },
    });
    expect(azure!.spec.provider.azurekv).toEqual({
      vaultUrl: "https://my-vault.vault.azure.net",
      authType: "WorkloadIdentity",
      environmentType: "ChinaCloud",
      serviceAccountRef: { name: "pushsync" },
    });
    expect(mi!.providerKind).toBe("azure-key-vault");
    expect(mi!.spec.provider.azurekv?.identityId).toBe("11111111-2222-3333-4444-555555555555");
  });

  it("report provider problems with their positions", async () => {
    const { errorLines, manifests } = await load(
      `apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: bad-vault
spec:
  provider:
    vault:
      server: vault.example.com
      version: v3
      auth:
        tokenSecretRef:
          name: vault-token
          key: token
          namespace: other
        appRole:
          secretRef:
            name: approle
            key: secret-id
        ldap:
          username: me
      headers:
        X-Team: a
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: bad-aws
spec:
  provider:
    aws:
      service: ParameterStore
      region: 42
      secretsManager:
        forceDeleteWithoutRecovery: true
        recoveryWindowInDays: 3
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: two-providers
spec:
  provider:
    gcpsm:
      projectID: p
    azurekv:
      vaultUrl: http://vault.azure.net
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: fake-provider
spec:
  provider:
    fake:
      data: []
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: sp
spec:
  provider:
    azurekv:
      vaultUrl: https://v.vault.azure.net
      authSecretRef:
        clientSecret:
          name: azure
          key: secret
        clientCertificate:
          name: azure
          key: cert
    awss: {}
`,
      { stores: false },
    );
    expect(errorLines).toEqual([
      "test.yaml:8:15 SecretStore default/bad-vault: spec.provider.vault.server: must be a http: or https: URL",
      'test.yaml:9:16 SecretStore default/bad-vault: spec.provider.vault.version: must be one of v1, v2; got "v3"',
      "test.yaml:10:7 SecretStore default/bad-vault: spec.provider.vault.auth: set at most one of tokenSecretRef, appRole, kubernetes, jwt; got tokenSecretRef, appRole",
      "test.yaml:19:9 SecretStore default/bad-vault: spec.provider.vault.auth.ldap: supported by ESO but not by pushsync",
      "test.yaml:21:7 SecretStore default/bad-vault: spec.provider.vault.headers: supported by ESO but not by pushsync",
      'test.yaml:31:16 SecretStore default/bad-aws: spec.provider.aws.service: "ParameterStore" is not supported by pushsync; allowed: SecretsManager',
      "test.yaml:32:15 SecretStore default/bad-aws: spec.provider.aws.region: expected a string, got an integer",
      "test.yaml:35:31 SecretStore default/bad-aws: spec.provider.aws.secretsManager.recoveryWindowInDays: must be at least 7",
      "test.yaml:42:3 SecretStore default/two-providers: spec.provider: set exactly one of vault, aws, gcpsm, azurekv; got gcpsm, azurekv",
      "test.yaml:46:17 SecretStore default/two-providers: spec.provider.azurekv.vaultUrl: must be a https: URL",
      'test.yaml:54:5 SecretStore default/fake-provider: spec.provider.fake: provider "fake" is not supported by pushsync; supported: vault, aws, gcpsm, azurekv',
      'test.yaml:72:5 SecretStore default/sp: spec.provider.awss: provider "awss" is not supported by pushsync; supported: vault, aws, gcpsm, azurekv',
    ]);
    expect(manifests.stores).toEqual([]);
  });

  it("check rules across fields", async () => {
    const { errorLines } = await load(
      `apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: rules
  namespace: team-a
spec:
  provider:
    vault:
      server: http://127.0.0.1:8200
      auth:
        appRole:
          secretRef:
            name: approle
            key: secret-id
            namespace: team-b
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: jwt
spec:
  provider:
    vault:
      server: http://127.0.0.1:8200
      auth:
        jwt:
          role: ci
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: aws
spec:
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
      secretsManager:
        forceDeleteWithoutRecovery: true
        recoveryWindowInDays: 10
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: sp
spec:
  provider:
    azurekv:
      vaultUrl: https://v.vault.azure.net
      authSecretRef:
        clientSecret:
          name: azure
          key: secret
        clientCertificate:
          name: azure
          key: cert
  conditions:
    - namespaces: [default]
`,
      { stores: false },
    );
    expect(errorLines).toEqual([
      "test.yaml:11:9 SecretStore team-a/rules: spec.provider.vault.auth.appRole: set roleId or roleRef",
      "test.yaml:15:13 SecretStore team-a/rules: spec.provider.vault.auth.appRole.secretRef.namespace: a SecretStore may only reference its own namespace (team-a)",
      "test.yaml:26:9 SecretStore default/jwt: spec.provider.vault.auth.jwt: set secretRef or kubernetesServiceAccountToken",
      "test.yaml:38:7 SecretStore default/aws: spec.provider.aws.secretsManager: set forceDeleteWithoutRecovery or recoveryWindowInDays, not both",
      "test.yaml:48:5 SecretStore default/sp: spec.provider.azurekv.tenantId: required for authType ServicePrincipal",
      "test.yaml:50:7 SecretStore default/sp: spec.provider.azurekv.authSecretRef.clientId: required for authType ServicePrincipal",
      "test.yaml:50:7 SecretStore default/sp: spec.provider.azurekv.authSecretRef: set one of clientSecret or clientCertificate for authType ServicePrincipal",
      "test.yaml:57:3 SecretStore default/sp: spec.conditions: only a ClusterSecretStore has conditions",
    ]);
  });

  it("check vault's caBundle and caProvider", async () => {
    const { errorLines } = await load(
      `apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: ca
spec:
  provider:
    vault:
      server: https://vault.example.com
      caBundle: "-----BEGIN CERTIFICATE-----"
      caProvider:
        type: Volume
        name: ca
`,
      { stores: false },
    );
    expect(errorLines).toEqual([
      "test.yaml:9:17 SecretStore default/ca: spec.provider.vault.caBundle: must be base64 (of a PEM bundle)",
      'test.yaml:11:15 SecretStore default/ca: spec.provider.vault.caProvider.type: must be one of Secret, ConfigMap; got "Volume"',
    ]);
  });

  it("warn that a ClusterSecretStore's namespace is ignored", async () => {
    const { warningLines, errorLines, manifests } = await load(
      `apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata:
  name: vault
  namespace: default
spec:
  provider:
    vault:
      server: http://127.0.0.1:8200
`,
      { stores: false },
    );
    expect(errorLines).toEqual([]);
    expect(warningLines).toEqual([
      "test.yaml:1:1 ClusterSecretStore vault: metadata.namespace: ignored: ClusterSecretStore is cluster-scoped",
    ]);
    expect(manifests.stores[0]!.metadata.namespace).toBe("");
  });
});

describe("PushSecret", () => {
  it("reads every field", async () => {
    const { manifests, errorLines } = await load(`apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: full
  namespace: default
  labels:
    team: platform
  annotations:
    pushsync.io/adopt: "true"
spec:
  refreshInterval: 1h30m
  updatePolicy: IfNotExists
  deletionPolicy: Delete
  secretStoreRefs:
    - name: vault-secretstore
      kind: ClusterSecretStore
    - labelSelector:
        matchLabels:
          cloud: aws
        matchExpressions:
          - key: tier
            operator: NotIn
            values: [test]
      kind: SecretStore
  selector:
    secret:
      name: prod/app
  template:
    mergePolicy: Merge
    type: Opaque
    metadata:
      labels:
        a: b
    data:
      url: "https://{{ .host }}"
  data:
    - match:
        secretKey: url
        remoteRef:
          remoteKey: /prod/app
          property: url
      conversionStrategy: ReverseUnicode
      metadata:
        apiVersion: kubernetes.external-secrets.io/v1alpha1
        kind: PushSecretMetadata
        spec:
          secretPushFormat: binary
          kmsKeyID: alias/app
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: aws-eu
  labels:
    cloud: aws
    tier: prod
spec:
  provider:
    aws:
      service: SecretsManager
      region: eu-west-1
`);
    expect(errorLines).toEqual([]);
    const ps = manifests.pushSecrets[0]!;
    expect(ps.metadata.labels).toEqual({ team: "platform" });
    expect(ps.metadata.annotations).toEqual({ "pushsync.io/adopt": "true" });
    expect(ps.spec).toEqual({
      refreshInterval: "1h30m",
      updatePolicy: "IfNotExists",
      deletionPolicy: "Delete",
      secretStoreRefs: [
        { name: "vault-secretstore", kind: "ClusterSecretStore" },
        {
          labelSelector: {
            matchLabels: { cloud: "aws" },
            matchExpressions: [{ key: "tier", operator: "NotIn", values: ["test"] }],
          },
          kind: "SecretStore",
        },
      ],
      selector: { secret: { name: "prod/app" } },
      template: {
        engineVersion: "v2",
        mergePolicy: "Merge",
        type: "Opaque",
        metadata: { labels: { a: "b" } },
        data: { url: "https://{{ .host }}" },
      },
      data: [
        {
          match: { secretKey: "url", remoteRef: { remoteKey: "/prod/app", property: "url" } },
          conversionStrategy: "ReverseUnicode",
          metadata: {
            apiVersion: "kubernetes.external-secrets.io/v1alpha1",
            kind: "PushSecretMetadata",
            spec: { secretPushFormat: "binary", kmsKeyID: "alias/app" },
          },
        },
      ],
    });
  });

  it("reports malformed fields with exact positions", async () => {
    const { errorLines, manifests } = await load(`apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: broken
  annotations:
    pushsync.io/adopt: yes
spec:
  refreshInterval: 10
  secretStoreRefs:
    - name: vault-secretstore
      kind: ClusterStore
    - name: aws-secrets-manager
      labelSelector:
        matchLabels: { a: b }
  selector:
    secret:
      name: prod/app
    generatorRef:
      kind: Password
      name: gen
  data:
    - match:
        secretKey: password
        remoteRef:
          remoteKey: ""
      conversionStrategy: Unicode
      metadata:
        apiVersion: kubernetes.external-secrets.io/v1beta1
        kind: PushSecretMetadata
        spec:
          tags:
            managed-by: me
          secretPushFormat: text
          expirationDate: next year
          topics: [a]
    - match:
        remoteRef: {}
    - matches: {}
  template:
    data:
      x: "{{ if .a }}y{{ end }}"
    templateFrom:
      - literal: "{{ .x }}"
  dataTo:
    - storeRef: { name: aws-secrets-manager }
`);
    expect(errorLines).toEqual([
      'test.yaml:6:24 PushSecret default/broken: metadata.annotations["pushsync.io/adopt"]: expected a string, got a boolean',
      "test.yaml:8:20 PushSecret default/broken: spec.refreshInterval: expected a duration like 1h, 5m, 30s or 1h30m",
      'test.yaml:11:13 PushSecret default/broken: spec.secretStoreRefs[0].kind: must be one of SecretStore, ClusterSecretStore; got "ClusterStore"',
      "test.yaml:18:5 PushSecret default/broken: spec.selector.generatorRef: supported by ESO but not by pushsync (pushsync pushes what Vault holds)",
      "test.yaml:25:22 PushSecret default/broken: spec.data[0].match.remoteRef.remoteKey: must not be empty",
      'test.yaml:26:27 PushSecret default/broken: spec.data[0].conversionStrategy: must be one of None, ReverseUnicode; got "Unicode"',
      'test.yaml:28:21 PushSecret default/broken: spec.data[0].metadata.apiVersion: must be one of kubernetes.external-secrets.io/v1alpha1; got "kubernetes.external-secrets.io/v1beta1"',
      'test.yaml:33:29 PushSecret default/broken: spec.data[0].metadata.spec.secretPushFormat: must be one of string, binary; got "text"',
      "test.yaml:34:27 PushSecret default/broken: spec.data[0].metadata.spec.expirationDate: must be an RFC 3339 date-time",
      "test.yaml:35:11 PushSecret default/broken: spec.data[0].metadata.spec.topics: supported by ESO but not by pushsync",
      "test.yaml:37:9 PushSecret default/broken: spec.data[1].match.remoteRef.remoteKey: required",
      'test.yaml:38:7 PushSecret default/broken: spec.data[2].matches: unknown field; did you mean "match"?',
      "test.yaml:38:7 PushSecret default/broken: spec.data[2].match: required",
      'test.yaml:41:10 PushSecret default/broken: spec.template.data.x: unsupported template construct "if" (template line 1, column 4)',
      "test.yaml:42:5 PushSecret default/broken: spec.template.templateFrom: supported by ESO but not by pushsync (write the templates inline in template.data)",
      "test.yaml:44:3 PushSecret default/broken: spec.dataTo: supported by ESO but not by pushsync (list each key under data)",
    ]);
    expect(manifests.pushSecrets).toEqual([]);
  });

  it("checks rules across fields", async () => {
    const { errorLines } = await load(
      pushSecret(
        "rules",
        "",
        `  data:
    - match:
        secretKey: password
        remoteRef:
          remoteKey: /prod/app
          property: password
    - match:
        secretKey: user
        remoteRef:
          remoteKey: /prod/app
          property: user
    - match:
        secretKey: user
        remoteRef:
          remoteKey: /prod/app
          property: user
    - match:
        remoteRef:
          remoteKey: /prod/app
`,
      ).replace("  name: rules\n", '  name: rules\n  annotations:\n    pushsync.io/adopt: "yes"\n') +
        `---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: both
spec:
  secretStoreRefs:
    - name: aws-secrets-manager
      labelSelector: {}
    - kind: SecretStore
  selector:
    secret:
      name: a
  data:
    - match:
        remoteRef:
          remoteKey: x
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: selector
spec:
  secretStoreRefs:
    - name: aws-secrets-manager
  selector:
    secret:
      name: a
      selector:
        matchLabels: { a: b }
  data:
    - match:
        remoteRef:
          remoteKey: x
`,
    );
    expect(errorLines).toEqual([
      'test.yaml:6:5 PushSecret default/rules: metadata.annotations["pushsync.io/adopt"]: must be "true" or "false"',
      "test.yaml:28:9 PushSecret default/rules: spec.data[2].match.remoteRef: writes the same remote secret as spec.data[1]",
      "test.yaml:32:9 PushSecret default/rules: spec.data[3].match.remoteRef: writes the same remote secret as spec.data[0]",
      "test.yaml:41:7 PushSecret default/both: spec.secretStoreRefs[0]: set one of name or labelSelector",
      "test.yaml:43:7 PushSecret default/both: spec.secretStoreRefs[1]: set one of name or labelSelector",
      "test.yaml:60:5 PushSecret default/selector: spec.selector.secret: set exactly one of name, selector; got name, selector",
    ]);
  });
});

describe("ExternalSecret", () => {
  it("reads every field of v1 and v1beta1", async () => {
    const { manifests, errorLines } = await load(`apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: full
  namespace: default
spec:
  refreshPolicy: Periodic
  refreshInterval: "0"
  secretStoreRef:
    name: vault-secretstore
    kind: ClusterSecretStore
  target:
    creationPolicy: CreateOrMerge
    deletionPolicy: Merge
    immutable: true
    template:
      type: kubernetes.io/basic-auth
      engineVersion: v2
      metadata:
        annotations:
          a: b
        finalizers: [x]
      data:
        username: "{{ .user }}"
  data:
    - secretKey: user
      remoteRef:
        key: prod/app
        property: user
        version: "3"
        conversionStrategy: Unicode
        decodingStrategy: Base64URL
        metadataPolicy: Fetch
  dataFrom:
    - extract:
        key: secret/data/prod/app
        decodingStrategy: Auto
      rewrite:
        - regexp:
            source: "^db_(.*)$"
            target: "$1"
        - transform:
            template: "{{ .value | upper }}"
    - find:
        path: prod
        name:
          regexp: "^app-.*"
        tags:
          team: a
        decodingStrategy: Base64
---
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: old
spec:
  refreshInterval: 0
  secretStoreRef:
    name: vault-backend
  data:
    - secretKey: password
      remoteRef:
        key: prod/app
`);
    expect(errorLines).toEqual([]);
    const [full, old] = manifests.externalSecrets;
    expect(full!.spec).toEqual({
      refreshPolicy: "Periodic",
      refreshInterval: "0",
      secretStoreRef: { name: "vault-secretstore", kind: "ClusterSecretStore" },
      target: {
        name: "full",
        creationPolicy: "CreateOrMerge",
        deletionPolicy: "Merge",
        immutable: true,
        template: {
          type: "kubernetes.io/basic-auth",
          engineVersion: "v2",
          mergePolicy: "Replace",
          metadata: { annotations: { a: "b" }, finalizers: ["x"] },
          data: { username: "{{ .user }}" },
        },
      },
      data: [
        {
          secretKey: "user",
          remoteRef: {
            key: "prod/app",
            property: "user",
            version: "3",
            conversionStrategy: "Unicode",
            decodingStrategy: "Base64URL",
            metadataPolicy: "Fetch",
          },
        },
      ],
      dataFrom: [
        {
          extract: {
            key: "secret/data/prod/app",
            conversionStrategy: "Default",
            decodingStrategy: "Auto",
            metadataPolicy: "None",
          },
          rewrite: [
            { regexp: { source: "^db_(.*)$", target: "$1" } },
            { transform: { template: "{{ .value | upper }}" } },
          ],
        },
        {
          find: {
            path: "prod",
            name: { regexp: "^app-.*" },
            tags: { team: "a" },
            conversionStrategy: "Default",
            decodingStrategy: "Base64",
          },
        },
      ],
    } satisfies ExternalSecret["spec"]);
    expect(old!.spec.refreshInterval).toBe("0");
    expect(old!.spec.target).toEqual({
      name: "old",
      creationPolicy: "Owner",
      deletionPolicy: "Retain",
      immutable: false,
    });
  });

  it("reports malformed fields and rules across fields", async () => {
    const { errorLines } = await load(`apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: bad
spec:
  refreshPolicy: Always
  refreshInterval: 1x
  secretStoreRef:
    name: vault-backend
  target:
    creationPolicy: CreateOrMerge
  data:
    - secretKey: "a/b"
      remoteRef:
        key: prod/app
        decodingStrategy: Hex
  dataFrom:
    - extract:
        key: prod/app
      find:
        path: prod
    - find:
        name:
          regexp: "("
      rewrite:
        - regexp: { source: "[", target: x }
          transform: { template: "{{ .value }}" }
        - transform: { template: "{{ range . }}" }
        - merge: {}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: policies
spec:
  secretStoreRef:
    name: vault-backend
  target:
    creationPolicy: Merge
    deletionPolicy: Delete
    template:
      type: bootstrap.kubernetes.io/token
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: duplicates
spec:
  secretStoreRef:
    name: vault-backend
  data:
    - secretKey: password
      remoteRef: { key: prod/app, version: latest }
    - secretKey: password
      remoteRef: { key: secret }
`);
    expect(errorLines).toEqual([
      'test.yaml:6:18 ExternalSecret default/bad: spec.refreshPolicy: must be one of CreatedOnce, Periodic, OnChange; got "Always"',
      'test.yaml:7:20 ExternalSecret default/bad: spec.refreshInterval: invalid duration "1x": expected a duration like 1h, 5m, 30s or 1h30m',
      'test.yaml:11:21 ExternalSecret default/bad: spec.target.creationPolicy: must be one of Owner, Orphan, Merge, None; got "CreateOrMerge"',
      "test.yaml:13:18 ExternalSecret default/bad: spec.data[0].secretKey: must be a Secret key (letters, digits, '-', '_', '.'; at most 253 characters)",
      'test.yaml:16:27 ExternalSecret default/bad: spec.data[0].remoteRef.decodingStrategy: must be one of None, Base64, Base64URL, Auto; got "Hex"',
      "test.yaml:18:7 ExternalSecret default/bad: spec.dataFrom[0]: set exactly one of extract, find; got extract, find",
      "test.yaml:26:11 ExternalSecret default/bad: spec.dataFrom[1].rewrite[0]: set exactly one of regexp, transform; got regexp, transform",
      'test.yaml:28:34 ExternalSecret default/bad: spec.dataFrom[1].rewrite[1].transform.template: unsupported template construct "range" (template line 1, column 4)',
      "test.yaml:29:11 ExternalSecret default/bad: spec.dataFrom[1].rewrite[2].merge: supported by ESO but not by pushsync",
      "test.yaml:35:1 ExternalSecret default/policies: spec: set data or dataFrom",
      "test.yaml:40:5 ExternalSecret default/policies: spec.target.deletionPolicy: Delete needs creationPolicy Owner or Orphan (the Secret is not owned)",
      "test.yaml:42:7 ExternalSecret default/policies: spec.target.template.type: bootstrap tokens are not allowed",
      'test.yaml:54:7 ExternalSecret default/duplicates: spec.data[1].secretKey: duplicate secretKey "password"',
    ]);
    const refs = await load(`apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: vault-keys
spec:
  secretStoreRef:
    name: vault-backend
  data:
    - secretKey: password
      remoteRef: { key: prod/app, version: latest }
    - secretKey: other
      remoteRef: { key: secret/data }
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: find
spec:
  secretStoreRef:
    name: vault-backend
  dataFrom:
    - find:
        name:
          regexp: "("
`);
    expect(refs.errorLines).toEqual([
      "test.yaml:10:35 ExternalSecret default/vault-keys: spec.data[0].remoteRef.version: must be a Vault KV version number",
      'test.yaml:12:20 ExternalSecret default/vault-keys: spec.data[1].remoteRef.key: Vault key "secret/data" names the mount secret, not a secret in it',
      "test.yaml:24:11 ExternalSecret default/find: spec.dataFrom[0].find.name.regexp: invalid regular expression",
    ]);
  });
});

describe("documents and files", () => {
  it("reports bad YAML with its position and still checks the other documents", async () => {
    const { errorLines } = await loadManifests([
      join(fixtures, "manifests", "stores.yaml"),
      join(fixtures, "invalid", "bad-yaml.yaml"),
    ]).then((r) => ({
      errorLines: r.errors.map(
        (d) => `${d.line}:${d.column} ${d.resource ?? "-"} ${d.field ?? "-"} ${d.message}`,
      ),
    }));
    expect(errorLines).toEqual([
      "8:1 - - YAML syntax error: All mapping items must start at the same column",
      "9:1 - - YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]",
      "25:9 PushSecret default/still-checked spec.data[0].match.remoteRef.remoteKey required",
    ]);
  });

  it("skips unknown kinds and empty documents with a warning, and rejects what is not a resource", async () => {
    const { errorLines, warningLines, manifests } = await load(
      `---
# only a comment
---
apiVersion: v1
kind: Secret
metadata:
  name: db
---
apiVersion: external-secrets.io/v1alpha1
kind: ClusterPushSecret
metadata:
  name: everywhere
---
metadata:
  name: no-kind
---
- a
- list
---
just a string
---
apiVersion: external-secrets.io/v1alpha1
kind: ExternalSecret
metadata:
  name: old-api
spec: {}
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: Bad_Name
  namespace: Team.A
  uid: 1234
  creationTimestamp: "2024-01-01T00:00:00Z"
  labels:
    ok: "yes"
spec:
  provider:
    vault:
      server: http://127.0.0.1:8200
status:
  conditions: []
extra: true
`,
      { stores: false },
    );
    expect(warningLines).toEqual([
      "test.yaml:4:1: skipped Secret db (v1): not handled by pushsync",
      "test.yaml:9:1: skipped ClusterPushSecret everywhere (external-secrets.io/v1alpha1): not handled by pushsync",
      "test.yaml:14:1: skipped a document without a kind: not handled by pushsync",
    ]);
    expect(errorLines).toEqual([
      "test.yaml:17:1: expected a mapping (a Kubernetes resource)",
      "test.yaml:20:1: expected a mapping (a Kubernetes resource)",
      'test.yaml:22:13 ExternalSecret default/old-api: apiVersion: must be one of external-secrets.io/v1, external-secrets.io/v1beta1; got "external-secrets.io/v1alpha1"',
      "test.yaml:26:1 ExternalSecret default/old-api: spec.secretStoreRef: required",
      "test.yaml:31:9 SecretStore Team.A/Bad_Name: metadata.name: must be a lowercase DNS subdomain (a-z, 0-9, '-', '.'; at most 253 characters)",
      "test.yaml:32:14 SecretStore Team.A/Bad_Name: metadata.namespace: must be a lowercase DNS label (a-z, 0-9, '-'; at most 63 characters)",
      "test.yaml:43:1 SecretStore Team.A/Bad_Name: extra: unknown field; known fields: apiVersion, kind, metadata, spec, status",
    ]);
    expect(manifests.stores).toEqual([]);
  });

  it("reads YAML as Kubernetes does: anchors, merge keys, 1.1 booleans, timestamps as text", async () => {
    const { errorLines, manifests } = await load(`apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: merged
spec:
  provider:
    vault:
      <<: &defaults
        server: http://127.0.0.1:8200
        path: secret
        auth:
          tokenSecretRef: &token { name: vault-token, key: token }
      path: kv
  retrySettings: { maxRetries: 3 }
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: aliased
spec:
  provider:
    vault:
      server: http://127.0.0.1:8200
      auth:
        tokenSecretRef: *token
---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: dated
spec:
  secretStoreRefs:
    - name: vault-secretstore
      kind: ClusterSecretStore
    - name: azure-key-vault
  selector:
    secret:
      name: prod/app
  data:
    - match:
        secretKey: on
        remoteRef:
          remoteKey: app
      metadata:
        apiVersion: kubernetes.external-secrets.io/v1alpha1
        kind: PushSecretMetadata
        spec:
          expirationDate: 2030-01-01T00:00:00Z
`);
    // Anchors belong to one document: the second store cannot use the first one's.
    expect(errorLines).toEqual([
      "test.yaml:25:25 SecretStore default/aliased: spec.provider.vault.auth.tokenSecretRef: alias *token names no anchor in this document",
      "test.yaml:41:20 PushSecret default/dated: spec.data[0].match.secretKey: expected a string, got a boolean",
    ]);
    expect(manifests.stores.find((s) => s.metadata.name === "merged")!.spec).toEqual({
      provider: {
        vault: {
          server: "http://127.0.0.1:8200",
          path: "kv",
          version: "v2",
          auth: { tokenSecretRef: { name: "vault-token", key: "token" } },
        },
      },
      retrySettings: { maxRetries: 3 },
    });
    const fixed = await load(
      pushSecret(
        "dated",
        "",
        `  data:
    - match:
        remoteRef:
          remoteKey: app
      metadata:
        apiVersion: kubernetes.external-secrets.io/v1alpha1
        kind: PushSecretMetadata
        spec:
          expirationDate: 2030-01-01T00:00:00Z
`,
      ).replace("name: aws-secrets-manager", "name: azure-key-vault"),
    );
    expect(fixed.errorLines).toEqual([]);
    expect(fixed.manifests.pushSecrets[0]!.spec.data[0]!.metadata?.spec.expirationDate).toBe(
      "2030-01-01T00:00:00Z",
    );
  });

  it("reads directories recursively in sorted order, .yaml and .yml, skipping hidden entries", async () => {
    const { mkdtemp, mkdir, writeFile, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(join(tmpdir(), "pushsync-dir-"));
    try {
      const storeYaml = (name: string) =>
        `apiVersion: external-secrets.io/v1\nkind: ClusterSecretStore\nmetadata:\n  name: ${name}\nspec:\n  provider:\n    vault:\n      server: http://127.0.0.1:8200\n`;
      await mkdir(join(dir, "b", "nested"), { recursive: true });
      await mkdir(join(dir, ".hidden"));
      await writeFile(join(dir, "b", "nested", "one.yml"), storeYaml("one"));
      await writeFile(join(dir, "a.yaml"), storeYaml("two"));
      await writeFile(join(dir, "c.yaml"), storeYaml("three"));
      await writeFile(join(dir, "notes.txt"), "not yaml: [");
      await writeFile(join(dir, ".hidden", "x.yaml"), storeYaml("hidden"));
      await writeFile(join(dir, ".dot.yaml"), storeYaml("dot"));
      const { manifests, errors } = await loadManifests([dir, join(dir, "a.yaml")]);
      expect(errors).toEqual([]);
      expect(manifests.files).toEqual([
        join(dir, "a.yaml"),
        join(dir, "b", "nested", "one.yml"),
        join(dir, "c.yaml"),
      ]);
      expect(manifests.stores.map((s) => s.metadata.name)).toEqual(["two", "one", "three"]);
      const missing = await loadManifests([join(dir, "nope")]);
      expect(missing.errors).toEqual([
        { file: join(dir, "nope"), line: 0, column: 0, message: "no such file or directory" },
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("accepts every form of duration and rejects the others", async () => {
    const durations = ["1h", "5m", "30s", "1h30m", "0", "0s", "1h0m0s", "250ms"];
    const yaml = durations
      .map((d, i) => pushSecret(`d${i}`, `  refreshInterval: "${d}"\n`))
      .concat(
        ["1 h", "5", "-5m", "1d", "h"].map((d, i) => pushSecret(`bad${i}`, `  refreshInterval: "${d}"\n`)),
      )
      .join("---\n");
    const { manifests, errorLines } = await load(yaml);
    expect(manifests.pushSecrets.map((p) => p.spec.refreshInterval)).toEqual(durations);
    expect(errorLines.map((l) => l.replace(/^test\.yaml:\d+:\d+ /, ""))).toEqual([
      'PushSecret default/bad0: spec.refreshInterval: invalid duration "1 h": expected a duration like 1h, 5m, 30s or 1h30m',
      'PushSecret default/bad1: spec.refreshInterval: invalid duration "5": expected a duration like 1h, 5m, 30s or 1h30m',
      'PushSecret default/bad2: spec.refreshInterval: invalid duration "-5m": must not be negative',
      'PushSecret default/bad3: spec.refreshInterval: invalid duration "1d": expected a duration like 1h, 5m, 30s or 1h30m',
      'PushSecret default/bad4: spec.refreshInterval: invalid duration "h": expected a duration like 1h, 5m, 30s or 1h30m',
    ]);
  });

  it("reports duplicate names by kind, namespace and name", async () => {
    const cluster = (ns: string) =>
      `apiVersion: external-secrets.io/v1\nkind: ClusterSecretStore\nmetadata:\n  name: shared\n  namespace: ${ns}\nspec:\n  provider:\n    vault:\n      server: http://127.0.0.1:8200\n`;
    const namespaced = (kind: string, ns: string) =>
      `apiVersion: external-secrets.io/v1\nkind: ${kind}\nmetadata:\n  name: shared\n  namespace: ${ns}\nspec:\n  provider:\n    vault:\n      server: http://127.0.0.1:8200\n`;
    const { errorLines, manifests } = await load(
      [
        cluster("a"),
        cluster("b"),
        namespaced("SecretStore", "a"),
        namespaced("SecretStore", "b"),
        namespaced("SecretStore", "a"),
      ].join("---\n"),
      { stores: false },
    );
    expect(errorLines).toEqual([
      "test.yaml:14:3 ClusterSecretStore shared: metadata.name: duplicate ClusterSecretStore shared (first defined at test.yaml:1:1)",
      "test.yaml:44:3 SecretStore a/shared: metadata.name: duplicate SecretStore a/shared (first defined at test.yaml:21:1)",
    ]);
    expect(manifests.stores.map((s) => `${s.kind} ${s.metadata.namespace}/${s.metadata.name}`)).toEqual([
      "ClusterSecretStore /shared",
      "SecretStore a/shared",
      "SecretStore b/shared",
    ]);
  });
});
