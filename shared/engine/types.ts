/**
 * The push engine's input and output.
 *
 * Input is a flat list of PushEntry: one per (PushSecret, destination store, remote key
 * [, property]). shared/engine/from-manifests.ts builds it from the resolved manifests; tests
 * and other callers may build it directly.
 */
import type { ErrorCode } from "../errors/index.ts";
import type { PushMetadata } from "../providers/types.ts";
import type { KvLocation } from "../vault/types.ts";

export type UpdatePolicy = "Replace" | "IfNotExists";
export type DeletionPolicy = "Delete" | "None";
export type ConversionStrategy = "None" | "ReverseUnicode";

/**
 * One piece of the source data (the Kubernetes-Secret-like key → string map a value is rendered from).
 * Without `secretKey`, every key of the Vault secret is taken (a PushSecret whose source is a Vault
 * store, or an ExternalSecret `dataFrom.extract`). With `secretKey`, that one key is set to the Vault
 * secret's `property`, or to the whole Vault secret as JSON when `property` is absent
 * (an ExternalSecret `data[].remoteRef`).
 */
export interface SourcePart {
  location: KvLocation;
  secretKey?: string;
  property?: string;
}

export interface PushSource {
  /** Name of the Vault SecretStore the parts are read from. */
  vaultStore: string;
  parts: SourcePart[];
}

/** Rewrites the source data before a key is picked (a PushSecret's template, an ExternalSecret's own). */
export interface DataTemplate {
  /** The template(s) as written in the manifests; enters the fingerprint, so editing one is a change. */
  text: string;
  render(data: Record<string, string>): Record<string, string>;
}

export interface PushEntry {
  /** PushSecret id, "namespace/name". */
  pushSecret: string;
  /** Destination store name (key of the engine's provider map). */
  store: string;
  /** Remote key as written in the manifest. */
  remoteKey: string;
  /** Set this top-level key of a JSON remote secret instead of writing the whole value. */
  property?: string;
  source: PushSource;
  /** Key of the (templated, converted) source data to push; the whole data as a JSON object when absent. */
  secretKey?: string;
  template?: DataTemplate;
  /** Applied to the key names of the templated data, before `secretKey` is looked up. */
  conversionStrategy: ConversionStrategy;
  metadata: PushMetadata;
  updatePolicy: UpdatePolicy;
  deletionPolicy: DeletionPolicy;
  /** Take over remote secrets that exist without a pushsync marker (unmarked or marked by ESO). */
  adopt: boolean;
}

/** A Vault secret that changed (from an event); `version` is the KV v2 version the event names. */
export interface ChangedPath {
  mount: string;
  path: string;
  version?: number;
}

export type Outcome = "created" | "updated" | "unchanged" | "skipped" | "deleted" | "error";

export interface EntryError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

/** Outcome of one entry (or of one unmapped remote secret, which has no `pushSecret`). */
export interface ReportEntry {
  pushSecret?: string;
  store: string;
  remoteKey: string;
  property?: string;
  outcome: Outcome;
  /** Why an entry was skipped or left unchanged in a notable way. */
  reason?: string;
  error?: EntryError;
  /** First 12 hex digits of the fingerprint. */
  fingerprint?: string;
  /** Vault source(s) as "mount/path@version", comma separated. */
  vault?: string;
  durationMs: number;
}

export interface Report {
  entries: ReportEntry[];
  totals: Record<Outcome, number>;
  /** Provider API calls made since the plan started, by store and operation. */
  calls: Record<string, Record<string, number>>;
  /** Vault reads made by the plan: metadata, data (KV v2 and v1), by kind. */
  vaultReads: { metadata: number; data: number };
  durationMs: number;
}
