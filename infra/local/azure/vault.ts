/**
 * The in-memory state of the local Key Vault: secrets, their versions and the soft-delete life
 * cycle, with the service's rules and error texts. No HTTP here (see index.ts).
 *
 * Life cycle of a name (soft-delete is always on, recovery level Recoverable+Purgeable, 90 days):
 *
 *   active --DELETE--> deleting --(transitionMs)--> deleted --purge--> purging --(transitionMs)--> gone
 *                                                      |
 *                                                      +--recover--> recovering --(transitionMs)--> active
 *
 * The real service runs deletion, recovery and purge in the background for a few seconds; the
 * `transitionMs` option reproduces that window (0 makes every transition immediate). Phases are
 * advanced lazily whenever a name is touched, so no timers need cleaning up.
 *
 * Names are case-insensitive, as in Key Vault: "Db" and "db" are the same secret, and the casing
 * used when the secret was first created is kept.
 */
import { randomBytes } from "node:crypto";

export const RECOVERY_LEVEL = "Recoverable+Purgeable";
export const RECOVERABLE_DAYS = 90;
/** Documented limits (about-secrets: 25k bytes per value, 15 tags of 512 characters each, 255 for contentType). */
export const MAX_VALUE_BYTES = 25_600;
export const MAX_TAGS = 15;
export const MAX_TAG_LENGTH = 512;
export const MAX_CONTENT_TYPE_LENGTH = 255;
export const NAME_PATTERN = /^[0-9a-zA-Z-]{1,127}$/;

export interface SecretVersion {
  /** 32 lowercase hex characters. */
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  /** Epoch seconds. */
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

export type Phase = "active" | "deleting" | "deleted" | "recovering" | "purging";

export interface SecretEntry {
  name: string;
  /** In creation order: the last one is the current version. */
  versions: SecretVersion[];
  phase: Phase;
  /** Epoch seconds, set while the secret is soft-deleted. */
  deletedDate?: number;
  scheduledPurgeDate?: number;
}

export interface SetInput {
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

export interface UpdateInput {
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

/** A service error: HTTP status, error code, message and optional inner error code. */
export class KeyVaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
  }
}

const notFound = (name: string) =>
  new KeyVaultError(
    404,
    "SecretNotFound",
    `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
const deletedNotFound = (name: string) =>
  new KeyVaultError(404, "SecretNotFound", `Deleted Secret not found: ${name}`);
const beingDeleted = (name: string) =>
  new KeyVaultError(409, "Conflict", `Secret ${name} is currently being deleted.`, "ObjectIsBeingDeleted");
const badParameter = (message: string) => new KeyVaultError(400, "BadParameter", message);

export function checkName(name: string): void {
  if (!NAME_PATTERN.test(name)) throw badParameter(`The request URI contains an invalid name: ${name}`);
}

function checkProperties(input: UpdateInput): void {
  // The service answers these with a bare "Property has invalid value".
  const tags = Object.entries(input.tags ?? {});
  if (tags.length > MAX_TAGS) throw badParameter("Property has invalid value");
  for (const [k, v] of tags) {
    if (k.length === 0 || k.length > MAX_TAG_LENGTH || typeof v !== "string" || v.length > MAX_TAG_LENGTH)
      throw badParameter("Property has invalid value");
  }
  if ((input.contentType?.length ?? 0) > MAX_CONTENT_TYPE_LENGTH)
    throw badParameter("Property has invalid value");
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** An entry with the end of its running transition (epoch ms, 0 when none). */
interface StoredEntry extends SecretEntry {
  until: number;
}

const byName = (a: SecretEntry, b: SecretEntry) => {
  const x = a.name.toLowerCase();
  const y = b.name.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
};

export class LocalKeyVault {
  private entries = new Map<string, StoredEntry>();

  constructor(private readonly transitionMs = 0) {}

  /** Active secrets, ordered by name. */
  list(): SecretEntry[] {
    return this.all().filter((e) => e.phase === "active");
  }

  /** Soft-deleted secrets whose deletion has completed, ordered by name. */
  listDeleted(): SecretEntry[] {
    return this.all().filter((e) => e.phase === "deleted");
  }

  set(name: string, input: SetInput): { entry: SecretEntry; version: SecretVersion } {
    checkName(name);
    if (Buffer.byteLength(input.value, "utf8") > MAX_VALUE_BYTES)
      throw badParameter(`Secret is beyond the maximum permitted length of ${MAX_VALUE_BYTES} characters.`);
    checkProperties(input);
    let entry = this.find(name);
    if (entry?.phase === "deleted")
      throw new KeyVaultError(
        409,
        "Conflict",
        `Secret ${entry.name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
        "ObjectIsDeletedButRecoverable",
      );
    if (entry?.phase === "deleting") throw beingDeleted(entry.name);
    if (entry?.phase === "purging")
      throw new KeyVaultError(
        409,
        "Conflict",
        `Secret ${entry.name} is currently being deleted and cannot be re-created; retry later.`,
        "ObjectIsBeingDeleted",
      );
    if (entry?.phase === "recovering")
      throw new KeyVaultError(409, "Conflict", `Secret ${entry.name} is currently being recovered.`);
    if (!entry) {
      entry = { name, versions: [], phase: "active", until: 0 };
      this.entries.set(name.toLowerCase(), entry);
    }
    const now = nowSeconds();
    const version: SecretVersion = {
      version: randomBytes(16).toString("hex"),
      value: input.value,
      enabled: input.enabled ?? true,
      created: now,
      updated: now,
      ...(input.contentType !== undefined ? { contentType: input.contentType } : {}),
      ...(input.tags !== undefined ? { tags: { ...input.tags } } : {}),
      ...(input.nbf !== undefined ? { nbf: input.nbf } : {}),
      ...(input.exp !== undefined ? { exp: input.exp } : {}),
    };
    entry.versions.push(version);
    return { entry, version };
  }

