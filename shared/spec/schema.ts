/**
 * A small declarative schema for ESO manifests and the checker that walks a YAML document
 * with it. The checker returns the plain value with defaults applied, records the source
 * position of every field it visits, and reports wrong types, bad enum values, unknown
 * fields, missing required fields (at the parent mapping) and fields ESO has but pushsync
 * does not implement.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type YAMLMap } from "yaml";
import { parseDuration } from "./duration.ts";

export interface Position {
  line: number;
  column: number;
}

interface Common {
  required?: boolean;
}
export type Schema = Common &
  (
    | {
        kind: "string";
        enum?: readonly string[];
        /** Values ESO accepts that pushsync does not implement. */
        unsupportedValues?: readonly string[];
        default?: string;
        /** Returns a problem with the value, if any (the message must not repeat the value). */
        check?: (value: string) => string | undefined;
      }
    | { kind: "boolean"; default?: boolean }
    | { kind: "integer"; min?: number; max?: number; default?: number }
    | { kind: "duration"; default?: string }
    | {
        kind: "stringMap";
        /** Returns a problem with a key, if any. */
        keyCheck?: (key: string) => string | undefined;
        values?: Schema;
      }
    | { kind: "list"; items: Schema; minItems?: number }
    | {
        kind: "object";
        fields: Record<string, Schema>;
        /** Extra keys are allowed (and dropped). */
        open?: boolean;
        /** When absent, the field is still built from its defaults. */
        materialize?: boolean;
        exactlyOne?: readonly string[];
        atMostOne?: readonly string[];
        unknownField?: (key: string) => string;
      }
    | { kind: "json" }
    | { kind: "unsupported"; reason?: string }
  );

// --- builders ----------------------------------------------------------------------------------

type Opts<K extends Schema["kind"]> = Omit<Extract<Schema, { kind: K }>, "kind">;
export const str = (o: Opts<"string"> = {}): Schema => ({ kind: "string", ...o });
export const oneOf = (values: readonly string[], o: Opts<"string"> = {}): Schema => ({
  kind: "string",
  enum: values,
  ...o,
});
export const bool = (o: Opts<"boolean"> = {}): Schema => ({ kind: "boolean", ...o });
export const int = (o: Opts<"integer"> = {}): Schema => ({ kind: "integer", ...o });
export const duration = (o: Opts<"duration"> = {}): Schema => ({ kind: "duration", ...o });
export const stringMap = (o: Opts<"stringMap"> = {}): Schema => ({ kind: "stringMap", ...o });
export const list = (items: Schema, o: Omit<Opts<"list">, "items"> = {}): Schema => ({
  kind: "list",
  items,
  ...o,
});
export const obj = (fields: Record<string, Schema>, o: Omit<Opts<"object">, "fields"> = {}): Schema => ({
  kind: "object",
  fields,
  ...o,
});
export const json = (): Schema => ({ kind: "json" });
export const unsupported = (reason?: string): Schema => ({ kind: "unsupported", reason });
export const required = (s: Schema): Schema => ({ ...s, required: true });

// --- field paths -------------------------------------------------------------------------------

/** `spec.data`, `spec.data[0]`, `template.data["admin.password"]`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent ? `${parent}.${key}` : key;
}

/** The position of a field, or of its nearest ancestor that has one. */
export function positionOf(positions: ReadonlyMap<string, Position>, path: string): Position | undefined {
  for (let p = path; ;) {
    const found = positions.get(p);
    if (found || p === "") return found;
    const cut = p.match(/^(.*?)(?:\.[^.[\]]+|\[[^\]]*\])$/);
    p = cut ? cut[1]! : "";
  }
}

// --- checker -----------------------------------------------------------------------------------

type Report = (field: string, at: Position, message: string) => void;

