/**
 * Server-side printing: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` turns a get,
 * list or watch answer into a meta.k8s.io/v1 Table, which is what `kubectl get` prints. Columns
 * are the API server's for the built-in kinds, and a CRD version's additionalPrinterColumns
 * (JSONPath: fields, [n], [*] and [?(@.field=="value")] filters) for custom resources.
 */
import { isObject, type Json, type KubeObject } from "./objects.ts";
import type { PrinterColumn, ResourceType } from "./resources.ts";

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority?: number;
  cell: (obj: KubeObject) => unknown;
}

/** How long ago, as kubectl shows ages ("45s", "3m20s", "5h", "12d"). */
function age(from: string | undefined, now = Date.now()): string {
  const at = from ? Date.parse(from) : NaN;
  if (Number.isNaN(at)) return "<unknown>";
  const s = Math.floor((now - at) / 1000);
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  const parts = (big: number, bigUnit: string, small: number, smallUnit: string) =>
    small === 0 ? `${big}${bigUnit}` : `${big}${bigUnit}${small}${smallUnit}`;
  if (m < 10) return parts(m, "m", s % 60, "s");
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return parts(h, "h", m % 60, "m");
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return parts(d, "d", h % 24, "h");
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (d < 365 * 8) return parts(y, "y", d % 365, "d");
  return `${y}y`;
}

/** Values a JSONPath of the printer-column dialect selects. */
function jsonPath(obj: unknown, path: string): unknown[] {
  let current: unknown[] = [obj];
  const steps = path.replace(/^\{|\}$/g, "").match(/\.[^.[\]]+|\[\?\(@\.[^)]*\)\]|\[[^\]]*\]/g) ?? [];
  for (const step of steps) {
    const next: unknown[] = [];
    for (const value of current) {
      if (step.startsWith(".") && isObject(value) && value[step.slice(1)] !== undefined)
        next.push(value[step.slice(1)]);
      else if (step.startsWith("[?(") && Array.isArray(value)) {
        const m = /^\[\?\(@\.([\w.]+)\s*==\s*["']?([^"']*)["']?\)\]$/.exec(step);
        if (m) next.push(...value.filter((item) => String(jsonPath(item, `.${m[1]}`)[0]) === m[2]));
      } else if (step === "[*]" && Array.isArray(value)) next.push(...value);
      else if (/^\[\d+\]$/.test(step) && Array.isArray(value)) {
        const item: unknown = value[Number(step.slice(1, -1))];
        if (item !== undefined) next.push(item);
      }
    }
    current = next;
  }
  return current;
}

const nameColumn: Column = {
  name: "Name",
  type: "string",
  format: "name",
  description: "Name must be unique within a namespace.",
  cell: (o) => o.metadata.name,
};
const ageColumn: Column = {
  name: "Age",
  type: "string",
  description: "Time since the object was created.",
  cell: (o) => age(o.metadata.creationTimestamp),
};
const count = (v: unknown) => (isObject(v) ? Object.keys(v).length : 0);

const BUILTIN_COLUMNS: Record<string, Column[]> = {
  Namespace: [
    nameColumn,
    {
      name: "Status",
      type: "string",
      description: "The namespace's phase.",
      cell: (o) => (o.status as Json | undefined)?.phase,
    },
    ageColumn,
  ],
  Secret: [
    nameColumn,
    { name: "Type", type: "string", description: "The type of secret.", cell: (o) => o.type },
    {
      name: "Data",
      type: "integer",
      description: "The number of keys in the secret.",
      cell: (o) => count(o.data),
    },
    ageColumn,
  ],
  ConfigMap: [
    nameColumn,
    {
      name: "Data",
      type: "integer",
      description: "The number of keys.",
      cell: (o) => count(o.data) + count(o.binaryData),
    },
    ageColumn,
  ],
  Lease: [
    nameColumn,
    {
      name: "Holder",
      type: "string",
      description: "The current holder.",
      cell: (o) => (o.spec as Json | undefined)?.holderIdentity ?? "",
    },
    ageColumn,
  ],
  Event: [
    {
      name: "Last Seen",
      type: "string",
      description: "Time since the event was last seen.",
      cell: (o) =>
        age(String(o.lastTimestamp ?? o.eventTime ?? o.firstTimestamp ?? o.metadata.creationTimestamp)),
    },
    { name: "Type", type: "string", description: "Normal or Warning.", cell: (o) => o.type },
    { name: "Reason", type: "string", description: "Why the event happened.", cell: (o) => o.reason },
    {
      name: "Object",
      type: "string",
      description: "The object the event is about.",
      cell: (o) => {
        const ref = (o.involvedObject ?? {}) as Json;
        return `${String(ref.kind ?? "").toLowerCase()}/${String(ref.name ?? "")}`;
      },
    },
    { name: "Message", type: "string", description: "What happened.", cell: (o) => o.message },
  ],
  CustomResourceDefinition: [
    nameColumn,
    {
      name: "Created At",
      type: "date",
      description: "When the definition was created.",
      cell: (o) => o.metadata.creationTimestamp,
    },
  ],
};

function crColumn(c: PrinterColumn): Column {
  return {
    name: c.name,
    type: c.type,
    format: c.format,
    description: c.description ?? "",
    priority: c.priority,
    cell: (o) => {
      const value = jsonPath(o, c.jsonPath)[0];
      if (value === undefined || value === null) return null;
      if (c.type === "date") return age(String(value));
      return isObject(value) || Array.isArray(value) ? JSON.stringify(value) : value;
    },
  };
}

function columnsOf(type: ResourceType): Column[] {
  if (type.crd === undefined) return BUILTIN_COLUMNS[type.kind] ?? [nameColumn, ageColumn];
  if (!type.columns?.length) return [nameColumn, ageColumn];
  return [nameColumn, ...type.columns.map(crColumn)];
}

export type IncludeObject = "None" | "Metadata" | "Object";

/** A Table of `objects`; `headers` false leaves out column definitions (watch events after the first). */
export function toTable(
  type: ResourceType,
  objects: KubeObject[],
  listMeta: Json,
  include: IncludeObject,
  headers = true,
): Json {
  const columns = columnsOf(type);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMeta,
    columnDefinitions: headers
      ? columns.map((c) => ({
          name: c.name,
          type: c.type,
          format: c.format ?? "",
          description: c.description,
          priority: c.priority ?? 0,
        }))
      : null,
    rows: objects.map((o) => ({
      cells: columns.map((c) => c.cell(o) ?? null),
      ...(include === "None"
        ? {}
        : {
            object:
              include === "Object"
                ? o
                : { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
          }),
    })),
  };
}
