/**
 * PushSecret `data[].metadata`: ESO's PushSecretMetadata wrapper
 *
 *   apiVersion: kubernetes.external-secrets.io/v1alpha1
 *   kind: PushSecretMetadata
 *   spec: { ...fields of the destination provider... }
 *
 * The spec accepts the fields of every provider when the manifest is read; once the
 * destination store is known, `toPushMetadata` keeps those of its provider and reports the
 * others by name. Field names are ESO's (AWS `kmsKeyId`; `kmsKeyID` is accepted too, as Go's
 * case-insensitive JSON decoding does in ESO).
 */
import { MANAGED_BY_KEY, type PushMetadata, type ProviderKind } from "../providers/types.ts";
import { childPath, list, obj, oneOf, required, str, stringMap, unsupported, type Schema } from "./schema.ts";

export const PUSH_METADATA_API_VERSION = "kubernetes.external-secrets.io/v1alpha1";

export interface PushSecretMetadataSpec {
  tags?: Record<string, string>;
  description?: string;
  kmsKeyId?: string;
  kmsKeyID?: string;
  secretPushFormat?: "string" | "binary";
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  replicationLocation?: string;
  replicationLocations?: string[];
  cmekKeyName?: string;
  expirationDate?: string;
  contentType?: string;
}

export interface PushSecretMetadata {
  apiVersion: typeof PUSH_METADATA_API_VERSION;
  kind: "PushSecretMetadata";
  spec: PushSecretMetadataSpec;
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export const pushSecretMetadataSchema: Schema = obj({
  apiVersion: required(oneOf([PUSH_METADATA_API_VERSION])),
  kind: required(oneOf(["PushSecretMetadata"])),
  spec: obj(
    {
      tags: stringMap(),
      description: str(),
      kmsKeyId: str(),
      kmsKeyID: str(),
      secretPushFormat: oneOf(["string", "binary"]),
      resourcePolicy: unsupported(),
      labels: stringMap(),
      annotations: stringMap(),
      replicationLocation: str(),
      replicationLocations: list(str()),
      cmekKeyName: str(),
      topics: unsupported(),
      mergePolicy: unsupported(),
      expirationDate: str({
        check: (v) =>
          rfc3339.test(v) && !Number.isNaN(Date.parse(v)) ? undefined : "must be an RFC 3339 date-time",
      }),
      contentType: str(),
    },
    { atMostOne: ["kmsKeyId", "kmsKeyID"] },
  ),
});

/** The metadata fields each destination provider understands. */
const fieldsOf: Partial<Record<ProviderKind, readonly (keyof PushSecretMetadataSpec)[]>> = {
  "aws-secrets-manager": ["tags", "description", "kmsKeyId", "kmsKeyID", "secretPushFormat"],
  "gcp-secret-manager": [
    "labels",
    "annotations",
    "replicationLocation",
    "replicationLocations",
    "cmekKeyName",
  ],
  "azure-key-vault": ["tags", "expirationDate", "contentType"],
};

/**
 * Normalised metadata for one destination. `path` is the field path of the metadata block;
 * problems are reported by field path and never repeat values.
 */
export function toPushMetadata(
  meta: PushSecretMetadata | undefined,
  provider: ProviderKind,
  destination: string,
  path: string,
  error: (field: string, message: string) => void,
): PushMetadata {
  const spec = meta?.spec ?? {};
  const allowed = fieldsOf[provider] ?? [];
  for (const key of Object.keys(spec) as (keyof PushSecretMetadataSpec)[]) {
    if (!allowed.includes(key)) {
      error(
        childPath(childPath(path, "spec"), key),
        `not a metadata field for ${provider} destination ${destination} (allowed: ${allowed.join(", ")})`,
      );
    }
  }
  for (const mapName of ["tags", "labels"] as const) {
    if (spec[mapName] && Object.hasOwn(spec[mapName], MANAGED_BY_KEY)) {
      error(
        childPath(childPath(childPath(path, "spec"), mapName), MANAGED_BY_KEY),
        "reserved for pushsync's ownership marker",
      );
    }
  }
  const pick = <K extends keyof PushSecretMetadataSpec>(k: K) => (allowed.includes(k) ? spec[k] : undefined);
  const locations =
    pick("replicationLocations") ?? (pick("replicationLocation") ? [spec.replicationLocation!] : undefined);
  const out: PushMetadata = {
    tags: pick("tags"),
    labels: pick("labels"),
    annotations: pick("annotations"),
    description: pick("description"),
    kmsKeyId: pick("kmsKeyId") ?? pick("kmsKeyID"),
    secretPushFormat: pick("secretPushFormat"),
    replicationLocations: locations,
    cmekKeyName: pick("cmekKeyName"),
    contentType: pick("contentType"),
    expirationDate: pick("expirationDate"),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as PushMetadata;
}
