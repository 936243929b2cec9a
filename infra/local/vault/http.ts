/**
 * HTTP in front of the Vault core: methods and query strings to operations and data, JSON
 * bodies, tokens from X-Vault-Token or Authorization: Bearer, replies with Vault's headers.
 *
 * Node's HTTP parser refuses the LIST method that Vault clients send (hvac, curl examples);
 * such requests reach the server's `clientError` event with their raw bytes. `serveList` answers
 * them from there, through the same pipeline, and closes the connection afterwards.
 */
import http from "node:http";
import type { Duplex } from "node:stream";
import type { InjectedFault } from "../common/server.ts";
import { errorReply, type VaultReply, type VaultRequest } from "./core.ts";
import { isObject, VaultApiError, type Json, type Operation } from "./wire.ts";

/** Vault's default max_request_size. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** What the pipeline needs from an HTTP request, however it was parsed. */
export interface HttpInput {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body(): Promise<Buffer>;
  remoteAddress?: string;
  remotePort?: number;
}

/** HTTP method and query string → Vault operation. */
export function toOperation(method: string, query: URLSearchParams): Operation {
  switch (method) {
    case "GET":
    case "HEAD":
      return ["true", "1"].includes(query.get("list") ?? "") ? "list" : "read";
    case "LIST":
      return "list";
    case "POST":
    case "PUT":
      return "update";
    case "DELETE":
      return "delete";
    case "PATCH":
      return "patch";
    default:
      throw new VaultApiError(405, []);
  }
}

/** Query parameters as request data, the way Vault reads them for GET, LIST and DELETE. */
export function queryData(query: URLSearchParams): Json {
  const data: Json = {};
  for (const key of new Set(query.keys())) {
    if (key === "list") continue;
    const all = query.getAll(key);
    data[key] = all.length === 1 ? all[0] : all;
  }
  return data;
}

function parseBody(text: string): Json {
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's message quotes the input, which may hold secret values: never pass it on.
    throw new VaultApiError(400, ["failed to parse JSON input"]);
  }
  if (!isObject(parsed)) throw new VaultApiError(400, ["failed to parse JSON input: expected a JSON object"]);
  return parsed;
}

/** "/v1/secret/data/a?version=2" → path "v1/secret/data/a" and its query. */
export function splitPath(pathAndQuery: string): { path: string; query: URLSearchParams } {
  const url = new URL(pathAndQuery.replace(/^\/*/, "/"), "http://vault.local");
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new VaultApiError(400, ["invalid URL path encoding"]);
  }
  return { path: path.replace(/\/{2,}/g, "/").replace(/^\//, ""), query: url.searchParams };
}

export function tokenFrom(headers: http.IncomingHttpHeaders): string | undefined {
  const header = headers["x-vault-token"];
  if (typeof header === "string" && header !== "") return header;
  return /^Bearer\s+(.+)$/i.exec(headers.authorization ?? "")?.[1];
}

export function namespaceFrom(headers: http.IncomingHttpHeaders): string | undefined {
  const v = headers["x-vault-namespace"];
  return Array.isArray(v) ? v[0] : v;
}

/** The Vault request an HTTP request stands for; throws VaultApiError for malformed ones. */
export async function toVaultRequest(input: HttpInput): Promise<VaultRequest> {
  const { path, query } = splitPath(input.url);
  if (!path.startsWith("v1/")) throw new VaultApiError(404, []);
  if (input.headers["x-vault-wrap-ttl"]) {
    throw new VaultApiError(400, ["response wrapping is not supported by the local Vault"]);
  }
  const operation = toOperation(input.method, query);
  if (input.method === "HEAD" && path !== "v1/sys/health") throw new VaultApiError(405, []);
  let data = queryData(query);
  if (operation === "update" || operation === "patch") {
    let body: Buffer;
    try {
      body = await input.body();
    } catch {
      throw new VaultApiError(413, ["http: request body too large"]);
    }
    data = parseBody(body.toString("utf8"));
  }
  const contentType = (input.headers["content-type"] ?? "").split(";")[0]!.trim();
  if (operation === "patch" && contentType !== "application/merge-patch+json") {
    throw new VaultApiError(415, [
      `PATCH requires Content-Type of application/merge-patch+json, provided ${contentType}`,
    ]);
  }
  return {
    operation,
    path: path.slice("v1/".length),
    data,
    token: tokenFrom(input.headers),
    namespace: namespaceFrom(input.headers),
    remoteAddress: input.remoteAddress,
    remotePort: input.remotePort,
  };
}

export function faultReply(f: InjectedFault): VaultReply {
  const messages: Record<number, string> = {
    429: "request path: rate limit quota exceeded",
    500: "internal error",
    503: "Vault is sealed",
  };
  return {
    status: f.status,
    body: { errors: [messages[f.status] ?? `injected fault: status ${f.status}`] },
    headers: f.retryAfterSeconds !== undefined ? { "retry-after": String(f.retryAfterSeconds) } : undefined,
  };
}

function replyHeaders(reply: VaultReply, text: string | undefined): Record<string, string> {
  return {
    "cache-control": "no-store",
    ...reply.headers,
    ...(text === undefined
      ? {}
      : { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) }),
  };
}

export function send(res: http.ServerResponse, reply: VaultReply, withBody: boolean): void {
  const text = reply.body === undefined ? undefined : JSON.stringify(reply.body);
  res.writeHead(reply.status, replyHeaders(reply, text));
  res.end(withBody ? text : undefined);
}

/** Writes a whole HTTP/1.1 response on a raw socket and closes it. */
export function sendRaw(socket: Duplex, reply: VaultReply): void {
  const text = reply.body === undefined ? undefined : JSON.stringify(reply.body);
  const headers = { ...replyHeaders(reply, text), connection: "close" };
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  socket.end(`HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status] ?? ""}\r\n${head}\r\n${text ?? ""}`);
}

/**
 * Handles the `clientError` of a LIST request: parses its head from the raw bytes the parser
 * rejected, runs it and answers on the socket. Returns false for any other client error.
 */
export function serveList(
  err: Error & { code?: string; rawPacket?: Buffer },
  socket: Duplex & { remoteAddress?: string; remotePort?: number },
  run: (input: HttpInput) => Promise<VaultReply>,
): boolean {
  const raw = err.rawPacket;
  if (err.code !== "HPE_INVALID_METHOD" || !raw) return false;
  const start = raw.lastIndexOf("LIST ", (err as { bytesParsed?: number }).bytesParsed ?? 0);
  const end = raw.indexOf("\r\n\r\n", start);
  if (start < 0 || end < 0) return false;
  const [requestLine = "", ...lines] = raw.subarray(start, end).toString("latin1").split("\r\n");
  const url = requestLine.split(" ")[1] ?? "/";
  const headers: http.IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const input: HttpInput = {
    method: "LIST",
    url,
    headers,
    body: async () => Buffer.alloc(0),
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
  };
  run(input).then(
    (reply) => sendRaw(socket, reply),
    (e: unknown) => sendRaw(socket, errorReply(e)),
  );
  return true;
}
