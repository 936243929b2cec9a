/**
 * Local Azure Key Vault: the secrets part of the Key Vault data-plane REST API (api-version 7.0
 * to 7.6 and 2025-06-01/2025-07-01, which share the secrets wire format), served over HTTPS with a
 * CA made at start, and over plain HTTP on a second port for clients that do not need TLS.
 *
 * Authentication follows the service's challenge protocol: a request without a bearer token
 * gets 401 with `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
 * resource="https://vault.azure.net"`; Azure SDKs send their first request without a token on
 * purpose, read the challenge, then ask their credential for a token for
 * "https://vault.azure.net/.default". ANY bearer token is then accepted: its signature, audience
 * and expiry are NOT verified. This server is for tests and local runs only.
 *
 * SDKs check that the challenged resource matches the vault's host (*.vault.azure.net), which a
 * loopback address never does: clients turn that check off (JS `disableChallengeResourceVerification`,
 * Python `verify_challenge_resource=False`).
 *
 * Secret ids use the host the client called (`https://127.0.0.1:8443/secrets/<name>/<version>`).
 * Values are stored as given; the rules and error texts live in vault.ts.
 */
import type http from "node:http";
import { Faults, RequestCounter, listen, readBody, sendJson } from "../common/server.ts";
import type { Listening } from "../common/server.ts";
import { createLocalTls, writeCaPem } from "./tls.ts";
import { KeyVaultError, LocalKeyVault, RECOVERABLE_DAYS, RECOVERY_LEVEL, checkName } from "./vault.ts";
import type { SecretEntry, SecretVersion, SetInput, UpdateInput } from "./vault.ts";

export interface LocalAzureOptions {
  host?: string;
  /** HTTPS port: 8443 by default, 0 picks a free one (tests). */
  port?: number;
  /** Plain HTTP port: 8444 by default, or a free one when `port` is 0. */
  httpPort?: number;
  /** Where `local-ca.pem` is written (default `.pushsync/`). */
  caDir?: string;
  /** Tenant named in the 401 challenge. */
  tenantId?: string;
  /** How long deletion, recovery and purge run in the background (default 0: immediate). */
  transitionMs?: number;
}

export interface LocalAzure {
  /** HTTPS vault URL, e.g. https://127.0.0.1:8443 */
  url: string;
  /** Plain HTTP vault URL. */
  httpUrl: string;
  caCertPem: string;
  caPath: string;
  faults: Faults;
  /** Requests per operation (SetSecret, GetSecret, ...; "Unauthenticated" for challenged ones). */
  requests: RequestCounter;
  close(): Promise<void>;
}

export const LOCAL_TENANT_ID = "00000000-0000-0000-0000-000000000000";
const API_VERSIONS = new Set(["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-06-01", "2025-07-01"]);
const PAGE_SIZE = 25;
const FAULT_CODES: Record<number, string> = { 429: "Throttled", 503: "ServiceUnavailable" };

