/**
 * What the API server checks and fills in on writes, per kind: object metadata (names, labels,
 * annotations, owner references, finalizers), Secrets (base64 `data`, `stringData` folded into
 * `data`, key names, the 1 MiB limit, keys each `type` requires, `immutable`, `type` fixed after
 * creation), ConfigMaps, Namespaces and CustomResourceDefinitions. Messages follow the API
 * server's wording and name keys and fields, never Secret values.
 */
import { badRequest, invalid, type FieldError } from "./errors.ts";
import { deepEqual, isObject, type Json, type KubeObject } from "./objects.ts";
import type { ResourceType } from "./resources.ts";
import { labelKeyProblem, labelValueProblem } from "./selectors.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
/** Secrets and ConfigMaps: the most data bytes one object may hold. */
const MAX_DATA_BYTES = 1024 * 1024;
const MAX_ANNOTATION_BYTES = 256 * 1024;

const LABEL_NAME_MESSAGE =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const CONFIG_KEY_MESSAGE =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const IMMUTABLE_SET = "field is immutable when `immutable` is set";

/** Why `name` cannot name an object of this type, or undefined. Namespaces need DNS labels, the rest subdomains. */
function nameProblem(type: ResourceType, name: string): string | undefined {
  if (type.kind === "Namespace")
    return name.length <= 63 && DNS_LABEL.test(name) ? undefined : LABEL_NAME_MESSAGE;
  return name.length <= 253 && DNS_SUBDOMAIN.test(name) ? undefined : SUBDOMAIN_MESSAGE;
}

function validateMetadata(type: ResourceType, obj: KubeObject, errors: FieldError[]): void {
  const meta = obj.metadata;
  const name = meta.name ?? "";
  const problem = nameProblem(type, name);
  if (problem) errors.push({ field: "metadata.name", problem: "Invalid", shown: name, detail: problem });
  for (const [key, value] of Object.entries(meta.labels ?? {})) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem)
      errors.push({ field: "metadata.labels", problem: "Invalid", shown: key, detail: keyProblem });
    const valueProblem = typeof value === "string" ? labelValueProblem(value) : "must be a string";
    if (valueProblem)
      errors.push({
        field: "metadata.labels",
        problem: "Invalid",
        shown: String(value),
        detail: valueProblem,
      });
  }
  let annotationBytes = 0;
  for (const [key, value] of Object.entries(meta.annotations ?? {})) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem)
      errors.push({ field: "metadata.annotations", problem: "Invalid", shown: key, detail: keyProblem });
    annotationBytes += Buffer.byteLength(key) + Buffer.byteLength(String(value));
  }
  if (annotationBytes > MAX_ANNOTATION_BYTES) {
    errors.push({
      field: "metadata.annotations",
      problem: "TooLong",
      detail: `must have at most ${MAX_ANNOTATION_BYTES} bytes`,
    });
  }
  const refs = meta.ownerReferences ?? [];
  refs.forEach((ref, i) => {
    for (const f of ["apiVersion", "kind", "name", "uid"] as const) {
      if (!ref[f])
        errors.push({
          field: `metadata.ownerReferences[${i}].${f}`,
          problem: "Invalid",
          shown: "",
          detail: `${f} must not be empty`,
        });
    }
  });
  if (refs.filter((r) => r.controller === true).length > 1) {
    errors.push({
      field: "metadata.ownerReferences",
      problem: "Invalid",
      detail: "Only one reference can have Controller set to true",
    });
  }
  (meta.finalizers ?? []).forEach((f, i) => {
    const finalizerProblem = typeof f === "string" ? labelKeyProblem(f) : "must be a string";
    if (finalizerProblem)
      errors.push({
        field: `metadata.finalizers[${i}]`,
        problem: "Invalid",
        shown: String(f),
        detail: finalizerProblem,
      });
  });
}

/** Go's strict standard base64: the offset of the first illegal byte, or -1 when `s` decodes. */
function illegalBase64Offset(s: string): number {
  const text = s.replace(/[\r\n]/g, "");
  const bad = text.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return bad;
  const pad = text.indexOf("=");
  if (pad >= 0 && (!/^=*$/.test(text.slice(pad)) || text.length - pad > 2)) return pad;
  if (text.length % 4 !== 0) return text.length - (text.length % 4);
  return -1;
}

