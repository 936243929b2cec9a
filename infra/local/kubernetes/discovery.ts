/**
 * Discovery documents: /version, the legacy ones (/api, /api/v1, /apis, /apis/<group>,
 * /apis/<group>/<version>), the aggregated ones (apidiscovery.k8s.io/v2 APIGroupDiscoveryList
 * for /api and /apis, served when the Accept header asks for them, as kubectl and client-go do),
 * and OpenAPI v3 (/openapi/v3 and one document per group version).
 *
 * The OpenAPI documents carry what kubectl reads from them: each kind's PATCH operation with its
 * x-kubernetes-group-version-kind and the fieldValidation parameter (so kubectl leaves field
 * validation to the server instead of downloading OpenAPI v2), and a schema per kind for
 * `kubectl explain`. They do not offer strategic merge patch, so `kubectl apply` computes its
 * patches from the types compiled into kubectl (built-in kinds) or as JSON merge patches
 * (custom resources), which this server applies. /openapi/v2 is not served (404).
 */
import { createHash } from "node:crypto";
import type { Json, KubeObject } from "./objects.ts";
import type { ResourceRegistry, ResourceType } from "./resources.ts";

export const SERVER_VERSION = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0-pushsync.local",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2025-01-01T00:00:00Z",
  goVersion: "go1.23.4",
  compiler: "gc",
  platform: "linux/amd64",
};

export const AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/** True when an Accept header asks for the v2 aggregated discovery document. */
export function wantsAggregated(accept: string | undefined): boolean {
  return (accept ?? "").split(",").some((entry) => {
    const params = new Map(
      entry
        .split(";")
        .slice(1)
        .map((p) => p.trim().split("=") as [string, string]),
    );
    return (
      params.get("g") === "apidiscovery.k8s.io" &&
      params.get("v") === "v2" &&
      params.get("as") === "APIGroupDiscoveryList"
    );
  });
}

const VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const verbsOf = (t: ResourceType) =>
  t.kind === "Namespace" ? VERBS.filter((v) => v !== "deletecollection") : VERBS;
const optional = (key: string, list: string[]) => (list.length > 0 ? { [key]: list } : {});

function legacyResources(types: ResourceType[]): Json[] {
  return types.flatMap((t) => [
    {
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: verbsOf(t),
      ...optional("shortNames", t.shortNames),
      ...optional("categories", t.categories),
    },
    ...(t.statusSubresource
      ? [
          {
            name: `${t.plural}/status`,
            singularName: "",
            namespaced: t.namespaced,
            kind: t.kind,
            verbs: ["get", "patch", "update"],
          },
        ]
      : []),
  ]);
}

export function resourceList(groupVersion: string, types: ResourceType[]): Json {
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion, resources: legacyResources(types) };
}

export function apiVersions(serverAddress: string): Json {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function apiGroup(group: { name: string; versions: { version: string }[] }): Json {
  const versions = group.versions.map((v) => ({
    groupVersion: `${group.name}/${v.version}`,
    version: v.version,
  }));
  return { name: group.name, versions, preferredVersion: versions[0] };
}

export function groupList(registry: ResourceRegistry): Json {
  const groups = registry.groups().filter((g) => g.name !== "");
  return { kind: "APIGroupList", apiVersion: "v1", groups: groups.map(apiGroup) };
}

export function groupDocument(registry: ResourceRegistry, name: string): Json | undefined {
  const group = registry.groups().find((g) => g.name === name && name !== "");
  return group && { kind: "APIGroup", apiVersion: "v1", ...apiGroup(group) };
}

/** The aggregated document for /api (`core` true) or /apis. */
export function aggregated(registry: ResourceRegistry, core: boolean): Json {
  const groups = registry.groups().filter((g) => (g.name === "") === core);
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: "apidiscovery.k8s.io/v2",
    metadata: {},
    items: groups.map((g) => ({
      metadata: { ...(g.name === "" ? {} : { name: g.name }), creationTimestamp: null },
      versions: g.versions.map((v) => ({
        version: v.version,
        freshness: "Current",
        resources: v.types.map((t) => {
          const responseKind = { group: t.group, version: t.version, kind: t.kind };
          return {
            resource: t.plural,
            responseKind,
            scope: t.namespaced ? "Namespaced" : "Cluster",
            singularResource: t.singular,
            verbs: verbsOf(t),
            ...optional("shortNames", t.shortNames),
            ...optional("categories", t.categories),
            ...(t.statusSubresource
              ? { subresources: [{ subresource: "status", responseKind, verbs: ["get", "patch", "update"] }] }
              : {}),
          };
        }),
      })),
    })),
  };
}

const gvPath = (t: { group: string; version: string }) =>
  t.group === "" ? `api/${t.version}` : `apis/${t.group}/${t.version}`;

