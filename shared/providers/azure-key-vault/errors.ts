/**
 * Azure SDK errors mapped to ProviderError. The SDK's RestError carries the HTTP status, the
 * service's error code, the inner error code (in `details.error.innerError`) and the response
 * headers. Key Vault error messages name secrets and limits, never values, so they are kept. The
 * SDK error itself is not attached as `cause`: its request object holds the body sent, which for
 * SetSecret is the value.
 *
 *   429                                      Throttled, retryable, retryAfterMs from the headers
 *   5xx, network failures                    Unavailable, retryable
 *   404                                      NotFound
 *   409 ObjectIsDeletedButRecoverable        Deleted (recover or purge before writing)
 *   409 other (e.g. ObjectIsBeingDeleted)    Conflict, retryable: a background operation is running
 *   401, 403, credential failures            PermissionDenied
 *   400                                      Invalid
 *   408                                      Timeout, retryable
 */
import { ProviderError } from "../../errors/index.ts";
import type { ErrorCode } from "../../errors/index.ts";

interface AzureErrorShape {
  name?: string;
  message?: string;
  statusCode?: number;
  code?: string;
  details?: { error?: { innerError?: { code?: string } } };
  response?: { headers?: { get(name: string): string | undefined } };
}

export const statusOf = (err: unknown): number | undefined => (err as AzureErrorShape | null)?.statusCode;

/** Milliseconds to wait from `retry-after-ms`, `x-ms-retry-after-ms` or `retry-after` (seconds or a date). */
export function retryAfterMs(err: unknown): number | undefined {
  const headers = (err as AzureErrorShape | null)?.response?.headers;
  if (!headers) return undefined;
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const ms = Number(headers.get(name));
    if (headers.get(name) && Number.isFinite(ms) && ms >= 0) return ms;
  }
  const raw = headers.get("retry-after");
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** `what` names the operation and secret, e.g. `set secret "prod--db" (key "/prod/db")`. */
export function toProviderError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = (err ?? {}) as AzureErrorShape;
  const status = e.statusCode;
  const inner = e.details?.error?.innerError?.code;
  const detail = [status, e.code, inner].filter((x) => x !== undefined).join(" ");
  const message = `Azure Key Vault: ${what} failed${detail ? ` (${detail})` : ""}: ${e.message ?? String(err)}`;
  const make = (code: ErrorCode, retryable = false, after?: number) =>
    new ProviderError(code, message, retryable, after);

  if (e.name === "AbortError") return make("Timeout", true);
  if (e.name === "CredentialUnavailableError" || e.name === "AuthenticationError")
    return make("PermissionDenied");
  if (status === undefined) return make("Unavailable", true);
  if (status === 429) return make("Throttled", true, retryAfterMs(err));
  if (status >= 500) return make("Unavailable", true, retryAfterMs(err));
  if (status === 404) return make("NotFound");
  if (status === 409)
    return inner === "ObjectIsDeletedButRecoverable" ? make("Deleted") : make("Conflict", true);
  if (status === 401 || status === 403) return make("PermissionDenied");
  if (status === 408) return make("Timeout", true);
  return make("Invalid");
}