export class DocumentChecker {
  readonly positions = new Map<string, Position>();
  /** Fields whose value was invalid (so they are not reported again as missing). */
  private readonly failed = new Set<string>();

  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly report: Report,
  ) {}

  position(node: unknown): Position {
    const offset = (node as { range?: [number, number, number] } | null)?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  /**
   * Checks `node` against `schema`; returns the value with defaults, or undefined when invalid.
   * A field is placed at its key (`keyAt`); problems with a scalar value, at the value.
   */
  check(node: unknown, schema: Schema, path: string, keyAt?: Position): unknown {
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) return this.badAlias(node, path);
      node = target;
    }
    const at = this.position(node);
    this.positions.set(path, keyAt ?? at);
    const fail = (message: string): undefined => {
      this.report(path, at, message);
      return undefined;
    };
    const scalar = isScalar(node) ? node.value : undefined;

    switch (schema.kind) {
      case "unsupported":
        return fail(this.unsupported(schema));
      case "json":
        return (node as { toJS(doc: Document): unknown }).toJS(this.doc);
      case "string": {
        if (typeof scalar !== "string") return fail(`expected a string, got ${describe(node)}`);
        if (schema.unsupportedValues?.includes(scalar)) {
          return fail(`"${scalar}" is not supported by pushsync; allowed: ${schema.enum?.join(", ")}`);
        }
        if (schema.enum && !schema.enum.includes(scalar)) {
          return fail(`must be one of ${schema.enum.join(", ")}; got "${scalar}"`);
        }
        const problem = schema.check?.(scalar);
        return problem ? fail(problem) : scalar;
      }
      case "boolean":
        return typeof scalar === "boolean" ? scalar : fail(`expected true or false, got ${describe(node)}`);
      case "integer": {
        if (typeof scalar !== "number" || !Number.isInteger(scalar)) {
          return fail(`expected an integer, got ${describe(node)}`);
        }
        if (schema.min !== undefined && scalar < schema.min) return fail(`must be at least ${schema.min}`);
        if (schema.max !== undefined && scalar > schema.max) return fail(`must be at most ${schema.max}`);
        return scalar;
      }
      case "duration": {
        if (scalar === 0) return "0";
        if (typeof scalar !== "string") return fail(`expected a duration like 1h, 5m, 30s or 1h30m`);
        try {
          parseDuration(scalar);
          return scalar;
        } catch (err) {
          return fail(`invalid duration "${scalar}": ${(err as Error).message}`);
        }
      }
      case "stringMap": {
        if (!isMap(node)) return fail(`expected a mapping of strings, got ${describe(node)}`);
        const out: Record<string, string> = {};
        for (const pair of this.pairs(node, path)) {
          const key = this.key(pair.key, path);
          if (key === undefined) continue;
          const keyProblem = schema.keyCheck?.(key);
          if (keyProblem) this.report(childPath(path, key), this.position(pair.key), keyProblem);
          const value = this.check(
            pair.value,
            schema.values ?? { kind: "string" },
            childPath(path, key),
            this.position(pair.key),
          );
          if (typeof value === "string") out[key] = value;
        }
        return out;
      }
      case "list": {
        if (!isSeq(node)) return fail(`expected a list, got ${describe(node)}`);
        if (schema.minItems && node.items.length < schema.minItems) {
          return fail(`needs at least ${schema.minItems} item(s)`);
        }
        return node.items.map((item, i) => this.check(item, schema.items, childPath(path, i)));
      }
      case "object":
        if (!isMap(node)) return fail(`expected a mapping, got ${describe(node)}`);
        return this.object(this.pairs(node, path), schema, path, keyAt ?? at);
    }
  }

  private object(
    pairs: ReadonlyArray<{ key: unknown; value: unknown }>,
    schema: Extract<Schema, { kind: "object" }>,
    path: string,
    at: Position,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    let rejected = 0;
    for (const pair of pairs) {
      const key = this.key(pair.key, path);
      if (key === undefined) continue;
      const field = schema.fields[key];
      if (!field || field.kind === "unsupported") {
        if (!field && schema.open) continue;
        rejected++;
        const message = field ? this.unsupported(field) : this.unknown(schema, key);
        this.report(childPath(path, key), this.position(pair.key), message);
        continue;
      }
      if (isNull(pair.value)) continue;
      const value = this.check(pair.value, field, childPath(path, key), this.position(pair.key));
      if (value !== undefined) out[key] = value;
      else this.failed.add(childPath(path, key));
    }
    for (const [key, field] of Object.entries(schema.fields)) {
      if (key in out || this.failed.has(childPath(path, key))) continue;
      const fallback = defaultOf(field);
      if (fallback !== undefined) out[key] = fallback;
      else if (field.required) this.report(childPath(path, key), at, "required");
    }
    // A field given with a bad value counts as set (its problem is reported already).
    const set = (names: readonly string[] | undefined) =>
      (names ?? []).filter((n) => n in out || this.failed.has(childPath(path, n)));
    const one = set(schema.exactlyOne);
    // None set next to a rejected field: that field was the attempt, already reported.
    if (schema.exactlyOne && (one.length > 1 || (one.length === 0 && rejected === 0))) {
      const got = one.length ? `; got ${one.join(", ")}` : "";
      this.report(path, at, `set exactly one of ${schema.exactlyOne.join(", ")}${got}`);
    }
    const most = set(schema.atMostOne);
    if (most.length > 1)
      this.report(path, at, `set at most one of ${schema.atMostOne!.join(", ")}; got ${most.join(", ")}`);
    return out;
  }

  /**
   * The pairs of a mapping with YAML 1.1 merge keys (`<<: *defaults`) expanded, as Kubernetes
   * reads them: keys written in the mapping win over merged ones, earlier merges over later.
   */
  private pairs(map: YAMLMap, path: string): { key: unknown; value: unknown }[] {
    const keyOf = (k: unknown) => (isScalar(k) ? k.value : k);
    const isMerge = (k: unknown) => typeof keyOf(k) === "symbol";
    const out: { key: unknown; value: unknown }[] = map.items.filter((p) => !isMerge(p.key));
    const seen = new Set(out.map((p) => keyOf(p.key)));
    for (const merge of map.items.filter((p) => isMerge(p.key))) {
      const value = isAlias(merge.value) ? merge.value.resolve(this.doc) : merge.value;
      for (const item of isSeq(value) ? value.items : [merge.value]) {
        const source = isAlias(item) ? item.resolve(this.doc) : item;
        if (!isMap(source)) {
          if (isAlias(item) && !source) this.badAlias(item, path);
          else this.report(path, this.position(item), "<< merges a mapping, or a list of mappings");
          continue;
        }
        for (const p of this.pairs(source, path)) {
          if (!seen.has(keyOf(p.key))) {
            seen.add(keyOf(p.key));
            out.push(p);
          }
        }
      }
    }
    return out;
  }

  private badAlias(alias: { source: string }, path: string): undefined {
    this.report(path, this.position(alias), `alias *${alias.source} names no anchor in this document`);
    return undefined;
  }

  private key(node: unknown, path: string): string | undefined {
    if (isScalar(node) && typeof node.value === "string") return node.value;
    this.report(path, this.position(node), `expected string keys, got ${describe(node)}`);
    return undefined;
  }

  private unsupported(schema: Extract<Schema, { kind: "unsupported" }>): string {
    return `supported by ESO but not by pushsync${schema.reason ? ` (${schema.reason})` : ""}`;
  }

  private unknown(schema: Extract<Schema, { kind: "object" }>, key: string): string {
    if (schema.unknownField) return schema.unknownField(key);
    const known = Object.keys(schema.fields);
    const close = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
    return close
      ? `unknown field; did you mean "${close}"?`
      : `unknown field; known fields: ${known.join(", ")}`;
  }
}

function defaultOf(schema: Schema): unknown {
  if ("default" in schema) return schema.default;
  if (schema.kind === "object" && schema.materialize) {
    const out: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(schema.fields)) {
      const d = defaultOf(f);
      if (d !== undefined) out[k] = d;
    }
    return out;
  }
  return undefined;
}

function isNull(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}

function describe(node: unknown): string {
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (!isScalar(node) || node.value === null) return "nothing";
  const v = node.value;
  if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a number";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "string") return "a string";
  return `a ${typeof v}`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}
