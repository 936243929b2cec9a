/**
 * One Vault HTTP call on node-vault: TLS, timeout, namespace header, and the mapping of
 * every failure onto the typed Vault errors. Knows nothing of tokens' lifecycle or KV.
 */
import http from "node:http";
import https from "node:https";
import nodeVault from "node-vault";
import { redact } from "../observability/logger.ts";
import {
  VaultDeletedError,
  VaultInvalidError,
  VaultNotFoundError,
  VaultPermissionDeniedError,
  VaultUnavailableError,
  type KvVersionMetadata,
  type VaultError,
} from "./types.ts";

export interface VaultHttpOptions {
  address: string;
  namespace?: string;
  caBundle?: string;
  clientCert?: { cert: string; key: string };
  insecureSkipVerify?: boolean;
  timeoutMs: number;
}

export interface VaultCall {
  method: "GET" | "POST" | "DELETE";
  /** Below /v1/, without a leading slash; may carry a query string. */
  path: string;
  /** Omitted for logins. */
  token?: string;
  body?: Record<string, unknown>;
}

export class VaultHttp {
  private readonly client: ReturnType<typeof nodeVault>;
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent: https.Agent;

  constructor(private readonly options: VaultHttpOptions) {
    // node-vault would otherwise take token, path prefix and namespace from the environment;
    // here they come from the options only. Its debug output can print request bodies
    // (login credentials), so it is switched off.
    this.client = nodeVault({ endpoint: options.address, debug: () => undefined });
    Object.assign(this.client, { token: "", pathPrefix: "", namespace: options.namespace });
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      rejectUnauthorized: options.insecureSkipVerify !== true,
      ...(options.caBundle !== undefined ? { ca: options.caBundle } : {}),
      ...(options.clientCert ?? {}),
    });
  }

  /** Returns the parsed body of a 2xx answer; throws a VaultError otherwise. */
  async call(req: VaultCall): Promise<unknown> {
    const what = `${req.method} ${req.path.split("?")[0]}`;
    try {
      return await this.client.request({
        method: req.method,
        path: `/${req.path}`,
        headers: req.token !== undefined ? { "X-Vault-Token": req.token } : {},
        ...(req.body !== undefined ? { json: req.body } : {}),
        timeout: this.options.timeoutMs,
        httpAgent: this.httpAgent,
        httpsAgent: this.httpsAgent,
      });
    } catch (err) {
      throw toVaultError(err, what, this.options.timeoutMs);
    }
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/**
 * node-vault rejects with `{ response: { statusCode, body } }` for a non-2xx answer and
 * with the underlying axios error (which holds the request headers, token included) for
 * transport failures. Neither is kept as a cause: only status, code and path survive.
 */
function toVaultError(err: unknown, what: string, timeoutMs: number): VaultError {
  const response = (err as { response?: { statusCode?: unknown; body?: unknown } }).response;
  if (typeof response?.statusCode === "number") return statusError(response.statusCode, response.body, what);
  const code = String((err as { code?: unknown }).code ?? "no code");
  if (code === "ECONNABORTED" || code === "ETIMEDOUT") {
    return new VaultUnavailableError(`Vault ${what}: no answer within ${timeoutMs} ms`);
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_SSL|ERR_TLS/.test(code)) {
    return new VaultInvalidError(`Vault ${what}: TLS handshake failed (${code})`);
  }
  return new VaultUnavailableError(`Vault ${what}: request failed (${code})`);
}

function statusError(status: number, body: unknown, what: string): VaultError {
  const head = `Vault ${what}: HTTP ${status}`;
  const reason = reasonOf(body);
  if (status === 404) {
    const deleted = deletedVersion(body);
    if (deleted) {
      const state = deleted.destroyed ? "destroyed" : "deleted";
      return new VaultDeletedError(`${head}: version ${deleted.version} is ${state}`, deleted);
    }
    // A missing secret is a bare 404. One with a reason ("no handler for route", "Invalid
    // path for a versioned K/V secrets engine") means a wrong mount or KV version: reporting
    // that as NotFound could make a caller act as if the secret had been removed.
    return reason === "" ? new VaultNotFoundError(head) : new VaultInvalidError(head + reason);
  }
  if (status === 403) return new VaultPermissionDeniedError(head + reason);
  // 412: a performance standby has not caught up yet; 429: rate limited; 5xx incl. 503 sealed.
  if (status >= 500 || status === 429 || status === 412) return new VaultUnavailableError(head + reason);
  return new VaultInvalidError(head + reason);
}

/** KV v2 answers a read of a deleted or destroyed version with 404 and the version's metadata. */
function deletedVersion(body: unknown): KvVersionMetadata | undefined {
  const meta = (body as { data?: { metadata?: Record<string, unknown> } } | undefined)?.data?.metadata;
  if (!meta) return undefined;
  const deletionTime = typeof meta.deletion_time === "string" ? meta.deletion_time : "";
  const destroyed = meta.destroyed === true;
  if (deletionTime === "" && !destroyed) return undefined;
  return {
    version: Number(meta.version ?? 0),
    createdTime: typeof meta.created_time === "string" ? meta.created_time : "",
    deletionTime,
    destroyed,
  };
}

/** Vault's errors ("permission denied", "Vault is sealed") or else its warnings, shortened. */
function reasonOf(body: unknown): string {
  const { errors, warnings } = (body ?? {}) as { errors?: unknown; warnings?: unknown };
  const messages = [errors, warnings].find((m): m is unknown[] => Array.isArray(m) && m.length > 0) ?? [];
  const text = messages
    .flatMap((e) =>
      String(e)
        .replace(/^\s*\d+ errors? occurred:/, "")
        .split(/\n\s*\*\s*/),
    )
    .map((part) => part.replace(/\s+/g, " ").trim())
    .filter((part) => part !== "")
    .join("; ");
  return text === "" ? "" : ` (${redact(text.slice(0, 200))})`;
}
