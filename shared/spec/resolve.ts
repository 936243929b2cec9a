/**
 * Turns each PushSecret into a push plan: where the value comes from and where it goes.
 *
 * pushsync has no Kubernetes Secret to push from, so the source is found in this order:
 *   1. A Vault store among `secretStoreRefs`: it is the source and `selector.secret.name` is the
 *      Vault path in it (e.g. "prod/database"); the other stores are the destinations.
 *   2. Otherwise an ExternalSecret in the same namespace whose `target.name` is
 *      `selector.secret.name` (or, for `selector.secret.selector`, whose template labels match):
 *      its data, read from its Vault store, is the source.
 *   3. Otherwise it is an error.
 */
import type { DeleteOptions, PushMetadata, ProviderKind } from "../providers/types.ts";
import type { KvLocation } from "../vault/types.ts";
import { describeResource, matchesLabels, resourceId, type LabelSelector, type StoreKind } from "./common.ts";
import { resourceDiagnostic, type Diagnostic } from "./diagnostics.ts";
import { parseDuration } from "./duration.ts";
import type { ExternalSecret, ExternalSecretRemoteRef, ExternalSecretRewrite } from "./external-secret.ts";
import type { ManifestSet } from "./loader.ts";
import { toPushMetadata } from "./push-metadata.ts";
import { ADOPT_ANNOTATION, type PushSecret } from "./push-secret.ts";
import { compileSecretTemplate, templatedKeys, type CompiledSecretTemplate } from "./secret-template.ts";
import type { SecretStore } from "./secret-store.ts";
import { normalizeVaultPath } from "./vault-path.ts";

export type PushSource =
  | {
      kind: "vault";
      store: SecretStore;
      location: KvLocation;
      /** Every Vault secret the source reads ([location]). */
      locations: KvLocation[];
    }
  | {
      kind: "externalSecret";
      store: SecretStore;
      externalSecret: ExternalSecret;
      /** The ExternalSecret's `data`: Secret key → where its value is in Vault. */
      keys: Record<string, { location: KvLocation; ref: ExternalSecretRemoteRef }>;
      /** The ExternalSecret's `dataFrom[].extract`: every key of these Vault secrets. */
      extracts: { location: KvLocation; ref: ExternalSecretRemoteRef; rewrite?: ExternalSecretRewrite[] }[];
      /** Every Vault secret the source reads, without repeats. */
      locations: KvLocation[];
    };

export interface ResolvedDestination {
  /** "namespace/name" of a SecretStore, "name" of a ClusterSecretStore. */
  id: string;
  store: SecretStore;
  provider: ProviderKind;
  /** From an AWS store's `secretsManager` settings; empty for the others. */
  deleteOptions: DeleteOptions;
}

export interface ResolvedPushData {
  /** Absent: the whole Secret is pushed (as JSON). */
  secretKey?: string;
  remoteKey: string;
  property?: string;
  /** Normalised metadata for each destination, by destination id. */
  metadata: Record<string, PushMetadata>;
  conversionStrategy: "None" | "ReverseUnicode";
}

export interface ResolvedPush {
  /** "namespace/name" of the PushSecret. */
  id: string;
  pushSecret: PushSecret;
  source: PushSource;
  destinations: ResolvedDestination[];
  data: ResolvedPushData[];
  updatePolicy: "Replace" | "IfNotExists";
  deletionPolicy: "Delete" | "None";
  template?: CompiledSecretTemplate;
  refreshIntervalMs: number;
  /** Annotation pushsync.io/adopt: "true": take over remote secrets marked as ESO's. */
  adopt: boolean;
}

export function resolvePushSecrets(set: ManifestSet): { pushes: ResolvedPush[]; errors: Diagnostic[] } {
  const pushes: ResolvedPush[] = [];
  const errors: Diagnostic[] = [];
  for (const ps of set.pushSecrets) {
    const before = errors.length;
    const error = (field: string, message: string) => errors.push(resourceDiagnostic(ps, field, message));
    const push = resolveOne(set, ps, error);
    if (push && errors.length === before) pushes.push(push);
  }
  return { pushes, errors };
}

type ErrorAt = (field: string, message: string) => void;

