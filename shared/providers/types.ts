/**
 * The one interface between the engine (and the puller) and a secret store.
 *
 * Modelled on ESO's provider contract (GetSecret, PushSecret, DeleteSecret, SecretExists),
 * plus what an event-driven, list-first reconcile needs: `listManaged` learns the state of
 * every secret pushsync owns from list calls that return metadata only, and `describe`
 * learns one secret's state without reading its value.
 *
 * Every provider folder (shared/providers/<name>/) has the same files:
 *   index.ts     the factory (`create<Name>Provider`) and the class implementing SecretStoreProvider
 *   names.ts     remote key validation and mapping to the store's native name
 *   marker.ts    how ownership, fingerprint and Vault path/version are stored (tags, labels, annotations)
 *   errors.ts    the SDK's errors mapped to ProviderError
 *
 * Providers never log or throw secret values. They count every API call in `calls`.
 * They do not retry: SDK retries are turned off and retryable failures surface as
 * ProviderError { retryable: true, retryAfterMs? }; the engine's resilience wrapper retries.
 */
import type { Counters } from "../observability/counters.ts";

export type ProviderKind = "aws-secrets-manager" | "gcp-secret-manager" | "azure-key-vault" | "vault";

/** Tag / label value that marks a remote secret as owned by pushsync. */
export const MANAGED_BY_KEY = "managed-by";
export const MANAGED_BY_PUSHSYNC = "pushsync";
/** ESO marks what it pushed with this value; accepted when a PushSecret opts in to adoption. */
export const MANAGED_BY_ESO = "external-secrets";

/** What pushsync records on every secret it writes. */
export interface PushMarker {
  /** "mount/path" of the Vault secret the value came from. */
  vaultPath: string;
  /** KV v2 version the value came from (0 for KV v1). */
  vaultVersion: number;
  /** Keyed HMAC-SHA256 (hex) of the rendered value and metadata. Never a plain hash. */
  fingerprint: string;
}

/** State of one remote secret, learned without reading its value. */
export interface RemoteSecretState {
  /** Remote key as written in the manifest (e.g. "/prod/lambda/db-password"). */
  key: string;
  /** The store's native name or id after mapping (e.g. GCP secret id, Azure secret name). */
  name: string;
  /** Value of the managed-by tag/label, if any ("pushsync", "external-secrets", ...). */
  managedBy?: string;
  /** What pushsync recorded at its last push, if the secret carries a pushsync marker. */
  marker?: PushMarker;
  /**
   * True when the store can tell that its current value is the one recorded in `marker`
   * (AWS: AWSCURRENT is the version whose id we derived from the fingerprint; GCP: the latest
   * version is the one named in the annotations; Azure: the tags were set with the value).
   */
  currentIsMarked: boolean;
  /** Scheduled for deletion (AWS) or soft-deleted but recoverable (Azure). */
  pendingDeletion: boolean;
  /** User tags / labels currently on the secret (without pushsync's own). */
  tags: Record<string, string>;
}

/** Provider-specific PushSecret metadata, normalised from ESO's PushSecretMetadata. */
export interface PushMetadata {
  /** AWS tags, Azure tags. */
  tags?: Record<string, string>;
  /** GCP labels. */
  labels?: Record<string, string>;
  /** GCP annotations. */
  annotations?: Record<string, string>;
  /** AWS description. */
  description?: string;
  /** AWS KMS key id. */
  kmsKeyId?: string;
  /** AWS: push the value as SecretString (default) or SecretBinary. */
  secretPushFormat?: "string" | "binary";
  /** GCP user-managed replication locations (automatic replication when absent). */
  replicationLocations?: string[];
  /** GCP customer-managed encryption key. */
  cmekKeyName?: string;
  /** Azure content type. */
  contentType?: string;
  /** Azure expiry, RFC 3339. */
  expirationDate?: string;
}

export interface PushRequest {
  key: string;
  value: Buffer;
  metadata: PushMetadata;
  marker: PushMarker;
  /**
   * Deterministic token derived from the fingerprint (AWS ClientRequestToken, 32-64 chars).
   * A retried push with the same token is a no-op at the store.
   */
  idempotencyToken: string;
  /** The secret exists and is pending deletion / soft-deleted: restore it before writing. */
  restore?: boolean;
  /** What the engine learned about the secret before deciding to push (undefined: absent). */
  current?: RemoteSecretState;
}

export interface PushResult {
  action: "created" | "updated";
  /** The store's id for the version written (AWS VersionId, GCP version number, Azure version). */
  versionId?: string;
}

export interface DeleteOptions {
  /** AWS forceDeleteWithoutRecovery, Azure purge. */
  force?: boolean;
  /** AWS recoveryWindowInDays (7-30). */
  recoveryWindowInDays?: number;
}

/** ESO remoteRef for the read side. */
export interface RemoteRef {
  key: string;
  property?: string;
  version?: string;
}

/** ESO dataFrom.find for the read side. */
export interface FindQuery {
  /** Regular expression on the remote key. */
  nameRegexp?: string;
  /** Tags / labels that must all match. */
  tags?: Record<string, string>;
  /** Key prefix. */
  path?: string;
}

export interface ProviderLimits {
  maxValueBytes: number;
  maxTags?: number;
}

/** Requests per second the resilience wrapper allows, per operation class, set below the store's quota. */
export interface ProviderQuotas {
  read: number;
  write: number;
  list: number;
}

export interface SecretStoreProvider {
  readonly kind: ProviderKind;
  /** "namespace/name" or "name" of the SecretStore this instance serves. */
  readonly storeName: string;
  readonly limits: ProviderLimits;
  readonly quotas: ProviderQuotas;
  /** Provider API calls made by this instance, by operation name. */
  readonly calls: Counters;

  /** Maps a manifest remote key to the store's native name, or throws ProviderError("InvalidName"). */
  mapKey(key: string): string;

  // --- write side -------------------------------------------------------------------------
  /** Every secret carrying a managed-by marker (pushsync or ESO), from list calls only. */
  listManaged(): AsyncIterable<RemoteSecretState>;
  /**
   * Optional. Native names (as mapKey returns them) of every secret in the store, marked or not,
   * including those pending deletion or soft-deleted that describe() would report: one array per
   * list call. `prefixes` (at most 10) may narrow the listing to names starting with one of them;
   * names outside them may still come back. Lets a full plan learn which of many new keys
   * already exist without describing each one.
   */
  listNames?(prefixes?: string[]): AsyncIterable<string[]>;
  /** State of one secret without reading its value; undefined when it does not exist. */
  describe(key: string): Promise<RemoteSecretState | undefined>;
  /** Creates or updates the secret with value, metadata and marker. */
  push(request: PushRequest): Promise<PushResult>;
  /** Deletes (or schedules deletion of) a secret. Absent secrets are not an error. */
  delete(key: string, options?: DeleteOptions): Promise<void>;

  // --- read side (property merges, the in-cluster puller) ----------------------------------
  /** The value (or one JSON property of it) of a secret, latest or a given version. */
  getSecret(ref: RemoteRef): Promise<Buffer>;
  /** Values of several secrets in as few calls as the store allows; absent keys are left out. */
  getSecrets(keys: string[]): Promise<Map<string, Buffer>>;
  /** Secrets matching a query, by remote key. */
  findSecrets(query: FindQuery): Promise<Map<string, Buffer>>;
  secretExists(key: string): Promise<boolean>;

  close?(): Promise<void>;
}
