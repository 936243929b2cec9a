/**
 * Where a manifest's Vault key points: the KV mount and the path inside it.
 *
 * With a store whose `path` (its KV mount) is "secret", KV v2, all of these mean
 * mount "secret", path "prod/database":
 *   prod/database   secret/prod/database   secret/data/prod/database   /secret/data/prod/database
 * The mount may have several segments ("kv/team-a"); a trailing "/data" on a v2 store's path
 * is ignored, as ESO does. KV v1 has no "data/" segment, so "secret/data/x" is path "data/x".
 * Without a store path, the first segment of the key is the mount.
 */
import { PushsyncError } from "../errors/index.ts";
import type { KvLocation } from "../vault/types.ts";
import type { SecretStore, VaultProvider } from "./secret-store.ts";

export function normalizeVaultPath(store: SecretStore | VaultProvider, key: string): KvLocation {
  const vault = "spec" in store ? store.spec.provider.vault : store;
  if (!vault)
    throw new PushsyncError("Invalid", `store ${(store as SecretStore).metadata.name} is not a Vault store`);
  const v2 = vault.version !== "v1";
  const segments = splitPath(key, "key");
  let mount: string[];
  if (vault.path !== undefined && vault.path.replace(/^\/+|\/+$/g, "") !== "") {
    mount = splitPath(vault.path, "store path");
    if (v2 && mount.length > 1 && mount[mount.length - 1] === "data") mount.pop();
    // A key that does not start with the mount is a path inside it, taken literally.
    if (!startsWith(segments, mount)) return finish(mount, segments, key);
    segments.splice(0, mount.length);
  } else {
    mount = segments.splice(0, 1);
  }
  if (v2 && segments[0] === "data") segments.shift();
  return finish(mount, segments, key);
}

function finish(mount: string[], path: string[], key: string): KvLocation {
  if (path.length === 0) {
    throw new PushsyncError(
      "InvalidName",
      `Vault key "${key}" names the mount ${mount.join("/")}, not a secret in it`,
    );
  }
  return { mount: mount.join("/"), path: path.join("/") };
}

function splitPath(text: string, what: string): string[] {
  const segments = text.replace(/^\/+|\/+$/g, "").split("/");
  for (const s of segments) {
    if (s === "" || s === "." || s === "..") {
      throw new PushsyncError("InvalidName", `Vault ${what} "${text}" has an empty, "." or ".." segment`);
    }
  }
  return segments;
}

function startsWith(segments: string[], prefix: string[]): boolean {
  return segments.length >= prefix.length && prefix.every((p, i) => segments[i] === p);
}
