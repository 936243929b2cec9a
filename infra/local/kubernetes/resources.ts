/**
 * The resource types the server serves: the built-in ones (namespaces, secrets, configmaps,
 * events, leases, customresourcedefinitions) and those CustomResourceDefinitions add. Each
 * entry describes one served version; all versions of a resource share one storage (a CRD's
 * conversion strategy "None": only apiVersion differs between them).
 */
import { isObject, type Json, type KubeObject } from "./objects.ts";

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  format?: string;
  description?: string;
  priority?: number;
}

export interface ResourceType {
  group: string;
  version: string;
  /** The version objects are stored at (the CRD version marked `storage: true`). */
  storageVersion: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Typed (compiled-in) kinds: strategic merge patch, list items without apiVersion/kind. */
  typed: boolean;
  /** Writes to the resource keep status; writes to /status change only status. */
  statusSubresource: boolean;
  /** metadata.generation counts changes outside metadata and status. */
  tracksGeneration: boolean;
  /** PUT must carry metadata.resourceVersion (custom resources and CRDs). */
  requiresResourceVersion: boolean;
  /** Fields a field selector may name besides metadata.name and metadata.namespace. */
  selectableFields: readonly string[];
  /** additionalPrinterColumns of a CRD version. */
  columns?: PrinterColumn[];
  deprecated?: boolean;
  /** The CRD that defines it; undefined for built-in types. */
  crd?: string;
}

export const storageKey = (t: { group: string; plural: string }) => `${t.group}/${t.plural}`;
export const apiVersionOf = (t: { group: string; version: string }) =>
  t.group === "" ? t.version : `${t.group}/${t.version}`;

const builtin = (
  t: Pick<ResourceType, "group" | "version" | "kind" | "plural" | "namespaced"> & Partial<ResourceType>,
): ResourceType => ({
  storageVersion: t.version,
  listKind: `${t.kind}List`,
  singular: t.kind.toLowerCase(),
  shortNames: [],
  categories: [],
  typed: true,
  statusSubresource: false,
  tracksGeneration: false,
  requiresResourceVersion: false,
  selectableFields: [],
  ...t,
});

const EVENT_FIELDS = [
  "involvedObject.kind",
  "involvedObject.namespace",
  "involvedObject.name",
  "involvedObject.uid",
  "involvedObject.apiVersion",
  "involvedObject.resourceVersion",
  "involvedObject.fieldPath",
  "reason",
  "reportingComponent",
  "source",
  "type",
];

const BUILTIN_TYPES: ResourceType[] = [
  builtin({
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    namespaced: false,
    shortNames: ["ns"],
    statusSubresource: true,
    selectableFields: ["status.phase"],
  }),
  builtin({
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    namespaced: true,
    selectableFields: ["type"],
  }),
  builtin({
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    namespaced: true,
    shortNames: ["cm"],
  }),
  builtin({
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    namespaced: true,
    shortNames: ["ev"],
    selectableFields: EVENT_FIELDS,
  }),
  builtin({ group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true }),
  builtin({
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    namespaced: false,
    shortNames: ["crd", "crds"],
    categories: ["api-extensions"],
    statusSubresource: true,
    tracksGeneration: true,
    requiresResourceVersion: true,
  }),
];

export const CRD_TYPE = BUILTIN_TYPES.find((t) => t.kind === "CustomResourceDefinition")!;
export const NAMESPACE_TYPE = BUILTIN_TYPES.find((t) => t.kind === "Namespace")!;

/** Orders versions as Kubernetes does: GA before beta before alpha, higher numbers first, others last by name. */
function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return undefined;
    const stability = m[2] === undefined ? 3 : m[2] === "beta" ? 2 : 1;
    return [stability, Number(m[1]), Number(m[3] ?? 0)] as const;
  };
  const pa = parse(a);
  const pb = parse(b);
  if (pa && pb) {
    for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pb[i]! - pa[i]!;
    return 0;
  }
  if (pa) return -1;
  if (pb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The types a CustomResourceDefinition serves (one per served version). */
export function typesOfCrd(crd: KubeObject): ResourceType[] {
  const spec = crd.spec as Json;
  const names = spec.names as Json;
  const all = spec.versions as Json[];
  const storageVersion = String((all.find((v) => v.storage === true) ?? all[0])!.name);
  return all
    .filter((v) => v.served !== false)
    .map((v) => {
      const subresources = isObject(v.subresources) ? v.subresources : {};
      return {
        group: String(spec.group),
        version: String(v.name),
        storageVersion,
        kind: String(names.kind),
        listKind: String(names.listKind ?? `${String(names.kind)}List`),
        plural: String(names.plural),
        singular: String(names.singular ?? String(names.kind).toLowerCase()),
        namespaced: spec.scope !== "Cluster",
        shortNames: (names.shortNames as string[] | undefined) ?? [],
        categories: (names.categories as string[] | undefined) ?? [],
        typed: false,
        statusSubresource: isObject(subresources.status),
        tracksGeneration: true,
        requiresResourceVersion: true,
        selectableFields: ((v.selectableFields as Json[] | undefined) ?? []).map((f) =>
          String(f.jsonPath).replace(/^\./, ""),
        ),
        columns: v.additionalPrinterColumns as PrinterColumn[] | undefined,
        deprecated: v.deprecated === true,
        crd: crd.metadata.name,
      };
    });
}

export class ResourceRegistry {
  private types: ResourceType[] = [...BUILTIN_TYPES];

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.version === version && t.plural === plural);
  }

  /** All served versions of one resource, preferred first. */
  versionsOf(group: string, plural: string): ResourceType[] {
    return this.types
      .filter((t) => t.group === group && t.plural === plural)
      .sort((a, b) => compareVersions(a.version, b.version));
  }

  /** Groups with their versions, preferred first; the core group ("") first, then built-in groups, then CRD groups by name. */
  groups(): { name: string; versions: { version: string; types: ResourceType[] }[] }[] {
    const names = [...new Set(this.types.map((t) => t.group))];
    const builtinGroups = BUILTIN_TYPES.map((t) => t.group);
    names.sort((a, b) => {
      const ia = builtinGroups.indexOf(a);
      const ib = builtinGroups.indexOf(b);
      if (ia >= 0 || ib >= 0) return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib);
      return a < b ? -1 : 1;
    });
    return names.map((name) => {
      const ofGroup = this.types.filter((t) => t.group === name);
      const versions = [...new Set(ofGroup.map((t) => t.version))].sort(compareVersions);
      return {
        name,
        versions: versions.map((version) => ({
          version,
          types: ofGroup.filter((t) => t.version === version),
        })),
      };
    });
  }

  /** Replaces the types a CRD defines (none when `types` is empty). */
  setCrdTypes(crdName: string, types: ResourceType[]): void {
    this.types = [...this.types.filter((t) => t.crd !== crdName), ...types];
  }
}

