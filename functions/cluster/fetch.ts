/**
 * An ExternalSecret's data, read from its store with ESO's rules (GetProviderSecretData):
 *
 *   dataFrom[], in order, each merged over the previous ones:
 *     extract   the remote value (or its `property`) parsed as a JSON object: one key per field,
 *               strings as their text, other values as JSON
 *     find      every remote secret matching path / name.regexp / tags, keyed by its name
 *     then      rewrite (regexp, then transform, in order), or without rewrite the
 *               conversionStrategy (Default: characters other than letters, digits, "-", "."
 *               and "_" become "_"; Unicode: "_UXXXX_"); then the keys are checked (empty keys
 *               dropped, at most 253 characters from the Secret key alphabet); then the
 *               decodingStrategy on every value
 *   data[], over all of that: one key each, the remote value or its `property`, decoded
 *
 * A remote secret that does not exist is skipped (and reported through `onMissing`) unless
 * the deletionPolicy is Retain, where it fails the fetch, as ESO does. Property extraction is
 * done here for every store (the providers are asked for whole values), so "no such secret"
 * always means the secret, never a property. Errors name keys and fields, never values.
 */
import { PushsyncError } from "../../shared/errors/index.ts";
import type { FindQuery } from "../../shared/providers/types.ts";
import {
  compileTemplate,
  renderTemplate,
  type DecodingStrategy,
  type ExternalSecret,
} from "../../shared/spec/index.ts";
import { isAbsent, jsonProperty, byteValue, type ReadSide } from "./vault-reader.ts";

export type SecretData = Map<string, Buffer>;

export interface FetchContext {
  reader: ReadSide;
  /** Wraps every call to the store (metrics). */
  call<T>(run: () => Promise<T>): Promise<T>;
  /** A remote secret that does not exist was skipped ("spec.data[0] (key=app/db)"). */
  onMissing(what: string): void;
}

export async function fetchSecretData(es: ExternalSecret, ctx: FetchContext): Promise<SecretData> {
  const retain = es.spec.target.deletionPolicy === "Retain";
  const out: SecretData = new Map();
  const skipOrThrow = (err: unknown, what: string): void => {
    if (isAbsent(err) && !retain) return ctx.onMissing(what);
    if (!(err instanceof PushsyncError) || err.message.startsWith("spec.")) throw err;
    // Which entry failed, as ESO says it ("spec.data[0] (key=app/db): ...").
    throw new PushsyncError(err.code, `${what}: ${err.message}`, err.retryable, err.retryAfterMs);
  };

  for (const [i, entry] of (es.spec.dataFrom ?? []).entries()) {
    const field = `spec.dataFrom[${i}]`;
    let map: SecretData;
    try {
      if (entry.find) {
        const query: FindQuery = {
          ...(entry.find.path !== undefined ? { path: entry.find.path } : {}),
          ...(entry.find.name?.regexp !== undefined ? { nameRegexp: entry.find.name.regexp } : {}),
          ...(entry.find.tags ? { tags: entry.find.tags } : {}),
        };
        map = await ctx.call(() => ctx.reader.findSecrets(query));
      } else {
        const ref = entry.extract!;
        if (ref.metadataPolicy === "Fetch") {
          throw new PushsyncError("Invalid", `${field}.extract.metadataPolicy: Fetch is not supported`);
        }
        const value = await readValue(ctx, ref);
        map = jsonObjectMap(value, `${field}.extract (key ${ref.key})`);
      }
    } catch (err) {
      skipOrThrow(err, field);
      continue;
    }
    const strategy = entry.find ?? entry.extract!;
    map = entry.rewrite?.length
      ? rewriteKeys(map, entry.rewrite, field)
      : convertKeys(map, strategy.conversionStrategy, field);
    checkKeys(map, field);
    for (const [k, v] of map) out.set(k, decode(strategy.decodingStrategy, v, `${field}: key "${k}"`));
  }

  for (const [i, d] of (es.spec.data ?? []).entries()) {
    const field = `spec.data[${i}]`;
    if (d.remoteRef.metadataPolicy === "Fetch") {
      throw new PushsyncError("Invalid", `${field}.remoteRef.metadataPolicy: Fetch is not supported`);
    }
    let value: Buffer;
    try {
      value = await readValue(ctx, d.remoteRef);
    } catch (err) {
      skipOrThrow(err, `${field} (key=${d.remoteRef.key})`);
      continue;
    }
    out.set(d.secretKey, decode(d.remoteRef.decodingStrategy, value, `${field} (${d.secretKey})`));
  }
  return out;
}

