/**
 * SecretStore and ClusterSecretStore (external-secrets.io/v1 and v1beta1) with the providers
 * pushsync implements: vault (the source), aws (SecretsManager), gcpsm and azurekv.
 *
 * Field names, enums and defaults follow ESO. ESO fields pushsync does not implement are
 * rejected by name rather than ignored. References to Kubernetes Secrets (tokenSecretRef,
 * secretRef, ...) keep ESO's shape; secret-refs.ts says how they are read outside Kubernetes.
 */
import type { ProviderKind } from "../providers/types.ts";
import {
  ESO_GROUP,
  secretKeySelector,
  serviceAccountSelector,
  type Resource,
  type SecretKeySelector,
  type ServiceAccountSelector,
  type StoreKind,
} from "./common.ts";
import { bool, int, list, obj, oneOf, required, str, unsupported, type Schema } from "./schema.ts";

export interface VaultProvider {
  server: string;
  /** KV mount, e.g. "secret" or "kv/team-a". */
  path?: string;
  version: "v1" | "v2";
  namespace?: string;
  /** Base64 of a PEM CA bundle. */
  caBundle?: string;
  caProvider?: { type: "Secret" | "ConfigMap"; name: string; key?: string; namespace?: string };
  /** Absent: the token comes from VAULT_TOKEN or ~/.vault-token (see secret-refs.ts). */
  auth?: VaultAuth;
}

export interface VaultAuth {
  namespace?: string;
  tokenSecretRef?: SecretKeySelector;
  appRole?: { path: string; roleId?: string; roleRef?: SecretKeySelector; secretRef: SecretKeySelector };
  kubernetes?: {
    mountPath: string;
    role: string;
    serviceAccountRef?: ServiceAccountSelector;
    secretRef?: SecretKeySelector;
  };
  jwt?: {
    path: string;
    role?: string;
    secretRef?: SecretKeySelector;
    kubernetesServiceAccountToken?: {
      serviceAccountRef: ServiceAccountSelector;
      audiences?: string[];
      expirationSeconds?: number;
    };
  };
}

export interface AwsProvider {
  service: "SecretsManager";
  region: string;
  role?: string;
  externalID?: string;
  /** Prepended to every remote key. */
  prefix?: string;
  auth?: {
    secretRef?: {
      accessKeyIDSecretRef: SecretKeySelector;
      secretAccessKeySecretRef: SecretKeySelector;
      sessionTokenSecretRef?: SecretKeySelector;
    };
    jwt?: { serviceAccountRef?: ServiceAccountSelector };
  };
  secretsManager?: { forceDeleteWithoutRecovery?: boolean; recoveryWindowInDays?: number };
}

export interface GcpsmProvider {
  projectID?: string;
  location?: string;
  secretVersionSelectionPolicy: "LatestOrFail" | "LatestOrFetch";
  auth?: {
    secretRef?: { secretAccessKeySecretRef: SecretKeySelector };
    workloadIdentity?: {
      serviceAccountRef: ServiceAccountSelector;
      clusterLocation?: string;
      clusterName?: string;
      clusterProjectID?: string;
    };
  };
}

export interface AzureKvProvider {
  vaultUrl: string;
  tenantId?: string;
  authType: "ServicePrincipal" | "ManagedIdentity" | "WorkloadIdentity";
  identityId?: string;
  environmentType: "PublicCloud" | "USGovernmentCloud" | "ChinaCloud" | "GermanCloud";
  authSecretRef?: {
    clientId?: SecretKeySelector;
    tenantId?: SecretKeySelector;
    clientSecret?: SecretKeySelector;
    clientCertificate?: SecretKeySelector;
  };
  serviceAccountRef?: ServiceAccountSelector;
  useAzureSDK?: boolean;
}

export interface SecretStoreSpec {
  /** Exactly one provider is set. */
  provider: { vault?: VaultProvider; aws?: AwsProvider; gcpsm?: GcpsmProvider; azurekv?: AzureKvProvider };
  controller?: string;
  /** Seconds between store validations (ESO); pushsync does not use it. */
  refreshInterval?: number;
  retrySettings?: { maxRetries?: number; retryInterval?: string };
  /** ClusterSecretStore only: namespaces whose resources may use the store. */
  conditions?: { namespaces?: string[]; namespaceRegexes?: string[] }[];
}

export interface SecretStore extends Resource<StoreKind> {
  spec: SecretStoreSpec;
  /** Which provider the store configures. */
  providerKind: ProviderKind;
}

