/**
 * The Vault source as the rest of pushsync sees it. Implemented with node-vault in client.ts.
 */
import { PushsyncError } from "../errors/index.ts";

export interface KvVersionMetadata {
  version: number;
  createdTime: string;
  /** Empty string when not deleted. */
  deletionTime: string;
  destroyed: boolean;
}

export interface KvMetadata {
  mount: string;
  path: string;
  currentVersion: number;
  oldestVersion: number;
  createdTime: string;
  updatedTime: string;
  maxVersions: number;
  casRequired: boolean;
  customMetadata: Record<string, string>;
  versions: Record<string, KvVersionMetadata>;
}

export interface KvSecret {
  mount: string;
  path: string;
  /** 0 for KV v1. */
  version: number;
  data: Record<string, unknown>;
  createdTime?: string;
  customMetadata?: Record<string, string>;
}

/** A secret's location: KV mount and the path inside it (no "data/" segment). */
export interface KvLocation {
  mount: string;
  path: string;
}

export interface VaultSource {
  /** KV engine version of a mount (from the store's `version`, or asked from Vault once). */
  kvVersion(mount: string): Promise<1 | 2>;
  read(loc: KvLocation, options?: { version?: number }): Promise<KvSecret>;
  /** KV v2 only. */
  readMetadata(loc: KvLocation): Promise<KvMetadata>;
  /** Keys below a path; with `recursive`, full paths of every secret below it. */
  list(loc: KvLocation, options?: { recursive?: boolean }): Promise<string[]>;
  close(): Promise<void>;
}

export class VaultError extends PushsyncError {
  override name = "VaultError";
}
export class VaultNotFoundError extends VaultError {
  override name = "VaultNotFoundError";
  constructor(message: string) {
    super("NotFound", message);
  }
}
/** The requested version is soft-deleted or destroyed. */
export class VaultDeletedError extends VaultError {
  override name = "VaultDeletedError";
  constructor(
    message: string,
    readonly metadata: KvVersionMetadata,
  ) {
    super("Deleted", message);
  }
}
export class VaultPermissionDeniedError extends VaultError {
  override name = "VaultPermissionDeniedError";
  constructor(message: string) {
    super("PermissionDenied", message);
  }
}
/** Sealed, standby without forwarding, 5xx, timeout: retryable. */
export class VaultUnavailableError extends VaultError {
  override name = "VaultUnavailableError";
  constructor(message: string, retryAfterMs?: number) {
    super("Unavailable", message, true, retryAfterMs);
  }
}
export class VaultInvalidError extends VaultError {
  override name = "VaultInvalidError";
  constructor(message: string) {
    super("Invalid", message);
  }
}