/** Checks that every value of `map` is base64; 400 as the API server's decoder answers otherwise. */
function requireBase64(map: unknown, kind: string): void {
  if (map === undefined || map === null) return;
  if (!isObject(map))
    throw badRequest(`${kind} in version "v1" cannot be handled as a ${kind}: data must be a map of strings`);
  for (const value of Object.values(map)) {
    const offset = typeof value === "string" ? illegalBase64Offset(value) : 0;
    if (offset >= 0) {
      throw badRequest(
        `${kind} in version "v1" cannot be handled as a ${kind}: illegal base64 data at input byte ${offset}`,
      );
    }
  }
}

const decodedSize = (map: Record<string, string>) =>
  Object.values(map).reduce((n, v) => n + Buffer.from(v, "base64").length, 0);

function checkKeys(map: Record<string, unknown>, field: string, errors: FieldError[]): void {
  for (const key of Object.keys(map)) {
    if (key.length > 253 || !CONFIG_KEY.test(key)) {
      errors.push({ field: `${field}[${key}]`, problem: "Invalid", shown: key, detail: CONFIG_KEY_MESSAGE });
    }
  }
}

/** Keys a Secret of each type must hold. */
const REQUIRED_SECRET_KEYS: Record<string, string[][]> = {
  "kubernetes.io/tls": [["tls.crt"], ["tls.key"]],
  "kubernetes.io/ssh-auth": [["ssh-privatekey"]],
  "kubernetes.io/dockerconfigjson": [[".dockerconfigjson"]],
  "kubernetes.io/dockercfg": [[".dockercfg"]],
  // at least one of the two
  "kubernetes.io/basic-auth": [["username", "password"]],
};

/** Normalizes a Secret in place (type, stringData into data) and collects its validation errors. */
function secretRules(obj: KubeObject, prev: KubeObject | undefined, errors: FieldError[]): void {
  requireBase64(obj.data, "Secret");
  const data: Record<string, string> = { ...((obj.data as Record<string, string> | undefined) ?? {}) };
  if (obj.stringData !== undefined && obj.stringData !== null) {
    if (!isObject(obj.stringData))
      throw badRequest(
        `Secret in version "v1" cannot be handled as a Secret: stringData must be a map of strings`,
      );
    for (const [key, value] of Object.entries(obj.stringData))
      data[key] = Buffer.from(String(value), "utf8").toString("base64");
  }
  delete obj.stringData;
  if (Object.keys(data).length > 0) obj.data = data;
  else delete obj.data;
  const type = typeof obj.type === "string" && obj.type !== "" ? obj.type : "Opaque";
  obj.type = type;
  checkKeys(data, "data", errors);
  if (decodedSize(data) > MAX_DATA_BYTES)
    errors.push({ field: "data", problem: "TooLong", detail: `must have at most ${MAX_DATA_BYTES} bytes` });
  for (const anyOf of REQUIRED_SECRET_KEYS[type] ?? []) {
    if (!anyOf.some((k) => k in data))
      for (const k of anyOf) errors.push({ field: `data[${k}]`, problem: "Required", detail: "" });
  }
  if (!prev) return;
  if (type !== prev.type)
    errors.push({ field: "type", problem: "Invalid", shown: type, detail: "field is immutable" });
  if (prev.immutable === true) {
    if (obj.immutable !== true)
      errors.push({ field: "immutable", problem: "Forbidden", detail: IMMUTABLE_SET });
    if (!deepEqual(obj.data ?? {}, prev.data ?? {}))
      errors.push({ field: "data", problem: "Forbidden", detail: IMMUTABLE_SET });
  }
}

function configMapRules(obj: KubeObject, prev: KubeObject | undefined, errors: FieldError[]): void {
  requireBase64(obj.binaryData, "ConfigMap");
  const data = (obj.data ?? {}) as Record<string, unknown>;
  const binary = (obj.binaryData ?? {}) as Record<string, string>;
  checkKeys(data, "data", errors);
  checkKeys(binary, "binaryData", errors);
  for (const key of Object.keys(data)) {
    if (key in binary)
      errors.push({
        field: `data[${key}]`,
        problem: "Invalid",
        shown: key,
        detail: "duplicate of key present in binaryData",
      });
  }
  const size =
    Object.entries(data).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(String(v)), 0) +
    decodedSize(binary);
  if (size > MAX_DATA_BYTES)
    errors.push({ field: "[]", problem: "TooLong", detail: `must have at most ${MAX_DATA_BYTES} bytes` });
  if (prev?.immutable === true) {
    if (obj.immutable !== true)
      errors.push({ field: "immutable", problem: "Forbidden", detail: IMMUTABLE_SET });
    if (!deepEqual(obj.data ?? {}, prev.data ?? {}))
      errors.push({ field: "data", problem: "Forbidden", detail: IMMUTABLE_SET });
    if (!deepEqual(obj.binaryData ?? {}, prev.binaryData ?? {}))
      errors.push({ field: "binaryData", problem: "Forbidden", detail: IMMUTABLE_SET });
  }
}

