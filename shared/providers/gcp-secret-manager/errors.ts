/**
 * Secret Manager client errors mapped to ProviderError.
 *
 * Over gRPC `err.code` is a gRPC status code (0-16). Over REST the client derives it from the
 * body's `status`, but falls back to the HTTP status number when the body has none, so both
 * forms are read here. RESOURCE_EXHAUSTED (429), INTERNAL (500), UNAVAILABLE (503), UNKNOWN,
 * DEADLINE_EXCEEDED (504) and ABORTED are retryable; a RetryInfo detail becomes retryAfterMs.
 * Messages name the operation, key and status, and carry Google's message, which names resources
 * and rules but never a payload.
 */
import { type ErrorCode, ProviderError } from "../../errors/index.ts";

export const Grpc = {
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const fromHttp: Record<number, number> = {
  400: Grpc.INVALID_ARGUMENT,
  401: Grpc.UNAUTHENTICATED,
  403: Grpc.PERMISSION_DENIED,
  404: Grpc.NOT_FOUND,
  409: Grpc.ABORTED,
  429: Grpc.RESOURCE_EXHAUSTED,
  500: Grpc.INTERNAL,
  501: Grpc.UNIMPLEMENTED,
  503: Grpc.UNAVAILABLE,
  504: Grpc.DEADLINE_EXCEEDED,
};

const mapping: Record<number, [ErrorCode, boolean]> = {
  [Grpc.UNKNOWN]: ["Unavailable", true],
  [Grpc.INVALID_ARGUMENT]: ["Invalid", false],
  [Grpc.DEADLINE_EXCEEDED]: ["Timeout", true],
  [Grpc.NOT_FOUND]: ["NotFound", false],
  [Grpc.ALREADY_EXISTS]: ["Conflict", false],
  [Grpc.PERMISSION_DENIED]: ["PermissionDenied", false],
  [Grpc.UNAUTHENTICATED]: ["PermissionDenied", false],
  [Grpc.RESOURCE_EXHAUSTED]: ["Throttled", true],
  // Secret Manager answers a stale etag with FAILED_PRECONDITION, and so a read of a disabled or
  // destroyed version: both mean the secret is not in the state the caller expected.
  [Grpc.FAILED_PRECONDITION]: ["Conflict", false],
  [Grpc.ABORTED]: ["Conflict", true],
  [Grpc.OUT_OF_RANGE]: ["Invalid", false],
  [Grpc.UNIMPLEMENTED]: ["Invalid", false],
  [Grpc.INTERNAL]: ["Unavailable", true],
  [Grpc.UNAVAILABLE]: ["Unavailable", true],
  [Grpc.DATA_LOSS]: ["Unavailable", true],
};

const statusName = Object.fromEntries(Object.entries(Grpc).map(([name, code]) => [code, name]));

/** The gRPC status code of a client error, whichever transport produced it. */
export function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "number") return undefined;
  return code >= 100 ? fromHttp[code] : code;
}

/** Seconds from a google.rpc.RetryInfo detail, as the client decodes it (Duration with Long seconds). */
function retryAfterMs(err: unknown): number | undefined {
  const details = (err as { statusDetails?: unknown }).statusDetails;
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    const delay = (d as { retryDelay?: { seconds?: unknown; nanos?: unknown } }).retryDelay;
    if (delay) return Number(delay.seconds ?? 0) * 1000 + Math.round(Number(delay.nanos ?? 0) / 1e6);
  }
  return undefined;
}

/** Maps any error from the client to a ProviderError naming the operation and key. */
export function toProviderError(err: unknown, operation: string, key: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const code = grpcCode(err);
  // No status at all: the request never got an answer (connection refused, reset, DNS).
  const [errorCode, retryable] =
    code === undefined ? (["Unavailable", true] as const) : (mapping[code] ?? ["Unavailable", true]);
  const status = code === undefined ? "no response" : (statusName[code] ?? `code ${code}`);
  const detail = err instanceof Error ? `: ${err.message.slice(0, 300)}` : "";
  return new ProviderError(
    errorCode,
    `GCP Secret Manager ${operation} for key '${key}' failed (${status})${detail}`,
    retryable,
    retryable ? retryAfterMs(err) : undefined,
    { cause: err },
  );
}

/** True when `err` is a ProviderError made from a client error with this gRPC status. */
export function hasStatus(err: unknown, status: number): boolean {
  return err instanceof ProviderError && grpcCode(err.cause) === status;
}

/** A stale etag: the secret changed between pushsync's read and its write. A retry reads it again. */
export function etagConflict(key: string, during: string, cause: unknown): ProviderError {
  return new ProviderError(
    "Conflict",
    `GCP key '${key}': the secret changed ${during} (etag)`,
    true,
    undefined,
    {
      cause,
    },
  );
}
