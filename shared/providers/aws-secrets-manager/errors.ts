/**
 * AWS SDK errors → ProviderError. Messages name the operation, the secret and AWS's error
 * code. AWS's own message is added for service errors only (it never carries a secret value);
 * client-side errors (parsing, network) contribute their name and code, never their text, and
 * only service and network errors are kept as the cause.
 */
import { ProviderError, type ErrorCode } from "../../errors/index.ts";

const THROTTLED = new Set([
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "RequestThrottled",
]);
const UNAVAILABLE = new Set([
  "InternalServiceError",
  "InternalFailure",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
]);
const DENIED = new Set([
  "AccessDeniedException",
  "AccessDenied",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "ExpiredToken",
  "ExpiredTokenException",
  "InvalidSignatureException",
  "SignatureDoesNotMatch",
  "CredentialsProviderError",
]);
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);
const SCHEDULED_FOR_DELETION = /(marked|scheduled) for deletion/i;
const MAX_AWS_MESSAGE = 300;

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $fault?: "client" | "server";
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

/** Retry-After in milliseconds (seconds or an HTTP date), if the response had one. */
function retryAfterMs(err: SdkError): number | undefined {
  const raw = err.$response?.headers?.["retry-after"];
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Classifies an AWS error code (from an exception or a BatchGetSecretValue Errors entry). */
export function classify(
  awsCode: string,
  awsMessage = "",
  status?: number,
): { code: ErrorCode; retryable: boolean } {
  if (THROTTLED.has(awsCode) || status === 429) return { code: "Throttled", retryable: true };
  if (UNAVAILABLE.has(awsCode) || NETWORK.has(awsCode) || (status !== undefined && status >= 500))
    return { code: "Unavailable", retryable: true };
  if (awsCode === "ResourceNotFoundException") return { code: "NotFound", retryable: false };
  if (DENIED.has(awsCode)) return { code: "PermissionDenied", retryable: false };
  if (awsCode === "ResourceExistsException") return { code: "Conflict", retryable: false };
  if (awsCode === "InvalidRequestException" && SCHEDULED_FOR_DELETION.test(awsMessage))
    return { code: "Deleted", retryable: false };
  return { code: "Invalid", retryable: false };
}

/** `subject` names the secret (or what a list call was about). */
export function toProviderError(err: unknown, operation: string, subject: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as SdkError;
  const isServiceError = e.$fault !== undefined && e.$metadata !== undefined;
  const awsCode = (e.code && NETWORK.has(e.code) ? e.code : e.name) ?? "UnknownError";
  const awsMessage = isServiceError ? (e.message ?? "") : "";
  const { code, retryable } = classify(awsCode, awsMessage, e.$metadata?.httpStatusCode);
  const detail = awsMessage ? `: ${awsMessage.slice(0, MAX_AWS_MESSAGE)}` : "";
  return new ProviderError(
    code,
    `AWS Secrets Manager ${operation} on ${subject} failed with ${awsCode}${detail}`,
    retryable,
    code === "Throttled" ? retryAfterMs(e) : undefined,
    // Other errors may quote a response body in their text, so they are not kept.
    isServiceError || NETWORK.has(awsCode) ? { cause: err } : undefined,
  );
}
