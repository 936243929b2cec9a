/** Types and schemas shared by every kind: object metadata, references and selectors. */
import { list, obj, oneOf, required, stringMap, str, type Position, type Schema } from "./schema.ts";

export const ESO_GROUP = "external-secrets.io";

/** Where a resource was read from, and where each of its fields is (by field path). */
export interface Source {
  file: string;
  line: number;
  column: number;
  fields: ReadonlyMap<string, Position>;
}

export interface ObjectMeta {
  name: string;
  /** "default" when not set; "" for cluster-scoped kinds. */
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Resource<K extends string> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  source: Source;
}

/** A key in a Kubernetes Secret (see secret-refs.ts for how it is read without Kubernetes). */
export interface SecretKeySelector {
  name: string;
  key?: string;
  namespace?: string;
}

export interface ServiceAccountSelector {
  name: string;
  namespace?: string;
  audiences?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
  }[];
}

export type StoreKind = "SecretStore" | "ClusterSecretStore";

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const resourceName = str({
  check: (v) =>
    v.length <= 253 && dnsSubdomain.test(v)
      ? undefined
      : "must be a lowercase DNS subdomain (a-z, 0-9, '-', '.'; at most 253 characters)",
});

export const metadataSchema: Schema = obj(
  {
    name: required(resourceName),
    namespace: str({
      check: (v) =>
        v.length <= 63 && dnsLabel.test(v)
          ? undefined
          : "must be a lowercase DNS label (a-z, 0-9, '-'; at most 63 characters)",
    }),
    labels: stringMap(),
    annotations: stringMap(),
  },
  { open: true },
);

export const secretKeySelector = (o: { keyRequired?: boolean } = {}): Schema =>
  obj({ name: required(str()), key: o.keyRequired === false ? str() : required(str()), namespace: str() });

export const serviceAccountSelector: Schema = obj({
  name: required(str()),
  namespace: str(),
  audiences: list(str()),
});

export const labelSelector: Schema = obj({
  matchLabels: stringMap(),
  matchExpressions: list(
    obj({
      key: required(str()),
      operator: required(oneOf(["In", "NotIn", "Exists", "DoesNotExist"])),
      values: list(str()),
    }),
  ),
});

export const storeKind = (o: { default?: string } = {}): Schema =>
  oneOf(["SecretStore", "ClusterSecretStore"], o);

export function matchesLabels(selector: LabelSelector, labels: Record<string, string>): boolean {
  const exact = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    exact &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      const has = Object.hasOwn(labels, key);
      if (operator === "Exists") return has;
      if (operator === "DoesNotExist") return !has;
      const inValues = has && values.includes(labels[key]!);
      return operator === "In" ? inValues : !inValues;
    })
  );
}

/** "namespace/name" for namespaced resources, "name" for cluster-scoped ones. */
export function resourceId(r: { metadata: { name: string; namespace: string } }): string {
  return r.metadata.namespace ? `${r.metadata.namespace}/${r.metadata.name}` : r.metadata.name;
}

/** "PushSecret default/push-to-aws", as diagnostics and summaries name resources. */
export function describeResource(r: { kind: string; metadata: { name: string; namespace: string } }): string {
  return `${r.kind} ${resourceId(r)}`;
}
