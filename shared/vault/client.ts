/**
 * The Vault source: KV v1 and v2 reads, metadata and listing over node-vault, with a token
 * session (login, renewal, 403 re-login) and typed errors.
 */
import { silentLogger, type Logger } from "../observability/logger.ts";
import { trimSlashes, type VaultAuth } from "./auth/types.ts";
import { VaultHttp } from "./http.ts";
import { TokenSession } from "./session.ts";
import {
  VaultInvalidError,
  VaultNotFoundError,
  VaultPermissionDeniedError,
  type KvLocation,
  type KvMetadata,
  type KvSecret,
  type KvVersionMetadata,
  type VaultSource,
} from "./types.ts";

export interface VaultSourceOptions {
  /** e.g. "https://vault.example.com:8200" */
  address: string;
  /** Vault Enterprise namespace, sent as X-Vault-Namespace. */
  namespace?: string;
  auth: VaultAuth;
  /** PEM certificates trusted for the server, instead of the system's. */
  caBundle?: string;
  /** PEM client certificate and key, for Vault listeners that require one. */
  clientCert?: { cert: string; key: string };
  /** Turns TLS verification off (logged as a warning). */
  insecureSkipVerify?: boolean;
  /** Per call; default 10 s. */
  timeoutMs?: number;
  /** KV version per mount when known (a SecretStore's `version`); others are asked from Vault once. */
  kvVersions?: Record<string, 1 | 2>;
  logger?: Logger;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
/** Listing calls in flight at once during a recursive list. */
const LIST_CONCURRENCY = 8;

export function createVaultSource(options: VaultSourceOptions): VaultSource {
  const logger = (options.logger ?? silentLogger).child({ vault: options.address });
  if (options.insecureSkipVerify) {
    logger.warn("TLS verification of the Vault server is turned off", { address: options.address });
  }
  const http = new VaultHttp({ ...options, timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  const session = new TokenSession(options.auth, http, logger);
  const get = (path: string): Promise<unknown> =>
    session.run((token) => http.call({ method: "GET", path, token }));

  const versions = new Map<string, Promise<1 | 2>>();
  for (const [mount, version] of Object.entries(options.kvVersions ?? {})) {
    versions.set(trimSlashes(mount), Promise.resolve(version));
  }

  /**
   * Asks sys/internal/ui/mounts/<mount>, as the Vault CLI does before `vault kv`: unlike
   * sys/mounts, Vault lets any token with access below the mount read it.
   */
  async function mountVersion(mount: string): Promise<1 | 2> {
    let body: unknown;
    try {
      body = await get(`sys/internal/ui/mounts/${encodePath(mount)}`);
    } catch (err) {
      if (!(err instanceof VaultPermissionDeniedError)) throw err;
      throw new VaultPermissionDeniedError(
        `Vault mount ${mount}: no such mount, or the token may not use it (sys/internal/ui/mounts answered 403)`,
      );
    }
    const info = (dataField(body) ?? {}) as {
      type?: unknown;
      path?: unknown;
      options?: { version?: unknown } | null;
    };
    if (info.path !== `${mount}/`) {
      throw new VaultInvalidError(`Vault mount ${mount}: not a mount path (it lies in ${String(info.path)})`);
    }
    if (info.type !== "kv" && info.type !== "generic") {
      throw new VaultInvalidError(`Vault mount ${mount} is a ${String(info.type)} engine, not KV`);
    }
    return String(info.options?.version ?? "1") === "2" ? 2 : 1;
  }

  async function kvVersion(mount: string): Promise<1 | 2> {
    const key = trimSlashes(mount);
    let known = versions.get(key);
    if (!known) {
      known = mountVersion(key);
      versions.set(key, known);
      known.catch(() => versions.delete(key));
    }
    return known;
  }

  async function listLevel(loc: KvLocation): Promise<string[]> {
    const version = await kvVersion(loc.mount);
    const folder = trimSlashes(
      version === 2 ? `${loc.mount}/metadata/${loc.path}` : `${loc.mount}/${loc.path}`,
    );
    try {
      const body = await get(`${encodePath(folder)}/?list=true`);
      const keys = (dataField(body) as { keys?: unknown } | undefined)?.keys;
      return Array.isArray(keys) ? keys.map(String) : [];
    } catch (err) {
      // Vault answers 404 for a folder with nothing below it.
      if (err instanceof VaultNotFoundError) return [];
      throw err;
    }
  }

  /** Full paths of every secret below `base`, listing up to LIST_CONCURRENCY folders at once. */
  function listRecursive(base: KvLocation): Promise<string[]> {
    const secrets: string[] = [];
    const folders = [base.path];
    let active = 0;
    let failed = false;
    return new Promise((resolve, reject) => {
      const pump = (): void => {
        while (!failed && active < LIST_CONCURRENCY && folders.length > 0) {
          const folder = folders.pop()!;
          active += 1;
          listLevel({ mount: base.mount, path: folder }).then(
            (keys) => {
              active -= 1;
              for (const key of keys) {
                const full = folder === "" ? key : `${folder}/${key}`;
                if (key.endsWith("/")) folders.push(full.slice(0, -1));
                else secrets.push(full);
              }
              if (active === 0 && folders.length === 0) resolve(secrets.sort());
              else pump();
            },
            (err: unknown) => {
              failed = true;
              reject(err);
            },
          );
        }
      };
      pump();
    });
  }

  return {
    kvVersion,

    async read(location, readOptions = {}) {
      const loc = secretLocation(location);
      const version = await kvVersion(loc.mount);
      if (version === 1) {
        if (readOptions.version !== undefined) {
          throw new VaultInvalidError(`Vault ${loc.mount}/${loc.path}: KV v1 has no versions`);
        }
        const body = await get(encodePath(`${loc.mount}/${loc.path}`));
        return { mount: loc.mount, path: loc.path, version: 0, data: dataOf(body, loc) };
      }
      const wanted = readOptions.version;
      if (wanted !== undefined && !(Number.isInteger(wanted) && wanted > 0)) {
        throw new VaultInvalidError(`Vault ${loc.mount}/${loc.path}: version must be a positive integer`);
      }
      const query = wanted !== undefined ? `?version=${wanted}` : "";
      const body = await get(`${encodePath(`${loc.mount}/data/${loc.path}`)}${query}`);
      const outer = dataField(body) as { data?: unknown; metadata?: Record<string, unknown> } | undefined;
      const meta = outer?.metadata ?? {};
      return {
        mount: loc.mount,
        path: loc.path,
        version: Number(meta.version ?? 0),
        data: dataOf(outer, loc),
        createdTime: stringOf(meta.created_time),
        customMetadata: stringMap(meta.custom_metadata),
      } satisfies KvSecret;
    },

    async readMetadata(location) {
      const loc = secretLocation(location);
      if ((await kvVersion(loc.mount)) !== 2) {
        throw new VaultInvalidError(`Vault ${loc.mount}/${loc.path}: metadata exists for KV v2 only`);
      }
      const body = await get(encodePath(`${loc.mount}/metadata/${loc.path}`));
      const m = (dataField(body) ?? {}) as Record<string, unknown>;
      const versionsOut: Record<string, KvVersionMetadata> = {};
      for (const [n, v] of Object.entries((m.versions ?? {}) as Record<string, Record<string, unknown>>)) {
        versionsOut[n] = {
          version: Number(n),
          createdTime: stringOf(v.created_time),
          deletionTime: stringOf(v.deletion_time),
          destroyed: v.destroyed === true,
        };
      }
      return {
        mount: loc.mount,
        path: loc.path,
        currentVersion: Number(m.current_version ?? 0),
        oldestVersion: Number(m.oldest_version ?? 0),
        createdTime: stringOf(m.created_time),
        updatedTime: stringOf(m.updated_time),
        maxVersions: Number(m.max_versions ?? 0),
        casRequired: m.cas_required === true,
        customMetadata: stringMap(m.custom_metadata),
        versions: versionsOut,
      } satisfies KvMetadata;
    },

    async list(location, listOptions = {}) {
      const base = normalize(location);
      return listOptions.recursive ? listRecursive(base) : listLevel(base);
    },

    async close() {
      session.close();
      http.close();
    },
  };
}

function normalize(loc: KvLocation): KvLocation {
  const mount = trimSlashes(loc.mount);
  if (mount === "") throw new VaultInvalidError("Vault location has an empty mount");
  return { mount, path: trimSlashes(loc.path) };
}

/** A secret's location: as `normalize`, and the path must name something. */
function secretLocation(loc: KvLocation): KvLocation {
  const out = normalize(loc);
  if (out.path === "") throw new VaultInvalidError(`Vault location in mount ${out.mount} has an empty path`);
  return out;
}

/** Percent-encodes each segment, keeping the slashes. */
function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** The `data` of a Vault answer (every answer is `{ data, ... }`); undefined when absent. */
function dataField(body: unknown): unknown {
  return (body as { data?: unknown } | null | undefined)?.data;
}

function dataOf(container: unknown, loc: KvLocation): Record<string, unknown> {
  const data = dataField(container);
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new VaultInvalidError(`Vault ${loc.mount}/${loc.path}: the answer carries no data object`);
  }
  return data as Record<string, unknown>;
}

function stringOf(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function stringMap(v: unknown): Record<string, string> {
  if (v === null || typeof v !== "object") return {};
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
}
