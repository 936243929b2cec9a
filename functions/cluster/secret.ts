/**
 * The Kubernetes Secret an ExternalSecret asks for, built over the existing one (ESO's
 * mutation function and ApplyTemplate):
 *
 *   - immutable: set when the target asks; an existing immutable Secret keeps its data and type
 *   - data: creationPolicy Merge / CreateOrMerge keep the Secret's other keys and drop only the
 *     keys this ExternalSecret wrote last time (recorded in MANAGED_KEYS_ANNOTATION, names only);
 *     the other policies start from no data. Without a template the fetched data is the Secret's
 *     data; with one, `type` is set, the fetched data is kept only with mergePolicy Merge (or when
 *     the template has no data), and each template.data entry is rendered over it
 *   - metadata: without a template, the ExternalSecret's labels and annotations are copied;
 *     with one, template.metadata's (labels and annotations rendered as templates, so they may
 *     use the data; finalizers added)
 *   - ownership: creationPolicy Owner sets a controller ownerReference to the ExternalSecret;
 *     a Secret controlled by another ExternalSecret is refused (SecretOwnedError)
 *   - the label reconcile.external-secrets.io/managed=true, and the data-hash annotation:
 *     a keyed HMAC-SHA256 of the data (never a plain hash), which lets the puller see that a
 *     Secret was edited by hand and repair it
 */
import { createHmac } from "node:crypto";
import { PushsyncError } from "../../shared/errors/index.ts";
import { canonicalJson } from "../../shared/engine/fingerprint.ts";
import { redact } from "../../shared/observability/logger.ts";
import { compileTemplate, renderTemplate, type ExternalSecret } from "../../shared/spec/index.ts";
import type { KubeObject, OwnerReference } from "./kube.ts";
import type { SecretData } from "./fetch.ts";

export const MANAGED_LABEL = "reconcile.external-secrets.io/managed";
export const DATA_HASH_ANNOTATION = "reconcile.external-secrets.io/data-hash";
/** JSON object: ExternalSecret name → the data keys it wrote. */
const MANAGED_KEYS_ANNOTATION = "pushsync.io/managed-keys";

export interface KubeSecret extends KubeObject {
  type?: string;
  /** Base64 values. */
  data?: Record<string, string>;
  immutable?: boolean;
}

/** The ExternalSecret as read from the cluster, next to its checked spec. */
export interface ExternalSecretObject extends KubeObject {
  status?: ExternalSecretStatus;
}

export interface ExternalSecretStatus {
  refreshTime?: string;
  syncedResourceVersion?: string;
  binding?: { name: string };
  conditions?: {
    type: string;
    status: string;
    reason?: string;
    message?: string;
    lastTransitionTime?: string;
  }[];
}

export class SecretOwnedError extends PushsyncError {
  override name = "SecretOwnedError";
}

/** Keyed HMAC-SHA256 (hex) of a Secret's data, as stored in the data-hash annotation. */
function dataHash(key: Buffer, data: Record<string, string> | undefined): string {
  return createHmac("sha256", key)
    .update("pushsync/kubernetes-secret-data/v1\n")
    .update(canonicalJson(data ?? {}))
    .digest("hex");
}

/** ESO's isSecretValid: the Secret exists, is labelled as managed and its data matches the hash. */
export function isSecretValid(es: ExternalSecret, secret: KubeSecret | undefined, key: Buffer): boolean {
  if (es.spec.target.creationPolicy === "Orphan") return true;
  if (!secret) return false;
  if (secret.metadata.labels?.[MANAGED_LABEL] !== "true") return false;
  return secret.metadata.annotations?.[DATA_HASH_ANNOTATION] === dataHash(key, secret.data);
}

export function controllerOf(secret: KubeSecret): OwnerReference | undefined {
  return secret.metadata.ownerReferences?.find((r) => r.controller);
}

const isExternalSecretRef = (r: OwnerReference): boolean =>
  r.kind === "ExternalSecret" && r.apiVersion.split("/")[0] === "external-secrets.io";

export function desiredSecret(
  es: ExternalSecret,
  esObject: ExternalSecretObject,
  existing: KubeSecret | undefined,
  data: SecretData,
  hashKey: Buffer,
): KubeSecret {
  const target = es.spec.target;
  const secret: KubeSecret = existing
    ? structuredClone(existing)
    : {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: target.name, namespace: es.metadata.namespace },
      };
  const meta = secret.metadata;
  meta.labels ??= {};
  meta.annotations ??= {};
  if (target.immutable) secret.immutable = true;

  if (!existing || !target.immutable) {
    const managed = managedKeys(secret);
    const merge = target.creationPolicy === "Merge" || target.creationPolicy === "CreateOrMerge";
    const out: Record<string, string> = {};
    if (merge) {
      for (const [k, v] of Object.entries(secret.data ?? {}))
        if (!(managed[es.metadata.name] ?? []).includes(k)) out[k] = v;
    }
    const written = applyTemplate(es, secret, data, out);
    secret.data = out;
    managed[es.metadata.name] = written.sort();
    if (written.length === 0) delete managed[es.metadata.name];
    if (Object.keys(managed).length > 0) meta.annotations[MANAGED_KEYS_ANNOTATION] = canonicalJson(managed);
    else delete meta.annotations[MANAGED_KEYS_ANNOTATION];
  }

  setOwnership(es, esObject, secret);
  meta.labels[MANAGED_LABEL] = "true";
  meta.annotations[DATA_HASH_ANNOTATION] = dataHash(hashKey, secret.data);
  return secret;
}