function resolveOne(set: ManifestSet, ps: PushSecret, error: ErrorAt): ResolvedPush | undefined {
  const namespace = ps.metadata.namespace;
  const stores: SecretStore[] = [];
  let dangling = false;
  ps.spec.secretStoreRefs.forEach((ref, i) => {
    const found = findStores(set, ref, namespace);
    dangling ||= found.length === 0;
    const field = `spec.secretStoreRefs[${i}]`;
    if (found.length === 0 && ref.labelSelector) {
      error(
        `${field}.labelSelector`,
        `matches no ${ref.kind}${ref.kind === "SecretStore" ? ` in namespace ${namespace}` : ""}`,
      );
    } else if (found.length === 0) {
      error(`${field}.name`, storeNotFound(set, ref, namespace));
    }
    for (const s of found) {
      if (!usableFrom(s, namespace))
        error(field, `${describeResource(s)} does not allow namespace ${namespace}`);
      else if (!stores.includes(s)) stores.push(s);
    }
  });

  if (dangling) return undefined;
  const vaultStores = stores.filter((s) => s.providerKind === "vault");
  const destinations = stores.filter((s) => s.providerKind !== "vault").map(destination);
  if (vaultStores.length > 1) {
    const names = vaultStores.map(describeResource).join(", ");
    error("spec.secretStoreRefs", `names more than one Vault store (${names}); pushsync reads from one`);
  }
  if (destinations.length === 0 && stores.length > 0) {
    error("spec.secretStoreRefs", "no destination: list an aws, gcpsm or azurekv store");
  }
  const source = vaultStores[0]
    ? vaultSource(ps, vaultStores[0], error)
    : externalSecretSource(set, ps, error);
  if (!source) return undefined;

  const keys = templatedKeys(ps.spec.template, sourceKeys(source));
  const data = ps.spec.data.map((d, i): ResolvedPushData => {
    const { secretKey } = d.match;
    if (secretKey !== undefined && keys && !keys.includes(secretKey)) {
      error(
        `spec.data[${i}].match.secretKey`,
        `"${secretKey}" is not a key of the source (keys: ${keys.join(", ")})`,
      );
    }
    const metadata: Record<string, PushMetadata> = {};
    for (const dest of destinations) {
      metadata[dest.id] = toPushMetadata(
        d.metadata,
        dest.provider,
        dest.id,
        `spec.data[${i}].metadata`,
        error,
      );
    }
    return {
      secretKey,
      remoteKey: d.match.remoteRef.remoteKey,
      property: d.match.remoteRef.property,
      metadata,
      conversionStrategy: d.conversionStrategy,
    };
  });

  return {
    id: resourceId(ps),
    pushSecret: ps,
    source,
    destinations,
    data,
    updatePolicy: ps.spec.updatePolicy,
    deletionPolicy: ps.spec.deletionPolicy,
    template: ps.spec.template && compileSecretTemplate(ps.spec.template),
    refreshIntervalMs: parseDuration(ps.spec.refreshInterval),
    adopt: ps.metadata.annotations[ADOPT_ANNOTATION] === "true",
  };
}

function destination(store: SecretStore): ResolvedDestination {
  const sm = store.spec.provider.aws?.secretsManager;
  const deleteOptions: DeleteOptions = {};
  if (sm?.forceDeleteWithoutRecovery) deleteOptions.force = true;
  if (sm?.recoveryWindowInDays !== undefined) deleteOptions.recoveryWindowInDays = sm.recoveryWindowInDays;
  return { id: resourceId(store), store, provider: store.providerKind, deleteOptions };
}

/** Case 1: `selector.secret.name` is a path in the Vault store. */
function vaultSource(ps: PushSecret, store: SecretStore, error: ErrorAt): PushSource | undefined {
  const { name } = ps.spec.selector.secret;
  if (name === undefined) {
    error("spec.selector.secret", `with a Vault store as source, set selector.secret.name to the Vault path`);
    return undefined;
  }
  try {
    const location = normalizeVaultPath(store, name);
    return { kind: "vault", store, location, locations: [location] };
  } catch (err) {
    error("spec.selector.secret.name", (err as Error).message);
    return undefined;
  }
}