export async function startLocalAzure(options: LocalAzureOptions = {}): Promise<LocalAzure> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 8443;
  const httpPort = options.httpPort ?? (port === 0 ? 0 : 8444);
  const tenantId = options.tenantId ?? LOCAL_TENANT_ID;
  const tls = await createLocalTls();
  const caPath = await writeCaPem(options.caDir ?? ".pushsync", tls.caCertPem);
  const vault = new LocalKeyVault(options.transitionMs ?? 0);
  const faults = new Faults();
  const requests = new RequestCounter();

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res, { vault, faults, requests, tenantId }).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, new KeyVaultError(500, "InternalServerError", String(err)));
    });
  };
  const servers: Listening[] = [];
  try {
    servers.push(await listen(handler, { host, port, tls: { key: tls.key, cert: tls.cert } }));
    servers.push(await listen(handler, { host, port: httpPort }));
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
  const [https, plain] = servers as [Listening, Listening];
  return {
    url: https.url,
    httpUrl: plain.url,
    caCertPem: tls.caCertPem,
    caPath,
    faults,
    requests,
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}

interface Context {
  vault: LocalKeyVault;
  faults: Faults;
  requests: RequestCounter;
  tenantId: string;
}

interface Route {
  operation: string;
  name?: string;
  /** "" means the current version. */
  version?: string;
}

/** Maps method and path to an operation; undefined when the service has no such route. */
function route(method: string, segments: string[]): Route | undefined {
  const [collection, name, last, ...rest] = segments;
  if (rest.length > 0 || name === "") return undefined;
  if (collection === "secrets") {
    if (name === undefined) return method === "GET" ? { operation: "GetSecrets" } : undefined;
    if (last === undefined) {
      const op = { PUT: "SetSecret", GET: "GetSecret", PATCH: "UpdateSecret", DELETE: "DeleteSecret" }[
        method
      ];
      return op ? { operation: op, name, version: "" } : undefined;
    }
    if (last === "versions" && method === "GET") return { operation: "GetSecretVersions", name };
    const op = { GET: "GetSecret", PATCH: "UpdateSecret" }[method];
    return op ? { operation: op, name, version: last } : undefined;
  }
  if (collection === "deletedsecrets") {
    if (name === undefined) return method === "GET" ? { operation: "GetDeletedSecrets" } : undefined;
    if (last === "recover" && method === "POST") return { operation: "RecoverDeletedSecret", name };
    if (last !== undefined) return undefined;
    const op = { GET: "GetDeletedSecret", DELETE: "PurgeDeletedSecret" }[method];
    return op ? { operation: op, name } : undefined;
  }
  return undefined;
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, ctx: Context): Promise<void> {
  await ctx.faults.delay();
  const scheme = "encrypted" in req.socket ? "https" : "http";
  const url = new URL(req.url ?? "/", `${scheme}://${req.headers.host ?? "localhost"}`);
  const base = `${url.protocol}//${url.host}`;

  if (!/^Bearer \S+/i.test(req.headers.authorization ?? "")) {
    ctx.requests.add("Unauthenticated");
    req.resume();
    sendJson(
      res,
      401,
      { error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } },
      {
        "www-authenticate": `Bearer authorization="https://login.microsoftonline.com/${ctx.tenantId}", resource="https://vault.azure.net"`,
      },
    );
    return;
  }

  let segments: string[];
  try {
    segments = url.pathname.slice(1).split("/").map(decodeURIComponent);
  } catch {
    segments = [];
  }
  const r = route(req.method ?? "GET", segments);
  if (!r) {
    req.resume();
    sendError(res, new KeyVaultError(404, "NotFound", `No ${req.method} operation at ${url.pathname}.`));
    return;
  }
  ctx.requests.add(r.operation);

  const fault = ctx.faults.take(r.operation);
  if (fault) {
    req.resume();
    const retryAfter = fault.retryAfterSeconds ?? (fault.status === 429 ? 1 : undefined);
    const code = FAULT_CODES[fault.status] ?? "InternalServerError";
    sendJson(
      res,
      fault.status,
      { error: { code, message: `Injected ${fault.status} for ${r.operation}.` } },
      retryAfter !== undefined ? { "retry-after": String(retryAfter) } : {},
    );
    return;
  }

  try {
    const apiVersion = url.searchParams.get("api-version") ?? "";
    if (!API_VERSIONS.has(apiVersion))
      throw new KeyVaultError(
        400,
        "BadParameter",
        `The api-version '${apiVersion}' is missing or not supported.`,
      );
    if (r.name !== undefined) checkName(r.name);
    const body = await readJson(req);
    const { status, payload } = operate(ctx.vault, r, body, { base, url, apiVersion });
    if (status === 204) {
      res.writeHead(204).end();
    } else sendJson(res, status, payload);
  } catch (err) {
    if (err instanceof KeyVaultError) sendError(res, err);
    else throw err;
  }
}

interface RequestInfo {
  base: string;
  url: URL;
  apiVersion: string;
}

function operate(
  vault: LocalKeyVault,
  r: Route,
  body: Record<string, unknown>,
  info: RequestInfo,
): { status: number; payload?: unknown } {
  const { base } = info;
  const name = r.name ?? "";
  switch (r.operation) {
    case "SetSecret": {
      const { entry, version } = vault.set(name, setInput(body));
      return { status: 200, payload: bundle(base, entry, version, true) };
    }
    case "GetSecret": {
      const { entry, version } = vault.get(name, r.version);
      return { status: 200, payload: bundle(base, entry, version, true) };
    }
    case "UpdateSecret": {
      const { entry, version } = vault.update(name, r.version ?? "", updateInput(body));
      return { status: 200, payload: bundle(base, entry, version, false) };
    }
    case "DeleteSecret":
      return { status: 200, payload: deletedBundle(base, vault.delete(name)) };
    case "GetSecrets":
      return {
        status: 200,
        payload: page(
          info,
          vault.list(),
          (e) => e.name.toLowerCase(),
          (e) => item(base, e, current(e), false),
        ),
      };
    case "GetSecretVersions": {
      const entry = vault.versions(name);
      const versions = entry.versions.map((v, i) => ({ v, key: String(i).padStart(12, "0") }));
      return {
        status: 200,
        payload: page(
          info,
          versions,
          (x) => x.key,
          (x) => item(base, entry, x.v, true),
        ),
      };
    }
    case "GetDeletedSecrets":
      return {
        status: 200,
        payload: page(
          info,
          vault.listDeleted(),
          (e) => e.name.toLowerCase(),
          (e) => ({ ...item(base, e, current(e), false), ...deletedFields(base, e) }),
        ),
      };
    case "GetDeletedSecret":
      return { status: 200, payload: deletedBundle(base, vault.getDeleted(name)) };
    case "RecoverDeletedSecret": {
      const entry = vault.recover(name);
      return { status: 200, payload: bundle(base, entry, current(entry), false) };
    }
    case "PurgeDeletedSecret":
      vault.purge(name);
      return { status: 204 };
  }
  throw new KeyVaultError(404, "NotFound", `Unknown operation ${r.operation}.`);
}