async function readValue(
  ctx: FetchContext,
  ref: { key: string; property?: string; version?: string },
): Promise<Buffer> {
  const version = ref.version ? { version: ref.version } : {};
  const value = await ctx.call(() => ctx.reader.getSecret({ key: ref.key, ...version }));
  return ref.property ? jsonProperty(value, ref.property, "the remote value") : value;
}

function jsonObjectMap(value: Buffer, what: string): SecretData {
  let doc: unknown;
  try {
    doc = JSON.parse(value.toString("utf8"));
  } catch {
    doc = undefined;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new PushsyncError("Invalid", `${what}: the value is not a JSON object, so it cannot be extracted`);
  }
  return new Map(Object.entries(doc).map(([k, v]) => [k, byteValue(v)]));
}

// --- keys ----------------------------------------------------------------------------------------

const keyChar = /^[\p{L}\p{N}._-]$/u;

function convertKeys(map: SecretData, strategy: "Default" | "Unicode", field: string): SecretData {
  const out: SecretData = new Map();
  for (const [key, v] of map) {
    const converted = [...key]
      .map((c) =>
        keyChar.test(c)
          ? c
          : strategy === "Unicode"
            ? `_U${c.codePointAt(0)!.toString(16).padStart(4, "0")}_`
            : "_",
      )
      .join("");
    if (out.has(converted)) {
      throw new PushsyncError(
        "Invalid",
        `${field}: two keys become "${converted}" after ${strategy} conversion`,
      );
    }
    out.set(converted, v);
  }
  return out;
}

type Rewrite = NonNullable<ExternalSecret["spec"]["dataFrom"]>[number]["rewrite"];

function rewriteKeys(map: SecretData, rewrites: NonNullable<Rewrite>, field: string): SecretData {
  let current = map;
  rewrites.forEach((rw, j) => {
    const next: SecretData = new Map();
    const where = `${field}.rewrite[${j}]`;
    if (rw.regexp) {
      const re = new RegExp(rw.regexp.source, "g");
      const target = goReplacement(rw.regexp.target);
      for (const [k, v] of current) next.set(k.replace(re, target), v);
    } else {
      const t = compileTemplate(rw.transform!.template);
      for (const [k, v] of current) {
        try {
          next.set(renderTemplate(t, { value: k }), v);
        } catch (err) {
          throw new PushsyncError(
            "Invalid",
            `${where}.transform failed for key "${k}": ${(err as Error).message}`,
          );
        }
      }
    }
    current = next;
  });
  return current;
}

/** Go's ReplaceAllString template ($1, ${1}, $name, ${name}, $$) in JavaScript's replacement syntax. */
function goReplacement(target: string): string {
  return target.replace(/\$(\$|\{(\w+)\}|(\w+))/g, (_m, all: string, braced?: string, bare?: string) => {
    if (all === "$") return "$$";
    const name = braced ?? bare!;
    return /^\d+$/.test(name) ? `$${name}` : `$<${name}>`;
  });
}

function checkKeys(map: SecretData, field: string): void {
  for (const key of [...map.keys()]) {
    if (key === "") {
      map.delete(key);
      continue;
    }
    if (key.length > 253) {
      throw new PushsyncError(
        "Invalid",
        `${field}: key "${key.slice(0, 40)}..." is longer than 253 characters`,
      );
    }
    if (![...key].every((c) => keyChar.test(c))) {
      throw new PushsyncError(
        "Invalid",
        `${field}: key "${key}" has a character other than letters, digits, "-", "." and "_" (use rewrite or conversionStrategy)`,
      );
    }
  }
}

// --- values --------------------------------------------------------------------------------------

const base64Std = /^[A-Za-z0-9+/]*={0,2}$/;
const base64Url = /^[A-Za-z0-9_-]*={0,2}$/;

/** Go's padded base64 decoders: line breaks are ignored, anything else must be exact. */
function strictBase64(value: Buffer, url: boolean): Buffer | undefined {
  const text = value.toString("latin1").replace(/[\r\n]/g, "");
  if (text.length % 4 !== 0 || !(url ? base64Url : base64Std).test(text)) return undefined;
  return Buffer.from(text, url ? "base64url" : "base64");
}

function decode(strategy: DecodingStrategy, value: Buffer, what: string): Buffer {
  if (strategy === "None") return value;
  if (strategy === "Auto") return strictBase64(value, false) ?? strictBase64(value, true) ?? value;
  const out = strictBase64(value, strategy === "Base64URL");
  if (!out)
    throw new PushsyncError("Invalid", `${what}: decodingStrategy ${strategy}: the value is not ${strategy}`);
  return out;
}