/** Case 2: the Secret an ExternalSecret in the same namespace writes. */
function externalSecretSource(set: ManifestSet, ps: PushSecret, error: ErrorAt): PushSource | undefined {
  const { name, selector } = ps.spec.selector.secret;
  const namespace = ps.metadata.namespace;
  const field = name !== undefined ? "spec.selector.secret.name" : "spec.selector.secret.selector";
  const matches = set.externalSecrets.filter(
    (es) =>
      es.metadata.namespace === namespace &&
      (name !== undefined
        ? es.spec.target.name === name
        : matchesLabels(selector as LabelSelector, es.spec.target.template?.metadata?.labels ?? {})),
  );
  const secret = name !== undefined ? `Secret "${name}"` : "the selected Secret";
  if (matches.length === 0) {
    error(
      field,
      `no source for ${secret}: expected a Vault store in spec.secretStoreRefs (the name is then a Vault path)` +
        ` or an ExternalSecret in namespace ${namespace} writing ${secret}`,
    );
    return undefined;
  }
  if (matches.length > 1) {
    error(
      field,
      `${matches.length} ExternalSecrets write ${secret} (${matches.map(resourceId).join(", ")}); pushsync needs one`,
    );
    return undefined;
  }
  const es = matches[0]!;
  const store = findStores(set, es.spec.secretStoreRef, namespace)[0];
  if (!store || store.providerKind !== "vault") {
    error(field, `${describeResource(es)} does not read from a Vault store, so it cannot be a push source`);
    return undefined;
  }
  if (es.spec.dataFrom?.some((d) => d.find)) {
    error(field, `${describeResource(es)} uses dataFrom.find; a push source needs fixed Vault paths`);
    return undefined;
  }
  const locations: KvLocation[] = [];
  const at = (key: string): KvLocation => {
    const loc = normalizeVaultPath(store, key);
    if (!locations.some((l) => l.mount === loc.mount && l.path === loc.path)) locations.push(loc);
    return loc;
  };
  const keys: Record<string, { location: KvLocation; ref: ExternalSecretRemoteRef }> = {};
  for (const d of es.spec.data ?? []) keys[d.secretKey] = { location: at(d.remoteRef.key), ref: d.remoteRef };
  const extracts = (es.spec.dataFrom ?? []).map((d) => ({
    location: at(d.extract!.key),
    ref: d.extract!,
    rewrite: d.rewrite,
  }));
  return { kind: "externalSecret", store, externalSecret: es, keys, extracts, locations };
}

/** The Secret keys a source provides, when they are known before reading Vault. */
function sourceKeys(source: PushSource): string[] | undefined {
  if (source.kind === "vault" || source.extracts.length > 0) return undefined;
  return templatedKeys(source.externalSecret.spec.target.template, Object.keys(source.keys));
}

// --- store references (shared with the loader) -------------------------------------------------

/** The stores a reference names: a SecretStore in `namespace`, or a ClusterSecretStore. */
export function findStores(
  set: ManifestSet,
  ref: { name?: string; kind: StoreKind; labelSelector?: LabelSelector },
  namespace: string,
): SecretStore[] {
  return set.stores.filter(
    (s) =>
      s.kind === ref.kind &&
      (ref.kind === "ClusterSecretStore" || s.metadata.namespace === namespace) &&
      (ref.labelSelector
        ? matchesLabels(ref.labelSelector, s.metadata.labels)
        : s.metadata.name === ref.name),
  );
}

/** The message for a store reference that matches nothing, with a hint when the kind is wrong. */
export function storeNotFound(
  set: ManifestSet,
  ref: { name?: string; kind: StoreKind },
  namespace: string,
): string {
  const where = ref.kind === "SecretStore" ? ` in namespace ${namespace}` : "";
  const other: StoreKind = ref.kind === "SecretStore" ? "ClusterSecretStore" : "SecretStore";
  const hint = findStores(set, { ...ref, kind: other }, namespace).length
    ? ` (there is a ${other} of that name: set kind: ${other})`
    : "";
  return `${ref.kind} "${ref.name}" not found${where}${hint}`;
}

/** A ClusterSecretStore's conditions may limit the namespaces that can use it. */
export function usableFrom(store: SecretStore, namespace: string): boolean {
  const conditions = store.spec.conditions;
  if (!conditions?.length) return true;
  return conditions.some(
    (c) =>
      c.namespaces?.includes(namespace) || c.namespaceRegexes?.some((re) => new RegExp(re).test(namespace)),
  );
}