export const secretStoreApiVersions = [`${ESO_GROUP}/v1`, `${ESO_GROUP}/v1beta1`];

const providerKinds: Record<string, ProviderKind> = {
  vault: "vault",
  aws: "aws-secrets-manager",
  gcpsm: "gcp-secret-manager",
  azurekv: "azure-key-vault",
};

const httpUrl = (schemes: string[]) =>
  str({
    check: (v) => {
      try {
        return schemes.includes(new URL(v).protocol) ? undefined : `must be a ${schemes.join(" or ")} URL`;
      } catch {
        return `must be a ${schemes.join(" or ")} URL`;
      }
    },
  });

const vaultSchema: Schema = obj({
  server: required(httpUrl(["http:", "https:"])),
  path: str(),
  version: oneOf(["v1", "v2"], { default: "v2" }),
  namespace: str(),
  caBundle: str({
    check: (v) => (/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(v) ? undefined : "must be base64 (of a PEM bundle)"),
  }),
  caProvider: obj({
    type: required(oneOf(["Secret", "ConfigMap"])),
    name: required(str()),
    key: str(),
    namespace: str(),
  }),
  auth: obj(
    {
      namespace: str(),
      tokenSecretRef: secretKeySelector(),
      appRole: obj({
        path: str({ default: "approle" }),
        roleId: str(),
        roleRef: secretKeySelector(),
        secretRef: required(secretKeySelector()),
      }),
      kubernetes: obj({
        mountPath: str({ default: "kubernetes" }),
        role: required(str()),
        serviceAccountRef: serviceAccountSelector,
        secretRef: secretKeySelector({ keyRequired: false }),
      }),
      jwt: obj({
        path: str({ default: "jwt" }),
        role: str(),
        secretRef: secretKeySelector(),
        kubernetesServiceAccountToken: obj({
          serviceAccountRef: required(serviceAccountSelector),
          audiences: list(str()),
          expirationSeconds: int({ min: 1 }),
        }),
      }),
      ldap: unsupported(),
      cert: unsupported(),
      iam: unsupported(),
      userPass: unsupported(),
      gcp: unsupported(),
    },
    { atMostOne: ["tokenSecretRef", "appRole", "kubernetes", "jwt"] },
  ),
  tls: unsupported(),
  readYourWrites: unsupported(),
  forwardInconsistent: unsupported(),
  headers: unsupported(),
  checkAndSet: unsupported("pushsync does not write to Vault"),
});

const awsSchema: Schema = obj({
  service: required(
    oneOf(["SecretsManager"], { unsupportedValues: ["ParameterStore", "CertificateManager"] }),
  ),
  region: required(str()),
  role: str(),
  externalID: str(),
  prefix: str(),
  auth: obj(
    {
      secretRef: obj({
        accessKeyIDSecretRef: required(secretKeySelector()),
        secretAccessKeySecretRef: required(secretKeySelector()),
        sessionTokenSecretRef: secretKeySelector(),
      }),
      jwt: obj({ serviceAccountRef: serviceAccountSelector }),
    },
    { atMostOne: ["secretRef", "jwt"] },
  ),
  secretsManager: obj({
    forceDeleteWithoutRecovery: bool(),
    recoveryWindowInDays: int({ min: 7, max: 30 }),
  }),
  additionalRoles: unsupported(),
  sessionTags: unsupported(),
  transitiveTagKeys: unsupported(),
  sessionTagsPolicy: unsupported(),
  customSessionTags: unsupported(),
});

const gcpsmSchema: Schema = obj({
  projectID: str(),
  location: str(),
  secretVersionSelectionPolicy: oneOf(["LatestOrFail", "LatestOrFetch"], { default: "LatestOrFail" }),
  auth: obj(
    {
      secretRef: obj({ secretAccessKeySecretRef: required(secretKeySelector()) }),
      workloadIdentity: obj({
        serviceAccountRef: required(serviceAccountSelector),
        clusterLocation: str(),
        clusterName: str(),
        clusterProjectID: str(),
      }),
      workloadIdentityFederation: unsupported(),
    },
    { atMostOne: ["secretRef", "workloadIdentity"] },
  ),
});