// --- request bodies ---------------------------------------------------------------------------

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req, 1024 * 1024).catch(() => {
    throw new KeyVaultError(413, "RequestTooLarge", "The request body is larger than 1 MiB.");
  });
  if (raw.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(raw.toString("utf8"));
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new KeyVaultError(400, "BadParameter", "The request body is not a JSON object.");
}

const invalid = () => new KeyVaultError(400, "BadParameter", "Property has invalid value");

function updateInput(body: Record<string, unknown>): UpdateInput {
  const out: UpdateInput = {};
  if (body.contentType !== undefined && body.contentType !== null) {
    if (typeof body.contentType !== "string") throw invalid();
    out.contentType = body.contentType;
  }
  if (body.tags !== undefined && body.tags !== null) {
    if (typeof body.tags !== "object" || Array.isArray(body.tags)) throw invalid();
    const tags = body.tags as Record<string, unknown>;
    if (Object.values(tags).some((v) => typeof v !== "string")) throw invalid();
    out.tags = tags as Record<string, string>;
  }
  const attrs = body.attributes;
  if (attrs !== undefined && attrs !== null) {
    if (typeof attrs !== "object") throw invalid();
    const a = attrs as Record<string, unknown>;
    if (a.enabled !== undefined && a.enabled !== null) {
      if (typeof a.enabled !== "boolean") throw invalid();
      out.enabled = a.enabled;
    }
    for (const field of ["nbf", "exp"] as const) {
      const v = a[field];
      if (v === undefined || v === null) continue;
      if (typeof v !== "number" || !Number.isInteger(v)) throw invalid();
      out[field] = v;
    }
  }
  return out;
}

function setInput(body: Record<string, unknown>): SetInput {
  if (typeof body.value !== "string")
    throw new KeyVaultError(400, "BadParameter", "Property 'value' is required and must be a string.");
  return { ...updateInput(body), value: body.value };
}

// --- response bodies --------------------------------------------------------------------------

const current = (e: SecretEntry): SecretVersion => e.versions.at(-1)!;

function attributes(v: SecretVersion) {
  return {
    enabled: v.enabled,
    ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
    ...(v.exp !== undefined ? { exp: v.exp } : {}),
    created: v.created,
    updated: v.updated,
    recoveryLevel: RECOVERY_LEVEL,
    recoverableDays: RECOVERABLE_DAYS,
  };
}

function properties(v: SecretVersion) {
  return {
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    attributes: attributes(v),
    ...(v.tags !== undefined ? { tags: v.tags } : {}),
  };
}

/** SecretBundle; the value only where the service returns it (set and get). */
function bundle(base: string, e: SecretEntry, v: SecretVersion, withValue: boolean) {
  return {
    ...(withValue ? { value: v.value } : {}),
    id: `${base}/secrets/${e.name}/${v.version}`,
    ...properties(v),
  };
}

/** SecretItem: metadata only, never the value. */
function item(base: string, e: SecretEntry, v: SecretVersion, withVersion: boolean) {
  return { id: `${base}/secrets/${e.name}${withVersion ? `/${v.version}` : ""}`, ...properties(v) };
}

function deletedFields(base: string, e: SecretEntry) {
  return {
    recoveryId: `${base}/deletedsecrets/${e.name}`,
    deletedDate: e.deletedDate,
    scheduledPurgeDate: e.scheduledPurgeDate,
  };
}

function deletedBundle(base: string, e: SecretEntry) {
  return { ...deletedFields(base, e), ...bundle(base, e, current(e), false) };
}

/**
 * One page of a list: `maxresults` (1-25, default 25) items after the `$skiptoken` marker, and
 * `nextLink` (null on the last page) carrying the api-version, marker and page size.
 */
function page<T>(info: RequestInfo, items: T[], keyOf: (t: T) => string, render: (t: T) => unknown) {
  const rawMax = info.url.searchParams.get("maxresults");
  const max = rawMax === null ? PAGE_SIZE : Number(rawMax);
  if (!Number.isInteger(max) || max < 1 || max > PAGE_SIZE)
    throw new KeyVaultError(400, "BadParameter", `maxresults must be between 1 and ${PAGE_SIZE}.`);
  const token = info.url.searchParams.get("$skiptoken");
  const marker = token ? Buffer.from(token, "base64url").toString("utf8") : undefined;
  const rest = marker === undefined ? items : items.filter((t) => keyOf(t) > marker);
  const chunk = rest.slice(0, max);
  let nextLink: string | null = null;
  if (rest.length > max) {
    const skip = Buffer.from(keyOf(chunk.at(-1)!)).toString("base64url");
    nextLink = `${info.base}${info.url.pathname}?api-version=${info.apiVersion}&$skiptoken=${skip}&maxresults=${max}`;
  }
  return { value: chunk.map(render), nextLink };
}

function sendError(res: http.ServerResponse, err: KeyVaultError): void {
  sendJson(res, err.status, {
    error: {
      code: err.code,
      message: err.message,
      ...(err.innerCode ? { innererror: { code: err.innerCode } } : {}),
    },
  });
}