function namespaceRules(obj: KubeObject, prev: KubeObject | undefined): void {
  obj.metadata.labels = { ...obj.metadata.labels, "kubernetes.io/metadata.name": obj.metadata.name! };
  const spec = isObject(obj.spec) ? obj.spec : {};
  obj.spec = {
    ...spec,
    finalizers: prev
      ? ((prev.spec as Json | undefined)?.finalizers ?? [])
      : (spec.finalizers ?? ["kubernetes"]),
  };
  if (!prev) obj.status = { phase: "Active" };
}

function crdRules(obj: KubeObject, prev: KubeObject | undefined, errors: FieldError[]): void {
  const spec = isObject(obj.spec) ? obj.spec : {};
  const names = isObject(spec.names) ? spec.names : {};
  const group = typeof spec.group === "string" ? spec.group : "";
  if (!group.includes(".") || !DNS_SUBDOMAIN.test(group)) {
    errors.push({
      field: "spec.group",
      problem: "Invalid",
      shown: group,
      detail: "should be a domain with at least one dot",
    });
  }
  for (const f of ["plural", "kind"]) {
    if (typeof names[f] !== "string" || names[f] === "")
      errors.push({ field: `spec.names.${f}`, problem: "Required", detail: "" });
  }
  if (obj.metadata.name !== `${String(names.plural)}.${group}`) {
    errors.push({
      field: "metadata.name",
      problem: "Invalid",
      shown: obj.metadata.name,
      detail: 'must be spec.names.plural+"."+spec.group',
    });
  }
  if (spec.scope !== "Namespaced" && spec.scope !== "Cluster") {
    errors.push({
      field: "spec.scope",
      problem: "NotSupported",
      shown: String(spec.scope ?? ""),
      detail: 'supported values: "Cluster", "Namespaced"',
    });
  }
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
  if (versions.length === 0) errors.push({ field: "spec.versions", problem: "Required", detail: "" });
  else if (versions.filter((v) => v.storage === true).length !== 1) {
    errors.push({
      field: "spec.versions",
      problem: "Invalid",
      detail: "must have exactly one version marked as storage version",
    });
  }
  if (prev && (prev.spec as Json).scope !== spec.scope) {
    errors.push({
      field: "spec.scope",
      problem: "Invalid",
      shown: String(spec.scope),
      detail: "field is immutable",
    });
  }
  if (!prev || !isObject(obj.status) || !Array.isArray(obj.status.conditions)) {
    obj.status = {
      acceptedNames: names,
      conditions: ["NamesAccepted", "Established"].map((type) => ({
        type,
        status: "True",
        reason: type === "Established" ? "InitialNamesAccepted" : "NoConflicts",
        message: type === "Established" ? "the initial names have been accepted" : "no conflicts found",
        lastTransitionTime: obj.metadata.creationTimestamp,
      })),
      storedVersions: versions.filter((v) => v.storage === true).map((v) => v.name),
    };
  }
}

/**
 * Normalizes `obj` in place and throws 422 Invalid (or 400 for undecodable Secret data) when it
 * breaks a rule; `prev` is the stored object for updates.
 */
export function validate(type: ResourceType, obj: KubeObject, prev: KubeObject | undefined): void {
  const errors: FieldError[] = [];
  validateMetadata(type, obj, errors);
  if (type.group === "" && type.kind === "Secret") secretRules(obj, prev, errors);
  else if (type.group === "" && type.kind === "ConfigMap") configMapRules(obj, prev, errors);
  else if (type.group === "" && type.kind === "Namespace") namespaceRules(obj, prev);
  else if (type.crd === undefined && type.kind === "CustomResourceDefinition") crdRules(obj, prev, errors);
  if (errors.length > 0)
    throw invalid({ group: type.group, kind: type.kind }, obj.metadata.name ?? "", errors);
}