/** Sets metadata, type and data keys from the template; returns the data keys it wrote. */
function applyTemplate(
  es: ExternalSecret,
  secret: KubeSecret,
  data: SecretData,
  out: Record<string, string>,
): string[] {
  const template = es.spec.target.template;
  const meta = secret.metadata;
  const written = new Set<string>();
  const put = (k: string, v: Buffer): void => {
    out[k] = v.toString("base64");
    written.add(k);
  };
  if (!template) {
    Object.assign(meta.labels!, es.metadata.labels);
    Object.assign(meta.annotations!, es.metadata.annotations);
    for (const [k, v] of data) put(k, v);
    return [...written];
  }
  const values = Object.fromEntries([...data].map(([k, v]) => [k, v.toString("utf8")]));
  const render = (source: string, field: string): string => {
    try {
      return renderTemplate(compileTemplate(source), values);
    } catch (err) {
      // The renderer names keys and functions; the redactor is the second line of defence.
      throw new PushsyncError("Invalid", `${field}: ${redact((err as Error).message)}`);
    }
  };
  for (const [k, v] of Object.entries(template.metadata?.labels ?? {})) {
    meta.labels![k] = render(v, `spec.target.template.metadata.labels["${k}"]`);
  }
  for (const [k, v] of Object.entries(template.metadata?.annotations ?? {})) {
    meta.annotations![k] = render(v, `spec.target.template.metadata.annotations["${k}"]`);
  }
  for (const f of template.metadata?.finalizers ?? []) {
    if (!meta.deletionTimestamp && !meta.finalizers?.includes(f))
      meta.finalizers = [...(meta.finalizers ?? []), f];
  }
  if (template.type) secret.type = template.type;
  const templates = Object.entries(template.data ?? {});
  if (template.mergePolicy === "Merge" || templates.length === 0) {
    for (const [k, v] of data) put(k, v);
  }
  for (const [k, source] of templates) {
    put(k, Buffer.from(render(source, `spec.target.template.data["${k}"]`), "utf8"));
  }
  return [...written];
}

function managedKeys(secret: KubeSecret): Record<string, string[]> {
  const raw = secret.metadata.annotations?.[MANAGED_KEYS_ANNOTATION];
  if (!raw) return {};
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      return Object.fromEntries(
        Object.entries(parsed).filter((e): e is [string, string[]] => Array.isArray(e[1])),
      );
    }
  } catch {
    // Edited by hand into something else: start again.
  }
  return {};
}

function setOwnership(es: ExternalSecret, esObject: ExternalSecretObject, secret: KubeSecret): void {
  const refs = secret.metadata.ownerReferences ?? [];
  const controller = refs.find((r) => r.controller);
  const ours =
    controller !== undefined && isExternalSecretRef(controller) && controller.name === es.metadata.name;
  if (controller && isExternalSecretRef(controller) && !ours) {
    throw new SecretOwnedError(
      "Conflict",
      `Secret ${es.metadata.namespace}/${secret.metadata.name} is owned by ExternalSecret ${controller.name}`,
    );
  }
  const others = refs.filter((r) => !(isExternalSecretRef(r) && r.name === es.metadata.name));
  if (es.spec.target.creationPolicy === "Owner") {
    if (controller && !ours) {
      throw new SecretOwnedError(
        "Conflict",
        `Secret ${es.metadata.namespace}/${secret.metadata.name} has another controller (${controller.kind} ${controller.name})`,
      );
    }
    others.push({
      apiVersion: esObject.apiVersion ?? "external-secrets.io/v1",
      kind: "ExternalSecret",
      name: es.metadata.name,
      uid: esObject.metadata.uid ?? "",
      controller: true,
      blockOwnerDeletion: true,
    });
  }
  if (others.length > 0) secret.metadata.ownerReferences = others;
  else delete secret.metadata.ownerReferences;
}

/** What a write would change: data and type (refused on an immutable Secret) or metadata only. */
export function secretChanges(
  existing: KubeSecret,
  desired: KubeSecret,
): { data: boolean; metadata: boolean } {
  const pick = (s: KubeSecret) => ({
    labels: s.metadata.labels ?? {},
    annotations: s.metadata.annotations ?? {},
    ownerReferences: s.metadata.ownerReferences ?? [],
    finalizers: s.metadata.finalizers ?? [],
    immutable: s.immutable ?? false,
  });
  return {
    data:
      canonicalJson(existing.data ?? {}) !== canonicalJson(desired.data ?? {}) ||
      (existing.type ?? "Opaque") !== (desired.type ?? "Opaque"),
    metadata: canonicalJson(pick(existing)) !== canonicalJson(pick(desired)),
  };
}