const anyObject = (description: string) => ({
  type: "object",
  description,
  "x-kubernetes-preserve-unknown-fields": true,
});
const PRESERVING_SCHEMA = {
  type: "object",
  properties: {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
    spec: anyObject("The desired state; see the External Secrets Operator API reference."),
    status: anyObject("The observed state, written through the status subresource."),
  },
};

/** A CRD whose versions keep every field of spec and status, with a status subresource. */
function preservingCrd(options: {
  kind: string;
  plural: string;
  shortNames: string[];
  scope: "Namespaced" | "Cluster";
  versions: { name: string; storage?: boolean; deprecated?: boolean }[];
  columns: PrinterColumn[];
}): Json {
  const group = "external-secrets.io";
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${options.plural}.${group}` },
    spec: {
      group,
      names: {
        kind: options.kind,
        listKind: `${options.kind}List`,
        plural: options.plural,
        singular: options.kind.toLowerCase(),
        shortNames: options.shortNames,
        categories: ["external-secrets"],
      },
      scope: options.scope,
      versions: options.versions.map((v) => ({
        name: v.name,
        served: true,
        storage: v.storage ?? false,
        ...(v.deprecated ? { deprecated: true } : {}),
        schema: { openAPIV3Schema: PRESERVING_SCHEMA },
        subresources: { status: {} },
        additionalPrinterColumns: options.columns,
      })),
    },
  };
}

const READY = '.status.conditions[?(@.type=="Ready")]';
const STORE_COLUMNS: PrinterColumn[] = [
  { name: "AGE", type: "date", jsonPath: ".metadata.creationTimestamp" },
  { name: "Status", type: "string", jsonPath: `${READY}.reason` },
  { name: "Capabilities", type: "string", jsonPath: ".status.capabilities" },
  { name: "Ready", type: "string", jsonPath: `${READY}.status` },
];

/** The External Secrets Operator CRDs the server starts with (the pushsync puller's kinds). */
export const EXTERNAL_SECRETS_CRDS: Json[] = [
  preservingCrd({
    kind: "ExternalSecret",
    plural: "externalsecrets",
    shortNames: ["es"],
    scope: "Namespaced",
    versions: [
      { name: "v1", storage: true },
      { name: "v1beta1", deprecated: true },
    ],
    columns: [
      { name: "StoreType", type: "string", jsonPath: ".spec.secretStoreRef.kind" },
      { name: "Store", type: "string", jsonPath: ".spec.secretStoreRef.name" },
      { name: "Refresh Interval", type: "string", jsonPath: ".spec.refreshInterval" },
      { name: "Status", type: "string", jsonPath: `${READY}.reason` },
      { name: "Ready", type: "string", jsonPath: `${READY}.status` },
    ],
  }),
  preservingCrd({
    kind: "SecretStore",
    plural: "secretstores",
    shortNames: ["ss"],
    scope: "Namespaced",
    versions: [
      { name: "v1", storage: true },
      { name: "v1beta1", deprecated: true },
    ],
    columns: STORE_COLUMNS,
  }),
  preservingCrd({
    kind: "ClusterSecretStore",
    plural: "clustersecretstores",
    shortNames: ["css"],
    scope: "Cluster",
    versions: [
      { name: "v1", storage: true },
      { name: "v1beta1", deprecated: true },
    ],
    columns: STORE_COLUMNS,
  }),
  preservingCrd({
    kind: "PushSecret",
    plural: "pushsecrets",
    shortNames: ["ps"],
    scope: "Namespaced",
    versions: [{ name: "v1alpha1", storage: true }],
    columns: [
      { name: "AGE", type: "date", jsonPath: ".metadata.creationTimestamp" },
      { name: "Status", type: "string", jsonPath: `${READY}.reason` },
      { name: "Last Sync", type: "date", jsonPath: ".status.refreshTime" },
    ],
  }),
];
