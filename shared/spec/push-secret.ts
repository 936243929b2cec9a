/**
 * PushSecret (external-secrets.io/v1alpha1). Where the pushed value comes from is decided by
 * resolve.ts: pushsync has no Kubernetes Secret to read, so `selector.secret` names either a
 * Vault path (when a Vault store is among the secretStoreRefs) or the target Secret of an
 * ExternalSecret in the same namespace.
 *
 * The annotation `pushsync.io/adopt: "true"` lets pushsync take over remote secrets that ESO
 * created (marked managed-by: external-secrets) instead of refusing to overwrite them.
 */
import {
  ESO_GROUP,
  labelSelector,
  storeKind,
  type LabelSelector,
  type Resource,
  type StoreKind,
} from "./common.ts";
import { pushSecretMetadataSchema, type PushSecretMetadata } from "./push-metadata.ts";
import { duration, list, obj, oneOf, required, str, unsupported, type Schema } from "./schema.ts";
import { secretKey, secretTemplateSchema, type SecretTemplate } from "./secret-template.ts";

export const ADOPT_ANNOTATION = "pushsync.io/adopt";

export interface PushSecretStoreRef {
  name?: string;
  kind: StoreKind;
  labelSelector?: LabelSelector;
}

export interface PushSecretData {
  match: { secretKey?: string; remoteRef: { remoteKey: string; property?: string } };
  metadata?: PushSecretMetadata;
  conversionStrategy: "None" | "ReverseUnicode";
}

export interface PushSecret extends Resource<"PushSecret"> {
  spec: {
    refreshInterval: string;
    secretStoreRefs: PushSecretStoreRef[];
    updatePolicy: "Replace" | "IfNotExists";
    deletionPolicy: "Delete" | "None";
    selector: { secret: { name?: string; selector?: LabelSelector } };
    data: PushSecretData[];
    template?: SecretTemplate;
  };
}

export const pushSecretApiVersions = [`${ESO_GROUP}/v1alpha1`];

export const pushSecretSpecSchema: Schema = obj({
  refreshInterval: duration({ default: "1h" }),
  secretStoreRefs: required(
    list(obj({ name: str(), kind: storeKind({ default: "SecretStore" }), labelSelector }), { minItems: 1 }),
  ),
  updatePolicy: oneOf(["Replace", "IfNotExists"], { default: "Replace" }),
  deletionPolicy: oneOf(["Delete", "None"], { default: "None" }),
  selector: required(
    obj({
      secret: required(obj({ name: str(), selector: labelSelector }, { exactlyOne: ["name", "selector"] })),
      generatorRef: unsupported("pushsync pushes what Vault holds"),
    }),
  ),
  data: required(
    list(
      obj({
        match: required(
          obj({
            secretKey,
            remoteRef: required(obj({ remoteKey: required(str({ check: nonEmpty })), property: str() })),
          }),
        ),
        metadata: pushSecretMetadataSchema,
        conversionStrategy: oneOf(["None", "ReverseUnicode"], { default: "None" }),
      }),
      { minItems: 1 },
    ),
  ),
  dataTo: unsupported("list each key under data"),
  template: secretTemplateSchema,
});

function nonEmpty(v: string): string | undefined {
  return v.trim() === "" ? "must not be empty" : undefined;
}

/** Rules across fields of one PushSecret (store references are checked by the loader). */
export function checkPushSecret(ps: PushSecret, error: (field: string, message: string) => void): void {
  ps.spec.secretStoreRefs.forEach((ref, i) => {
    if (!ref.name === !ref.labelSelector)
      error(`spec.secretStoreRefs[${i}]`, "set one of name or labelSelector");
  });
  const adopt = ps.metadata.annotations[ADOPT_ANNOTATION];
  if (adopt !== undefined && adopt !== "true" && adopt !== "false") {
    error(`metadata.annotations["${ADOPT_ANNOTATION}"]`, `must be "true" or "false"`);
  }
  // Two entries may write different properties of one remote secret, nothing else of it.
  ps.spec.data.forEach((d, i) => {
    const { remoteKey, property } = d.match.remoteRef;
    const first = ps.spec.data.findIndex(
      (o, j) =>
        j < i &&
        o.match.remoteRef.remoteKey === remoteKey &&
        (property === undefined ||
          o.match.remoteRef.property === undefined ||
          o.match.remoteRef.property === property),
    );
    if (first !== -1)
      error(`spec.data[${i}].match.remoteRef`, `writes the same remote secret as spec.data[${first}]`);
  });
}