const azurekvSchema: Schema = obj({
  vaultUrl: required(httpUrl(["https:"])),
  tenantId: str(),
  authType: oneOf(["ServicePrincipal", "ManagedIdentity", "WorkloadIdentity"], {
    default: "ServicePrincipal",
  }),
  identityId: str(),
  environmentType: oneOf(["PublicCloud", "USGovernmentCloud", "ChinaCloud", "GermanCloud"], {
    default: "PublicCloud",
    unsupportedValues: ["AzureStackCloud"],
  }),
  authSecretRef: obj({
    clientId: secretKeySelector(),
    tenantId: secretKeySelector(),
    clientSecret: secretKeySelector(),
    clientCertificate: secretKeySelector(),
  }),
  serviceAccountRef: serviceAccountSelector,
  useAzureSDK: bool(),
  customCloudConfig: unsupported(),
});

const supported = Object.keys(providerKinds).join(", ");

export const secretStoreSpecSchema: Schema = obj({
  provider: required(
    obj(
      { vault: vaultSchema, aws: awsSchema, gcpsm: gcpsmSchema, azurekv: azurekvSchema },
      {
        exactlyOne: Object.keys(providerKinds),
        unknownField: (key) => `provider "${key}" is not supported by pushsync; supported: ${supported}`,
      },
    ),
  ),
  controller: str(),
  refreshInterval: int({ min: 0 }),
  retrySettings: obj({ maxRetries: int({ min: 0 }), retryInterval: str() }),
  conditions: list(
    obj({
      namespaces: list(str()),
      namespaceRegexes: list(str()),
      namespaceSelector: unsupported("list the namespaces instead"),
    }),
  ),
});

export function providerKindOf(spec: SecretStoreSpec): ProviderKind | undefined {
  const name = Object.keys(spec.provider)[0];
  return name ? providerKinds[name] : undefined;
}

/** Rules across fields of one store. */
export function checkSecretStore(store: SecretStore, error: (field: string, message: string) => void): void {
  const { provider, conditions } = store.spec;
  const base = "spec.provider";
  if (conditions && store.kind === "SecretStore")
    error("spec.conditions", "only a ClusterSecretStore has conditions");
  conditions?.forEach((c, i) =>
    c.namespaceRegexes?.forEach((re, j) => {
      try {
        new RegExp(re);
      } catch {
        error(`spec.conditions[${i}].namespaceRegexes[${j}]`, "invalid regular expression");
      }
    }),
  );

  const vault = provider.vault;
  if (vault?.auth?.appRole && !vault.auth.appRole.roleId && !vault.auth.appRole.roleRef) {
    error(`${base}.vault.auth.appRole`, "set roleId or roleRef");
  }
  const jwt = vault?.auth?.jwt;
  if (jwt && !jwt.secretRef && !jwt.kubernetesServiceAccountToken) {
    error(`${base}.vault.auth.jwt`, "set secretRef or kubernetesServiceAccountToken");
  }

  const sm = provider.aws?.secretsManager;
  if (sm?.forceDeleteWithoutRecovery && sm.recoveryWindowInDays !== undefined) {
    error(`${base}.aws.secretsManager`, "set forceDeleteWithoutRecovery or recoveryWindowInDays, not both");
  }

  const az = provider.azurekv;
  if (az?.authType === "ServicePrincipal") {
    const ref = az.authSecretRef;
    if (!az.tenantId && !ref?.tenantId)
      error(`${base}.azurekv.tenantId`, "required for authType ServicePrincipal");
    if (!ref?.clientId)
      error(`${base}.azurekv.authSecretRef.clientId`, "required for authType ServicePrincipal");
    if (!ref?.clientSecret === !ref?.clientCertificate) {
      error(
        `${base}.azurekv.authSecretRef`,
        "set one of clientSecret or clientCertificate for authType ServicePrincipal",
      );
    }
  }

  checkReferenceNamespaces(store, provider, base, error);
}

/**
 * A SecretStore may only reference Secrets and service accounts in its own namespace.
 * A ClusterSecretStore reference without a namespace means the namespace of the resource
 * using the store, as in ESO.
 */
function checkReferenceNamespaces(
  store: SecretStore,
  value: unknown,
  path: string,
  error: (field: string, message: string) => void,
): void {
  if (typeof value !== "object" || value === null) return;
  const ref = value as { name?: unknown; namespace?: unknown };
  if (typeof ref.name === "string" && typeof ref.namespace === "string" && store.kind === "SecretStore") {
    if (ref.namespace !== store.metadata.namespace) {
      error(
        `${path}.namespace`,
        `a SecretStore may only reference its own namespace (${store.metadata.namespace})`,
      );
    }
  }
  for (const [k, v] of Object.entries(value)) checkReferenceNamespaces(store, v, `${path}.${k}`, error);
}
