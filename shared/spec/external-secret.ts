/**
 * ExternalSecret (external-secrets.io/v1 and v1beta1): what the in-cluster puller turns into a
 * Kubernetes Secret, and a possible push source (see resolve.ts).
 */
import { ESO_GROUP, resourceName, storeKind, type Resource, type StoreKind } from "./common.ts";
import {
  duration,
  bool,
  list,
  obj,
  oneOf,
  required,
  str,
  stringMap,
  unsupported,
  type Schema,
} from "./schema.ts";
import { secretKey, secretTemplateSchema, template, type SecretTemplate } from "./secret-template.ts";

export type DecodingStrategy = "None" | "Base64" | "Base64URL" | "Auto";

export interface ExternalSecretRemoteRef {
  key: string;
  property?: string;
  version?: string;
  conversionStrategy: "Default" | "Unicode";
  decodingStrategy: DecodingStrategy;
  metadataPolicy: "None" | "Fetch";
}

export interface ExternalSecretRewrite {
  regexp?: { source: string; target: string };
  transform?: { template: string };
}

export interface ExternalSecretDataFrom {
  extract?: ExternalSecretRemoteRef;
  find?: {
    path?: string;
    name?: { regexp?: string };
    tags?: Record<string, string>;
    conversionStrategy: "Default" | "Unicode";
    decodingStrategy: DecodingStrategy;
  };
  rewrite?: ExternalSecretRewrite[];
}

export interface ExternalSecret extends Resource<"ExternalSecret"> {
  spec: {
    secretStoreRef: { name: string; kind: StoreKind };
    target: {
      /** The Secret's name; defaults to the ExternalSecret's name. */
      name: string;
      creationPolicy: "Owner" | "Orphan" | "Merge" | "None" | "CreateOrMerge";
      deletionPolicy: "Retain" | "Delete" | "Merge";
      template?: SecretTemplate;
      immutable: boolean;
    };
    refreshPolicy?: "CreatedOnce" | "Periodic" | "OnChange";
    refreshInterval: string;
    data?: { secretKey: string; remoteRef: ExternalSecretRemoteRef }[];
    dataFrom?: ExternalSecretDataFrom[];
  };
}

export const externalSecretApiVersions = [`${ESO_GROUP}/v1`, `${ESO_GROUP}/v1beta1`];

const conversionStrategy = oneOf(["Default", "Unicode"], { default: "Default" });
const decodingStrategy = oneOf(["None", "Base64", "Base64URL", "Auto"], { default: "None" });

const remoteRef: Schema = obj({
  key: required(str({ check: (v) => (v.trim() === "" ? "must not be empty" : undefined) })),
  property: str(),
  version: str(),
  conversionStrategy,
  decodingStrategy,
  metadataPolicy: oneOf(["None", "Fetch"], { default: "None" }),
  nullBytePolicy: unsupported(),
});

/** The schema differs between versions only in the creationPolicy values. */
export function externalSecretSpecSchema(apiVersion: string): Schema {
  const creationPolicies = ["Owner", "Orphan", "Merge", "None"];
  if (apiVersion.endsWith("/v1")) creationPolicies.push("CreateOrMerge");
  return obj({
    secretStoreRef: required(obj({ name: required(str()), kind: storeKind({ default: "SecretStore" }) })),
    target: obj(
      {
        name: resourceName,
        creationPolicy: oneOf(creationPolicies, { default: "Owner" }),
        deletionPolicy: oneOf(["Retain", "Delete", "Merge"], { default: "Retain" }),
        template: secretTemplateSchema,
        immutable: bool({ default: false }),
        manifest: unsupported("the puller writes Secrets"),
      },
      { materialize: true },
    ),
    refreshPolicy: oneOf(["CreatedOnce", "Periodic", "OnChange"]),
    refreshInterval: duration({ default: "1h" }),
    syncWindows: unsupported(),
    data: list(
      obj({
        secretKey: required(secretKey),
        remoteRef: required(remoteRef),
        sourceRef: unsupported("use one ExternalSecret per store"),
      }),
    ),
    dataFrom: list(
      obj(
        {
          extract: remoteRef,
          find: obj({
            path: str(),
            name: obj({ regexp: str() }),
            tags: stringMap(),
            conversionStrategy,
            decodingStrategy,
            nullBytePolicy: unsupported(),
          }),
          rewrite: list(
            obj(
              {
                regexp: obj({ source: required(str()), target: required(str()) }),
                transform: obj({ template: required(template) }),
                merge: unsupported(),
              },
              { exactlyOne: ["regexp", "transform"] },
            ),
          ),
          sourceRef: unsupported("use one ExternalSecret per store"),
        },
        { exactlyOne: ["extract", "find"] },
      ),
    ),
  });
}

/**
 * Defaults `target.name` to the resource's name, then checks the rules across fields
 * (store references are checked by the loader).
 */
export function checkExternalSecret(
  es: ExternalSecret,
  error: (field: string, message: string) => void,
): void {
  const { target, data = [], dataFrom = [] } = es.spec;
  if (!target.name) target.name = es.metadata.name;
  if (data.length === 0 && dataFrom.length === 0) error("spec", "set data or dataFrom");
  if (
    target.deletionPolicy === "Delete" &&
    ["Merge", "None", "CreateOrMerge"].includes(target.creationPolicy)
  ) {
    error(
      "spec.target.deletionPolicy",
      `Delete needs creationPolicy Owner or Orphan (the Secret is not owned)`,
    );
  }
  if (target.deletionPolicy === "Merge" && target.creationPolicy === "None") {
    error("spec.target.deletionPolicy", "Merge cannot be used with creationPolicy None (there is no Secret)");
  }
  if (target.template?.type === "bootstrap.kubernetes.io/token") {
    error("spec.target.template.type", "bootstrap tokens are not allowed");
  }
  if (target.deletionPolicy === "Retain") {
    data.forEach((d, i) => {
      if (data.findIndex((o) => o.secretKey === d.secretKey) < i) {
        error(`spec.data[${i}].secretKey`, `duplicate secretKey "${d.secretKey}"`);
      }
    });
  }
  dataFrom.forEach((df, i) => {
    const regexp = df.find?.name?.regexp;
    if (regexp !== undefined && !isRegExp(regexp))
      error(`spec.dataFrom[${i}].find.name.regexp`, "invalid regular expression");
    df.rewrite?.forEach((rw, j) => {
      const path = `spec.dataFrom[${i}].rewrite[${j}]`;
      if (rw.regexp && !isRegExp(rw.regexp.source))
        error(`${path}.regexp.source`, "invalid regular expression");
    });
  });
}

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}