  /** One version (the current one when `version` is empty), for reading its value. */
  get(name: string, version = ""): { entry: SecretEntry; version: SecretVersion } {
    const found = this.version(name, version);
    if (!found.version.enabled)
      throw new KeyVaultError(
        403,
        "Forbidden",
        "Operation get is not allowed on a disabled secret.",
        "SecretDisabled",
      );
    return found;
  }

  versions(name: string): SecretEntry {
    const entry = this.find(name);
    if (entry?.phase !== "active") throw notFound(name);
    return entry;
  }

  update(name: string, version: string, input: UpdateInput): { entry: SecretEntry; version: SecretVersion } {
    checkProperties(input);
    const found = this.version(name, version);
    const v = found.version;
    if (input.contentType !== undefined) v.contentType = input.contentType;
    if (input.tags !== undefined) v.tags = { ...input.tags };
    if (input.enabled !== undefined) v.enabled = input.enabled;
    if (input.nbf !== undefined) v.nbf = input.nbf;
    if (input.exp !== undefined) v.exp = input.exp;
    v.updated = nowSeconds();
    return found;
  }

  delete(name: string): SecretEntry {
    const entry = this.find(name);
    if (entry?.phase === "deleting" || entry?.phase === "purging") throw beingDeleted(entry.name);
    if (entry?.phase !== "active") throw notFound(name);
    const now = nowSeconds();
    entry.deletedDate = now;
    entry.scheduledPurgeDate = now + RECOVERABLE_DAYS * 24 * 3600;
    this.move(entry, "deleting", "deleted");
    return entry;
  }

  getDeleted(name: string): SecretEntry {
    const entry = this.find(name);
    if (entry?.phase !== "deleted") throw deletedNotFound(name);
    return entry;
  }

  recover(name: string): SecretEntry {
    const entry = this.find(name);
    if (entry?.phase === "deleting") throw beingDeleted(entry.name);
    if (entry?.phase !== "deleted") throw deletedNotFound(name);
    delete entry.deletedDate;
    delete entry.scheduledPurgeDate;
    this.move(entry, "recovering", "active");
    return entry;
  }

  purge(name: string): void {
    const entry = this.find(name);
    if (entry?.phase === "deleting" || entry?.phase === "purging") throw beingDeleted(entry.name);
    if (entry?.phase !== "deleted") throw deletedNotFound(name);
    this.move(entry, "purging", "gone");
  }

  private version(name: string, version: string): { entry: SecretEntry; version: SecretVersion } {
    const entry = this.find(name);
    if (entry?.phase !== "active") throw notFound(version ? `${name}/${version}` : name);
    const v = version ? entry.versions.find((x) => x.version === version) : entry.versions.at(-1);
    if (!v) throw notFound(`${name}/${version}`);
    return { entry, version: v };
  }

  /** Starts a background transition, or finishes it at once when transitionMs is 0. */
  private move(entry: StoredEntry, during: Phase, after: Phase | "gone"): void {
    if (this.transitionMs > 0) {
      entry.phase = during;
      entry.until = Date.now() + this.transitionMs;
    } else this.finish(entry, after);
  }

  private finish(entry: SecretEntry, after: Phase | "gone"): void {
    if (after === "gone") this.entries.delete(entry.name.toLowerCase());
    else entry.phase = after;
  }

  private settle(entry: StoredEntry): void {
    if (entry.until === 0 || entry.until > Date.now()) return;
    entry.until = 0;
    if (entry.phase === "deleting") this.finish(entry, "deleted");
    else if (entry.phase === "recovering") this.finish(entry, "active");
    else if (entry.phase === "purging") this.finish(entry, "gone");
  }

  private find(name: string): StoredEntry | undefined {
    const entry = this.entries.get(name.toLowerCase());
    if (entry) this.settle(entry);
    return this.entries.get(name.toLowerCase());
  }

  private all(): SecretEntry[] {
    for (const e of [...this.entries.values()]) this.settle(e);
    return [...this.entries.values()].sort(byName);
  }
}
