/**
 * From a destination SecretStore (ESO's aws, gcpsm or azurekv provider) to a SecretStoreProvider.
 *
 * Settings come from the store; credentials and endpoints follow one rule: what the environment
 * sets wins over the store, then the store's secret references (read as spec/secret-refs.ts says,
 * when the SDK first needs them), then the SDK's own default chain.
 *
 *   aws      region, role, externalID, prefix, secretsManager.forceDeleteWithoutRecovery and
 *            recoveryWindowInDays. Endpoint: AWS_ENDPOINT_URL_SECRETS_MANAGER, else AWS_ENDPOINT_URL.
 *            Credentials: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else
 *            auth.secretRef, else the SDK's chain (profiles, web identity for auth.jwt, Lambda role).
 *   gcpsm    projectID (else GOOGLE_CLOUD_PROJECT), location. SECRETMANAGER_EMULATOR_HOST selects a
 *            local Secret Manager. Credentials: Application Default Credentials; the store's
 *            auth.secretRef and workloadIdentity are not read.
 *   azurekv  vaultUrl, tenantId, authType (ServicePrincipal with authSecretRef.clientId and
 *            clientSecret, ManagedIdentity with identityId, WorkloadIdentity), PublicCloud only.
 *            PUSHSYNC_AZURE_ACCESS_TOKEN replaces every credential with that bearer token, which
 *            only the local Key Vault accepts. TLS trusts the system store plus NODE_EXTRA_CA_CERTS
 *            (read by Node at start), or exactly `azure.ca` when given (the local cloud's CA).
 */
import { ClientSecretCredential, type TokenCredential } from "@azure/identity";
import { ProviderError } from "../errors/index.ts";
import { silentLogger, type Logger } from "../observability/logger.ts";
import { resourceId, type SecretKeySelector } from "../spec/common.ts";
import { readSecretRef, secretRefLocations, type SecretRefReader } from "../spec/secret-refs.ts";
import type { AwsProvider, AzureKvProvider, GcpsmProvider, SecretStore } from "../spec/secret-store.ts";
import { createAwsSecretsManagerProvider } from "./aws-secrets-manager/index.ts";
import { createAzureKeyVaultProvider } from "./azure-key-vault/index.ts";
import { createGcpSecretManagerProvider } from "./gcp-secret-manager/index.ts";
import type { SecretStoreProvider } from "./types.ts";

type Env = Record<string, string | undefined>;

/** A bearer token for the local Azure Key Vault (see the module comment). */
export const AZURE_ACCESS_TOKEN_ENV = "PUSHSYNC_AZURE_ACCESS_TOKEN";

export interface CreateProviderOptions {
  /** Default process.env. */
  env?: Env;
  logger?: Logger;
  /** The local Azure Key Vault: its URL replaces every azurekv store's vaultUrl; its CA is trusted. */
  azure?: { vaultUrl?: string; ca?: string };
  /** Reads secret references instead of the environment and files (the in-cluster puller). */
  readSecretRef?: SecretRefReader;
}

interface Context {
  id: string;
  env: Env;
  logger: Logger;
  /** Reads a secret reference of the store, or throws naming where it was looked for. */
  read(ref: SecretKeySelector, field: string): Promise<string>;
}

const set = (v: string | undefined): string | undefined => (v && v.trim() !== "" ? v.trim() : undefined);

/** Throws ProviderError("Invalid") for a store that cannot be used (a Vault store, a missing project). */
export function createProvider(store: SecretStore, options: CreateProviderOptions = {}): SecretStoreProvider {
  const env = options.env ?? process.env;
  const id = resourceId(store);
  const namespace = store.metadata.namespace || "default";
  const readRef = options.readSecretRef ?? ((ref, ns) => readSecretRef(ref, ns, env));
  const ctx: Context = {
    id,
    env,
    logger: (options.logger ?? silentLogger).child({ store: id }),
    async read(ref, field) {
      const value = await readRef(ref, namespace);
      if (value !== undefined) return value;
      const where = secretRefLocations(ref, namespace, env);
      throw new ProviderError(
        "Invalid",
        `store ${id}: ${field}: set ${where.env} or write the file ${where.file}`,
      );
    },
  };
  const { aws, gcpsm, azurekv } = store.spec.provider;
  if (aws) return awsProvider(ctx, aws);
  if (gcpsm) return gcpProvider(ctx, gcpsm);
  if (azurekv) return azureProvider(ctx, azurekv, options.azure ?? {});
  throw new ProviderError("Invalid", `store ${id} is not an aws, gcpsm or azurekv store`);
}

