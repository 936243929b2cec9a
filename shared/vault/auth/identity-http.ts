import { PushsyncError } from "../../errors/index.ts";

/**
 * One call to a platform identity endpoint (Google's metadata server and IAM Credentials API,
 * Azure's IMDS and App Service identity endpoint). Returns the body text. Errors name the
 * endpoint and the status, never the body, which may hold a token: network errors, timeouts,
 * 429 and 5xx are retryable ("Unavailable"), 401 and 403 are "PermissionDenied", others "Invalid".
 */
export interface IdentityRequest {
  /** The endpoint as errors name it, e.g. "gcp auth: the metadata server (/token)". */
  what: string;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** A response header (lower-case name) that must have this value. */
  expectHeader?: [string, string];
  /** Added to the message of a 401 or 403 answer. */
  deniedHint?: string;
  /** Default 10 s. */
  timeoutMs?: number;
}

export async function fetchIdentity(url: string, req: IdentityRequest): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: req.method ?? "GET",
      headers: req.headers ?? {},
      ...(req.body !== undefined ? { body: req.body } : {}),
      redirect: "error",
      signal: AbortSignal.timeout(req.timeoutMs ?? 10_000),
    });
  } catch (err) {
    const why = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : "";
    throw new PushsyncError("Unavailable", `${req.what}: unreachable (${why || "network error"})`, true);
  }
  const text = await res.text();
  if (res.status === 429 || res.status >= 500)
    throw new PushsyncError("Unavailable", `${req.what}: answered ${res.status}`, true);
  if (res.status === 401 || res.status === 403) {
    const hint = req.deniedHint ? `; ${req.deniedHint}` : "";
    throw new PushsyncError("PermissionDenied", `${req.what}: answered ${res.status}${hint}`);
  }
  if (res.status !== 200) throw new PushsyncError("Invalid", `${req.what}: answered ${res.status}`);
  if (req.expectHeader && res.headers.get(req.expectHeader[0]) !== req.expectHeader[1]) {
    throw new PushsyncError(
      "Invalid",
      `${req.what}: the answer lacks ${req.expectHeader[0]}: ${req.expectHeader[1]}`,
    );
  }
  return text;
}

/** fetchIdentity for endpoints answering a JSON object. */
export async function fetchIdentityJson(url: string, req: IdentityRequest): Promise<Record<string, unknown>> {
  const text = await fetchIdentity(url, req);
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new PushsyncError("Invalid", `${req.what}: the answer is not a JSON object`);
}

/** A string field of an identity endpoint's answer, or an error naming the field. */
export function stringField(answer: Record<string, unknown>, field: string, what: string): string {
  const value = answer[field];
  if (typeof value !== "string" || value === "")
    throw new PushsyncError("Invalid", `${what}: the answer has no ${field}`);
  return value;
}
