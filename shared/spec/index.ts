/**
 * ESO manifests as pushsync reads them: SecretStore, ClusterSecretStore, PushSecret and
 * ExternalSecret. `loadManifests` reads and checks them; `resolvePushSecrets` gives each
 * PushSecret's push plan (source, destinations, data, policies).
 */
export { loadManifests, type LoadResult, type ManifestSet } from "./loader.ts";
export {
  findStores,
  resolvePushSecrets,
  type PushSource,
  type ResolvedDestination,
  type ResolvedPush,
  type ResolvedPushData,
} from "./resolve.ts";
export { formatDiagnostic, type Diagnostic } from "./diagnostics.ts";
export {
  describeResource,
  resourceId,
  type LabelSelector,
  type ObjectMeta,
  type SecretKeySelector,
  type ServiceAccountSelector,
  type Source,
  type StoreKind,
} from "./common.ts";
export type {
  AwsProvider,
  AzureKvProvider,
  GcpsmProvider,
  SecretStore,
  SecretStoreSpec,
  VaultAuth,
  VaultProvider,
} from "./secret-store.ts";
export {
  ADOPT_ANNOTATION,
  type PushSecret,
  type PushSecretData,
  type PushSecretStoreRef,
} from "./push-secret.ts";
export type {
  DecodingStrategy,
  ExternalSecret,
  ExternalSecretDataFrom,
  ExternalSecretRemoteRef,
  ExternalSecretRewrite,
} from "./external-secret.ts";
export {
  PUSH_METADATA_API_VERSION,
  type PushSecretMetadata,
  type PushSecretMetadataSpec,
} from "./push-metadata.ts";
export type { CompiledSecretTemplate, SecretTemplate } from "./secret-template.ts";
export { compileTemplate, renderTemplate, TemplateError, type CompiledTemplate } from "./template.ts";
export { normalizeVaultPath } from "./vault-path.ts";
export { parseDuration } from "./duration.ts";
export { readSecretRef, secretRefLocations, vaultTokenSource } from "./secret-refs.ts";
