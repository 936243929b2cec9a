/**
 * The shapes the local Vault is built from: namespaces hold mounts, a mount holds a backend,
 * a backend routes a request to a handler.
 */
import type { Token } from "./tokens.ts";
import type { Json, Operation, Result } from "./wire.ts";

export interface Namespace {
  /** "root" for the root namespace, 5 random characters otherwise (as in Vault Enterprise). */
  id: string;
  /** "" for root, "team-a/" or "team-a/app/" below it. */
  path: string;
  parent?: Namespace;
  children: Map<string, Namespace>;
  /** Secret engines by path ("secret/"). */
  mounts: Map<string, Mount>;
  /** Auth methods by path without "auth/" ("approle/"). */
  authMounts: Map<string, Mount>;
}

export interface Mount {
  /** "secret/", or "approle/" for an auth method (shown as "auth/approle/" in audit entries). */
  path: string;
  /** Plugin: "kv", "approle", "kubernetes", "jwt", "token", "system". */
  type: string;
  mountClass: "secret" | "auth";
  accessor: string;
  uuid: string;
  description: string;
  options: Record<string, string> | null;
  runningVersion: string;
  backend: Backend;
}

export interface Backend {
  /** Picks the handler for an operation on a path inside the mount; throws VaultApiError if none. */
  route(operation: Operation, subPath: string): Handler;
}

export interface Handler {
  /** Operation name for request counts and injected faults, e.g. "kv2.write". */
  name: string;
  /** Served without a token (logins). */
  unauthenticated?: boolean;
  /** Server status (sys/health, sys/seal-status): answered while sealed, without a token, not audited. */
  status?: boolean;
  /** For writes: whether the target exists, which makes the operation "update" rather than "create". */
  exists?: () => boolean;
  run(ctx: RequestContext): Result | Promise<Result>;
}

export interface RequestContext {
  requestId: string;
  operation: Operation;
  ns: Namespace;
  /** Path inside the namespace, e.g. "secret/data/app/db". */
  path: string;
  data: Json;
  /** The calling token; absent on unauthenticated paths. */
  token?: Token;
  /** Publishes a plugin event; paths in `metadata` are relative to the mount, as plugins send them. */
  emit(eventType: string, metadata: Record<string, string>): void;
}
