/**
 * Typed errors shared by providers, the Vault source and the engine. Messages name keys,
 * paths, fields and limits, never values.
 */
export type ErrorCode =
  | "NotFound"
  | "Deleted"
  | "NotOwned"
  | "PermissionDenied"
  | "Throttled"
  | "Unavailable"
  | "InvalidName"
  | "TooLarge"
  | "Conflict"
  | "Invalid"
  | "Timeout";

export class PushsyncError extends Error {
  override name = "PushsyncError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryable = false,
    /** Server-suggested wait before retrying (Retry-After), in milliseconds. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A secret store (AWS, GCP, Azure) failed. */
export class ProviderError extends PushsyncError {
  override name = "ProviderError";
}

export function isRetryable(err: unknown): boolean {
  return err instanceof PushsyncError && err.retryable;
}
