/**
 * ESO's `template` block (ExternalSecret `spec.target.template`, PushSecret `spec.template`):
 * `data` maps Secret keys to templates (see template.ts for the supported subset).
 */
import { compileTemplate, TemplateError, type CompiledTemplate } from "./template.ts";
import { list, obj, oneOf, str, stringMap, unsupported, type Schema } from "./schema.ts";

export interface SecretTemplate {
  type?: string;
  engineVersion: "v2";
  metadata?: { annotations?: Record<string, string>; labels?: Record<string, string>; finalizers?: string[] };
  mergePolicy: "Replace" | "Merge";
  data?: Record<string, string>;
}

export interface CompiledSecretTemplate {
  type?: string;
  metadata?: SecretTemplate["metadata"];
  /** Replace: the Secret holds only the rendered keys; Merge: rendered keys over the source data. */
  mergePolicy: "Replace" | "Merge";
  data: Record<string, CompiledTemplate>;
}

/** The format of a Kubernetes Secret key. */
const secretKeyProblem = (v: string) =>
  v.length <= 253 && /^[-._a-zA-Z0-9]+$/.test(v)
    ? undefined
    : "must be a Secret key (letters, digits, '-', '_', '.'; at most 253 characters)";
export const secretKey = str({ check: secretKeyProblem });

/** A template in the supported subset (the message names the construct and where it is). */
export const template = str({
  check: (source) => {
    try {
      compileTemplate(source);
      return undefined;
    } catch (err) {
      if (err instanceof TemplateError) return err.message;
      throw err;
    }
  },
});

export const secretTemplateSchema: Schema = obj({
  type: str(),
  engineVersion: oneOf(["v2"], { default: "v2" }),
  metadata: obj({ annotations: stringMap(), labels: stringMap(), finalizers: list(str()) }),
  mergePolicy: oneOf(["Replace", "Merge"], { default: "Replace" }),
  data: stringMap({ keyCheck: secretKeyProblem, values: template }),
  templateFrom: unsupported("write the templates inline in template.data"),
});

/** Compiles a template block the loader has checked. */
export function compileSecretTemplate(t: SecretTemplate): CompiledSecretTemplate {
  const data: Record<string, CompiledTemplate> = {};
  for (const [key, source] of Object.entries(t.data ?? {})) data[key] = compileTemplate(source);
  return { type: t.type, metadata: t.metadata, mergePolicy: t.mergePolicy, data };
}

/** Keys of the Secret a template produces from source data with the given keys (undefined: unknown). */
export function templatedKeys(
  t: SecretTemplate | undefined,
  sourceKeys: string[] | undefined,
): string[] | undefined {
  if (!t?.data || Object.keys(t.data).length === 0) return sourceKeys;
  const own = Object.keys(t.data);
  if (t.mergePolicy === "Replace") return own;
  return sourceKeys && [...new Set([...sourceKeys, ...own])];
}
