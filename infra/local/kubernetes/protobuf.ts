/**
 * Request bodies in the Kubernetes protobuf encoding (application/vnd.kubernetes.protobuf), which
 * client-go's typed clients send for built-in kinds (e.g. `kubectl create secret generic`,
 * `kubectl create configmap`, `kubectl create namespace`). Decodes Secrets, ConfigMaps,
 * Namespaces and DeleteOptions into their JSON form; other kinds are 415. Replies stay JSON, which those clients
 * also accept.
 *
 * The envelope is the 4 bytes "k8s\0" and a runtime.Unknown message: typeMeta (1: apiVersion 1,
 * kind 2) and raw (2), the object's own message. Field numbers are those of k8s.io/api's
 * generated.proto for the fields these kinds use.
 */
import { badRequest, KubeError } from "./errors.ts";
import { timestamp, type Json } from "./objects.ts";

type Kind =
  "string" | "bytes" | "int" | "bool" | "time" | Schema | { map: "string" | "bytes" } | { list: Kind };
interface Schema {
  [field: number]: [string, Kind];
}

const OWNER_REFERENCE: Schema = {
  1: ["kind", "string"],
  3: ["name", "string"],
  4: ["uid", "string"],
  5: ["apiVersion", "string"],
  6: ["controller", "bool"],
  7: ["blockOwnerDeletion", "bool"],
};
const OBJECT_META: Schema = {
  1: ["name", "string"],
  2: ["generateName", "string"],
  3: ["namespace", "string"],
  5: ["uid", "string"],
  6: ["resourceVersion", "string"],
  7: ["generation", "int"],
  8: ["creationTimestamp", "time"],
  11: ["labels", { map: "string" }],
  12: ["annotations", { map: "string" }],
  13: ["ownerReferences", { list: OWNER_REFERENCE }],
  14: ["finalizers", { list: "string" }],
};
const KINDS: Record<string, Schema> = {
  Secret: {
    1: ["metadata", OBJECT_META],
    2: ["data", { map: "bytes" }],
    3: ["type", "string"],
    4: ["stringData", { map: "string" }],
    5: ["immutable", "bool"],
  },
  ConfigMap: {
    1: ["metadata", OBJECT_META],
    2: ["data", { map: "string" }],
    3: ["binaryData", { map: "bytes" }],
    4: ["immutable", "bool"],
  },
  Namespace: {
    1: ["metadata", OBJECT_META],
    2: ["spec", { 1: ["finalizers", { list: "string" }] }],
    3: ["status", { 1: ["phase", "string"] }],
  },
  DeleteOptions: {
    1: ["gracePeriodSeconds", "int"],
    2: ["preconditions", { 1: ["uid", "string"], 2: ["resourceVersion", "string"] }],
    3: ["orphanDependents", "bool"],
    4: ["propagationPolicy", "string"],
    5: ["dryRun", { list: "string" }],
  },
};

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
/** Go's zero time (0001-01-01T00:00:00Z) in Unix seconds: an unset timestamp. */
const ZERO_TIME = -62135596800n;

interface Field {
  no: number;
  int: bigint;
  bytes: Buffer;
}

function malformed(): never {
  throw badRequest("the protobuf request body could not be decoded");
}

/** The fields of one message, in order (varint and length-delimited wire types). */
function fieldsOf(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (pos >= buf.length || shift > 63n) malformed();
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const wire = key & 7;
    const no = key >>> 3;
    if (wire === 0) out.push({ no, int: varint(), bytes: Buffer.alloc(0) });
    else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) malformed();
      out.push({ no, int: 0n, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else malformed();
  }
  return out;
}

function scalar(kind: Kind, f: Field): unknown {
  if (kind === "string") return f.bytes.toString("utf8");
  if (kind === "bytes") return f.bytes.toString("base64");
  if (kind === "int") return Number(BigInt.asIntN(64, f.int));
  if (kind === "bool") return f.int !== 0n;
  if (kind === "time") {
    const seconds = BigInt.asIntN(64, fieldsOf(f.bytes).find((x) => x.no === 1)?.int ?? 0n);
    return seconds > ZERO_TIME ? timestamp(new Date(Number(seconds) * 1000)) : undefined;
  }
  return decodeMessage(kind as Schema, f.bytes);
}

function decodeMessage(schema: Schema, buf: Buffer): Json {
  const out: Json = {};
  for (const f of fieldsOf(buf)) {
    const spec = schema[f.no];
    if (!spec) continue;
    const [name, kind] = spec;
    if (typeof kind === "object" && "map" in kind) {
      const entry = fieldsOf(f.bytes);
      const key = entry.find((e) => e.no === 1)?.bytes.toString("utf8") ?? "";
      const value = entry.find((e) => e.no === 2) ?? { no: 2, int: 0n, bytes: Buffer.alloc(0) };
      out[name] = { ...(out[name] as Json | undefined), [key]: scalar(kind.map, value) };
    } else if (typeof kind === "object" && "list" in kind) {
      out[name] = [...((out[name] as unknown[] | undefined) ?? []), scalar(kind.list, f)];
    } else {
      // Unset scalars arrive as empty strings and zeros; JSON leaves them out.
      const value = scalar(kind, f);
      if (value !== undefined && value !== "" && !(kind === "int" && value === 0)) out[name] = value;
    }
  }
  return out;
}

/** The JSON form of a protobuf-encoded Secret, ConfigMap, Namespace or DeleteOptions. */
export function decodeProtobuf(body: Buffer): Json {
  if (!body.subarray(0, 4).equals(MAGIC)) malformed();
  const unknown = fieldsOf(body.subarray(4));
  const typeMeta = fieldsOf(unknown.find((f) => f.no === 1)?.bytes ?? Buffer.alloc(0));
  const apiVersion = typeMeta.find((f) => f.no === 1)?.bytes.toString("utf8") ?? "";
  const kind = typeMeta.find((f) => f.no === 2)?.bytes.toString("utf8") ?? "";
  const schema = KINDS[kind];
  if (!schema) {
    throw new KubeError(
      415,
      "UnsupportedMediaType",
      `the local Kubernetes API decodes protobuf only for Secret, ConfigMap, Namespace and DeleteOptions, not ${kind}: send application/json`,
    );
  }
  return {
    apiVersion,
    kind,
    ...decodeMessage(schema, unknown.find((f) => f.no === 2)?.bytes ?? Buffer.alloc(0)),
  };
}
