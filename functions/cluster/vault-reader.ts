/**
 * The read side of a Vault store, over VaultSource, with ESO's Vault provider semantics:
 *
 *   getSecret     remoteRef.key (normalised as everywhere, spec/vault-path.ts) and version (a
 *                 KV v2 version number); the value is the secret's data as JSON (sorted keys),
 *                 or one property of it (`jsonProperty`)
 *   findSecrets   dataFrom.find: every secret below `path` (relative to the store's mount, as the
 *                 forwarder watches it) whose path inside the mount matches `nameRegexp`, and
 *                 whose custom_metadata holds every given tag (KV v2); keyed by that path
 *
 * A secret that does not exist, or whose version is deleted or destroyed, fails with code
 * NotFound or Deleted; every other failure keeps its own code. API calls are counted in `calls`
 * under ESO's names for Vault: ReadSecretData and ListSecrets.
 */
import { PushsyncError } from "../../shared/errors/index.ts";
import { canonicalJson } from "../../shared/engine/fingerprint.ts";
import { findLocation } from "../../shared/forwarder/watch.ts";
import { Counters } from "../../shared/observability/counters.ts";
import type { FindQuery, RemoteRef, SecretStoreProvider } from "../../shared/providers/types.ts";
import { normalizeVaultPath, resourceId, type SecretStore } from "../../shared/spec/index.ts";
import type { KvLocation, VaultSource } from "../../shared/vault/types.ts";

/** What the puller needs of a store. Every provider, and the Vault adapter below, has it. */
export type ReadSide = Pick<
  SecretStoreProvider,
  "kind" | "storeName" | "calls" | "getSecret" | "findSecrets" | "close"
>;

export class VaultReadSide implements ReadSide {
  readonly kind = "vault" as const;
  readonly storeName: string;
  readonly calls = new Counters();

  constructor(
    private readonly source: VaultSource,
    private readonly store: SecretStore,
  ) {
    this.storeName = resourceId(store);
  }

  async getSecret(ref: RemoteRef): Promise<Buffer> {
    const loc = normalizeVaultPath(this.store, ref.key);
    let version: number | undefined;
    if (ref.version !== undefined && ref.version !== "") {
      if (!/^[1-9][0-9]*$/.test(ref.version)) {
        throw new PushsyncError("Invalid", `remoteRef.version of ${where(loc)} must be a KV version number`);
      }
      version = Number(ref.version);
    }
    this.calls.add("ReadSecretData");
    const secret = await this.source.read(loc, version === undefined ? {} : { version });
    const whole = Buffer.from(canonicalJson(secret.data));
    return ref.property ? jsonProperty(whole, ref.property, `Vault secret ${where(loc)}`) : whole;
  }

  async findSecrets(query: FindQuery): Promise<Map<string, Buffer>> {
    const found = findLocation(this.store, query.path);
    if (typeof found === "string") throw new PushsyncError("Invalid", `store ${this.storeName}: ${found}`);
    const { mount, prefix } = found;
    const regexp = query.nameRegexp === undefined ? undefined : new RegExp(query.nameRegexp);
    const tags = Object.entries(query.tags ?? {});
    this.calls.add("ListSecrets");
    const paths = await this.source.list({ mount, path: prefix }, { recursive: true });
    const out = new Map<string, Buffer>();
    for (const path of paths) {
      if (regexp && !regexp.test(path)) continue;
      try {
        if (tags.length > 0) {
          this.calls.add("ReadSecretData");
          const meta = await this.source.readMetadata({ mount, path });
          if (!tags.every(([k, v]) => meta.customMetadata[k] === v)) continue;
        }
        this.calls.add("ReadSecretData");
        const secret = await this.source.read({ mount, path });
        out.set(path, Buffer.from(canonicalJson(secret.data)));
      } catch (err) {
        // Deleted between the listing and the read: not found, as ESO skips it.
        if (!isAbsent(err)) throw err;
      }
    }
    return out;
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

/** The secret itself does not exist (or its version is deleted): ESO's NoSecretError. */
export function isAbsent(err: unknown): boolean {
  return err instanceof PushsyncError && (err.code === "NotFound" || err.code === "Deleted");
}

const where = (loc: KvLocation): string => `${loc.mount}/${loc.path}`;

/**
 * One property of a JSON object value, as ESO reads it: a top-level key equal to the whole
 * property first, then a gjson-like dotted path through objects and list indices ("a.b",
 * "list.0"; "\." is a literal dot). Strings come out as their text, null as "", anything else
 * as JSON. A missing property is an error (code Invalid): the secret itself exists.
 */
export function jsonProperty(value: Buffer, property: string, what: string): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(value.toString("utf8"));
  } catch {
    // JSON.parse messages quote the input: never pass them on.
    throw new PushsyncError("Invalid", `${what} is not JSON, so property "${property}" cannot be read`);
  }
  let found: { value: unknown } | undefined;
  if (isObject(doc) && Object.hasOwn(doc, property)) found = { value: doc[property] };
  else {
    found = { value: doc };
    for (const seg of property.split(/(?<!\\)\./).map((s) => s.replaceAll("\\.", "."))) {
      const cur: unknown = found.value;
      if (Array.isArray(cur) && /^\d+$/.test(seg) && Number(seg) < cur.length)
        found = { value: cur[Number(seg)] };
      else if (isObject(cur) && Object.hasOwn(cur, seg)) found = { value: cur[seg] };
      else {
        found = undefined;
        break;
      }
    }
  }
  if (!found) throw new PushsyncError("Invalid", `property "${property}" not found in ${what}`);
  return byteValue(found.value);
}

/** A JSON value as Secret bytes: strings as their text, null as empty, the rest as JSON. */
export function byteValue(v: unknown): Buffer {
  if (typeof v === "string") return Buffer.from(v, "utf8");
  if (v === null || v === undefined) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(v), "utf8");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
