/** Plain HTTP calls to a local Vault, as any client would make them. */
import type { LocalVault } from "../../infra/local/vault/index.ts";

/** A parsed Vault response body; tests read it field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonBody = any;

export interface ApiReply {
  status: number;
  headers: Headers;
  body: JsonBody;
}

export async function api(
  vault: LocalVault,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiReply> {
  const res = await fetch(`${vault.url}/v1/${path}`, {
    method,
    headers: {
      "X-Vault-Token": vault.rootToken,
      ...(method === "PATCH" ? { "Content-Type": "application/merge-patch+json" } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === "" ? undefined : JSON.parse(text) };
}

/** An unsigned JWT with these claims (the local Vault checks claims, not signatures). */
export function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.c2lnbmF0dXJl`;
}

export { until } from "../support/until.ts";

export const ENVELOPE_KEYS = [
  "request_id",
  "lease_id",
  "renewable",
  "lease_duration",
  "data",
  "wrap_info",
  "warnings",
  "auth",
  "mount_type",
];