/** Top-level fields of the built-in kinds, for `kubectl explain`. */
const BUILTIN_FIELDS: Record<string, Record<string, [string, string]>> = {
  Namespace: {
    spec: ["object", "Finalizers of the namespace."],
    status: ["object", "Phase of the namespace."],
  },
  Secret: {
    data: ["object", "Base64-encoded values by key."],
    stringData: ["object", "Plain-text values, merged into data on write."],
    type: ["string", "Used to facilitate programmatic handling of secret data."],
    immutable: ["boolean", "When true, data cannot be updated."],
  },
  ConfigMap: {
    data: ["object", "Configuration data."],
    binaryData: ["object", "Base64-encoded binary data."],
    immutable: ["boolean", "When true, data cannot be updated."],
  },
  Event: {
    involvedObject: ["object", "The object the event is about."],
    reason: ["string", "Short, machine understandable reason."],
    message: ["string", "Human-readable description."],
    type: ["string", "Normal or Warning."],
  },
  Lease: { spec: ["object", "Holder, duration and renewal of the lease."] },
  CustomResourceDefinition: {
    spec: ["object", "How the custom resource is served."],
    status: ["object", "Accepted names and conditions."],
  },
};

function schemaOf(t: ResourceType, crds: Map<string, KubeObject>): Json {
  const gvk = [{ group: t.group, version: t.version, kind: t.kind }];
  const crd = t.crd === undefined ? undefined : crds.get(t.crd);
  if (crd) {
    const version = ((crd.spec as Json).versions as Json[]).find((v) => v.name === t.version);
    const schema = ((version?.schema as Json | undefined)?.openAPIV3Schema as Json | undefined) ?? {
      type: "object",
    };
    return { ...schema, "x-kubernetes-group-version-kind": gvk };
  }
  const fields = Object.entries(BUILTIN_FIELDS[t.kind] ?? {}).map(([name, [type, description]]) => [
    name,
    { type, description },
  ]);
  return {
    type: "object",
    description: `${t.kind} (served by the local Kubernetes API).`,
    properties: {
      apiVersion: {
        type: "string",
        description: "The versioned schema of this representation of an object.",
      },
      kind: { type: "string", description: "The REST resource this object represents." },
      metadata: { type: "object", description: "Standard object metadata." },
      ...Object.fromEntries(fields),
    },
    "x-kubernetes-group-version-kind": gvk,
  };
}

const PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json"];
const QUERY_PARAMETERS = ["dryRun", "fieldManager", "fieldValidation", "force"];

/** The OpenAPI v3 document of one group version, or undefined when it is not served. */
export function openApiDocument(
  registry: ResourceRegistry,
  path: string,
  crds: Map<string, KubeObject>,
): Json | undefined {
  const group = registry
    .groups()
    .find((g) => g.versions.some((v) => gvPath({ group: g.name, version: v.version }) === path));
  const version = group?.versions.find((v) => gvPath({ group: group.name, version: v.version }) === path);
  if (!group || !version) return undefined;
  const paths: Json = {};
  const schemas: Json = {};
  for (const t of version.types) {
    const schemaName = `${t.group || "core"}.${t.version}.${t.kind}`;
    const ref = { $ref: `#/components/schemas/${schemaName}` };
    const collection = t.namespaced ? `/${path}/namespaces/{namespace}/${t.plural}` : `/${path}/${t.plural}`;
    paths[`${collection}/{name}`] = {
      patch: {
        operationId: `patch${t.kind}`,
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": { group: t.group, version: t.version, kind: t.kind },
        parameters: QUERY_PARAMETERS.map((name) => ({
          name,
          in: "query",
          schema: { type: name === "force" ? "boolean" : "string" },
        })),
        requestBody: {
          content: Object.fromEntries(PATCH_TYPES.map((type) => [type, { schema: { type: "object" } }])),
          required: true,
        },
        responses: { "200": { description: "OK", content: { "application/json": { schema: ref } } } },
      },
    };
    schemas[schemaName] = schemaOf(t, crds);
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: SERVER_VERSION.gitVersion },
    paths,
    components: { schemas },
  };
}

/** /openapi/v3: where each group version's document is, with a hash of its content. */
export function openApiRoot(registry: ResourceRegistry, crds: Map<string, KubeObject>): Json {
  const paths: Json = {};
  for (const g of registry.groups()) {
    for (const v of g.versions) {
      const path = gvPath({ group: g.name, version: v.version });
      const hash = createHash("sha256")
        .update(JSON.stringify(openApiDocument(registry, path, crds)))
        .digest("hex")
        .toUpperCase();
      paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
    }
  }
  return { paths };
}