function awsProvider(ctx: Context, spec: AwsProvider): SecretStoreProvider {
  const { env } = ctx;
  const endpoint = set(env.AWS_ENDPOINT_URL_SECRETS_MANAGER) ?? set(env.AWS_ENDPOINT_URL);
  const keyId = set(env.AWS_ACCESS_KEY_ID);
  const secret = set(env.AWS_SECRET_ACCESS_KEY);
  const sessionToken = set(env.AWS_SESSION_TOKEN);
  const ref = spec.auth?.secretRef;
  const field = "spec.provider.aws.auth.secretRef";
  const credentials =
    keyId && secret
      ? { accessKeyId: keyId, secretAccessKey: secret, ...(sessionToken ? { sessionToken } : {}) }
      : ref
        ? async () => {
            const token = ref.sessionTokenSecretRef
              ? await ctx.read(ref.sessionTokenSecretRef, `${field}.sessionTokenSecretRef`)
              : undefined;
            return {
              accessKeyId: await ctx.read(ref.accessKeyIDSecretRef, `${field}.accessKeyIDSecretRef`),
              secretAccessKey: await ctx.read(
                ref.secretAccessKeySecretRef,
                `${field}.secretAccessKeySecretRef`,
              ),
              ...(token ? { sessionToken: token } : {}),
            };
          }
        : undefined;
  ctx.logger.debug("store settings", {
    endpoint: endpoint ?? "default",
    credentials: keyId && secret ? "environment" : ref ? "secretRef" : "SDK default chain",
  });
  const sm = spec.secretsManager;
  return createAwsSecretsManagerProvider({
    storeName: ctx.id,
    region: spec.region,
    ...(endpoint ? { endpoint } : {}),
    ...(spec.role ? { role: spec.role } : {}),
    ...(spec.externalID ? { externalId: spec.externalID } : {}),
    ...(spec.prefix ? { prefix: spec.prefix } : {}),
    ...(sm?.forceDeleteWithoutRecovery !== undefined
      ? { forceDeleteWithoutRecovery: sm.forceDeleteWithoutRecovery }
      : {}),
    ...(sm?.recoveryWindowInDays !== undefined ? { recoveryWindowInDays: sm.recoveryWindowInDays } : {}),
    ...(credentials ? { credentials } : {}),
  });
}

function gcpProvider(ctx: Context, spec: GcpsmProvider): SecretStoreProvider {
  const projectId = spec.projectID ?? set(ctx.env.GOOGLE_CLOUD_PROJECT);
  if (!projectId) {
    throw new ProviderError(
      "Invalid",
      `store ${ctx.id}: spec.provider.gcpsm.projectID: required (or set GOOGLE_CLOUD_PROJECT)`,
    );
  }
  const emulatorHost = set(ctx.env.SECRETMANAGER_EMULATOR_HOST);
  ctx.logger.debug("store settings", { emulatorHost: emulatorHost ?? "none" });
  return createGcpSecretManagerProvider({
    storeName: ctx.id,
    projectId,
    ...(spec.location ? { location: spec.location } : {}),
    ...(emulatorHost ? { emulatorHost } : {}),
  });
}

function azureProvider(
  ctx: Context,
  spec: AzureKvProvider,
  local: NonNullable<CreateProviderOptions["azure"]>,
): SecretStoreProvider {
  if (spec.environmentType !== "PublicCloud") {
    throw new ProviderError(
      "Invalid",
      `store ${ctx.id}: spec.provider.azurekv.environmentType: only PublicCloud is supported (got ${spec.environmentType})`,
    );
  }
  const vaultUrl = local.vaultUrl ?? spec.vaultUrl;
  const token = set(ctx.env[AZURE_ACCESS_TOKEN_ENV]);
  ctx.logger.debug("store settings", {
    vaultUrl,
    credentials: token ? AZURE_ACCESS_TOKEN_ENV : spec.authType,
  });
  const common = { storeName: ctx.id, vaultUrl, ...(local.ca ? { ca: local.ca } : {}) };
  if (token) return createAzureKeyVaultProvider({ ...common, credential: staticToken(token) });
  if (spec.authType === "ServicePrincipal") {
    return createAzureKeyVaultProvider({ ...common, credential: servicePrincipal(ctx, spec) });
  }
  return createAzureKeyVaultProvider({
    ...common,
    authType: spec.authType,
    ...(spec.tenantId ? { tenantId: spec.tenantId } : {}),
    ...(spec.identityId ? { identityId: spec.identityId } : {}),
  });
}

function staticToken(token: string): TokenCredential {
  return { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

/** A client-secret credential built on first use, once its secret references are read. */
function servicePrincipal(ctx: Context, spec: AzureKvProvider): TokenCredential {
  const field = "spec.provider.azurekv.authSecretRef";
  let inner: Promise<TokenCredential> | undefined;
  const build = async (): Promise<TokenCredential> => {
    const refs = spec.authSecretRef ?? {};
    if (refs.clientCertificate) {
      throw new ProviderError("Invalid", `store ${ctx.id}: ${field}.clientCertificate is not supported`);
    }
    const tenantId = spec.tenantId ?? (await ctx.read(refs.tenantId!, `${field}.tenantId`));
    const clientId = await ctx.read(refs.clientId!, `${field}.clientId`);
    const clientSecret = await ctx.read(refs.clientSecret!, `${field}.clientSecret`);
    return new ClientSecretCredential(tenantId, clientId, clientSecret);
  };
  return {
    getToken: async (scopes, options) => {
      inner ??= build();
      return (await inner).getToken(scopes, options);
    },
  };
}
