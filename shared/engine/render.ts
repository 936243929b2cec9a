/**
 * Turning Vault data into the bytes pushed to a store, the way ESO does for a PushSecret:
 *
 * 1. source data: a Kubernetes-Secret-like map of key → string built from the source parts
 *    (Vault strings as they are, other JSON values as JSON text);
 * 2. the template, if any, rewrites that map;
 * 3. conversionStrategy ReverseUnicode turns `_UXXXX_` escapes in key names back into characters;
 * 4. `secretKey` picks one key; without it the whole map is pushed as a JSON object (sorted keys);
 * 5. with `property`, the value is set as a string under that top-level key of the remote JSON
 *    object (read-modify-write in apply.ts). Nested gjson-style paths are not supported.
 *
 * Errors name keys, properties and paths, never values.
 */
import { inspect } from "node:util";
import { PushsyncError } from "../errors/index.ts";
import { redact } from "../observability/logger.ts";
import type { KvLocation } from "../vault/types.ts";
import { canonicalJson } from "./fingerprint.ts";
import type { ConversionStrategy, PushEntry, SourcePart } from "./types.ts";

/** Secret bytes that print as "[secret]" in JSON, string conversion and util.inspect. */
export class SecretValue {
  readonly #bytes: Buffer;
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }
  get bytes(): Buffer {
    return this.#bytes;
  }
  toJSON(): string {
    return "[secret]";
  }
  toString(): string {
    return "[secret]";
  }
  [inspect.custom](): string {
    return "[secret]";
  }
}

export class RenderError extends PushsyncError {
  override name = "RenderError";
  constructor(message: string) {
    super("Invalid", message);
  }
}

const where = (loc: KvLocation): string => `${loc.mount}/${loc.path}`;
const asString = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

export function sourceData(
  parts: SourcePart[],
  dataOf: (loc: KvLocation) => Record<string, unknown>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of parts) {
    const data = dataOf(part.location);
    if (part.secretKey === undefined) {
      for (const [k, v] of Object.entries(data)) out[k] = asString(v);
    } else if (part.property === undefined) {
      out[part.secretKey] = canonicalJson(data);
    } else if (Object.hasOwn(data, part.property)) {
      out[part.secretKey] = asString(data[part.property]);
    } else {
      throw new RenderError(`property "${part.property}" not found in Vault secret ${where(part.location)}`);
    }
  }
  return out;
}

const unicodeEscape = /_U([0-9a-fA-F]{4,5})_/g;

export function convertKeys(
  strategy: ConversionStrategy,
  data: Record<string, string>,
): Record<string, string> {
  if (strategy === "None") return data;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) {
    const key = k.replace(unicodeEscape, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16)));
    if (Object.hasOwn(out, key))
      throw new RenderError(`two source keys become "${key}" after ReverseUnicode conversion`);
    out[key] = v;
  }
  return out;
}

/** The bytes an entry pushes (before any property merge). */
export function renderEntry(
  entry: PushEntry,
  dataOf: (loc: KvLocation) => Record<string, unknown>,
): SecretValue {
  let data = sourceData(entry.source.parts, dataOf);
  if (entry.template) {
    try {
      data = entry.template.render(data);
    } catch (err) {
      // The renderer's message is passed through the redactor: source values are registered.
      const detail = err instanceof Error ? `: ${redact(err.message)}` : "";
      throw new RenderError(`template of ${entry.pushSecret} failed${detail}`);
    }
  }
  data = convertKeys(entry.conversionStrategy, data);
  if (entry.secretKey === undefined) return new SecretValue(Buffer.from(canonicalJson(data)));
  const value = data[entry.secretKey];
  if (value === undefined) {
    throw new RenderError(
      `secret key "${entry.secretKey}" not found in the source data of ${entry.pushSecret}`,
    );
  }
  return new SecretValue(Buffer.from(value));
}

/**
 * Sets and removes top-level properties of a remote JSON object. `current` undefined: the remote
 * secret does not exist yet. Returns undefined when nothing is left (the secret can go).
 */
export function mergeProperties(
  current: Buffer | undefined,
  set: Map<string, SecretValue>,
  remove: string[],
  remote: string,
): SecretValue | undefined {
  let obj: Record<string, unknown> = {};
  if (current && current.length > 0) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(current.toString("utf8"));
    } catch {
      // JSON.parse messages quote the input: never pass them on.
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new RenderError(`remote secret ${remote} is not a JSON object; cannot set a property in it`);
    }
    obj = parsed as Record<string, unknown>;
  }
  for (const [property, value] of set) obj[property] = value.bytes.toString("utf8");
  for (const property of remove) delete obj[property];
  if (Object.keys(obj).length === 0) return undefined;
  return new SecretValue(Buffer.from(JSON.stringify(obj)));
}
