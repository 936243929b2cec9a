/**
 * Local GCP Secret Manager: the REST v1 surface (https://cloud.google.com/secret-manager/docs/reference/rest)
 * on 127.0.0.1, for the Node client in REST mode, gcloud (CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER)
 * and curl. Global (`projects/P/secrets`) and regional (`projects/P/locations/L/secrets`) paths.
 *
 * Wire details that clients depend on:
 * - The Node client sends `$alt=json;enum-encoding=int` and then expects enums (version state) as
 *   numbers; other clients get enum names.
 * - Errors are `{"error":{"code":HTTP,"message":...,"status":RPC_STATUS}}`. An injected 429 also
 *   carries a google.rpc.RetryInfo detail and a Retry-After header when the fault sets one.
 * - Any bearer token (or none) is accepted.
 */
import type http from "node:http";
import { Faults, listen, readBody, RequestCounter, sendJson } from "../common/server.ts";
import { GcpApiError, httpStatusOf, type RpcStatus, SecretManagerState, type SecretRef } from "./store.ts";

export interface LocalGcpOptions {
  host?: string;
  /** 8086 by default; 0 picks a free port (tests). */
  port?: number;
  /** Number used in every resource name. */
  projectNumber?: string;
  /** Project ids accepted besides the number; any id is accepted when omitted. */
  projectIds?: string[];
  /** Largest page a list returns whatever pageSize asks (Google: 25,000); small values exercise paging. */
  maxPageSize?: number;
}

export interface LocalGcp {
  url: string;
  port: number;
  /** "127.0.0.1:PORT", the form SECRETMANAGER_EMULATOR_HOST takes. */
  host: string;
  projectNumber: string;
  faults: Faults;
  /** Requests per RPC name ("CreateSecret", "AccessSecretVersion", ...). */
  requests: RequestCounter;
  close(): Promise<void>;
}

const statusOfHttp: Record<number, RpcStatus> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** Query parameters each RPC binds (camelCase; snake_case is accepted too, as Google's front end does). */
const QUERY_PARAMS: Record<string, string[]> = {
  ListSecrets: ["pageSize", "pageToken", "filter"],
  CreateSecret: ["secretId"],
  UpdateSecret: ["updateMask"],
  DeleteSecret: ["etag"],
  ListSecretVersions: ["pageSize", "pageToken", "filter"],
};
/** System parameters every request may carry. */
const SYSTEM_PARAMS = new Set(["alt", "$alt", "prettyPrint", "$prettyPrint", "fields", "$fields", "key"]);

interface Route {
  rpc: string;
  project: string;
  ref: SecretRef;
  version?: string;
}

const PATH =
  /^\/v1\/projects\/(?<project>[^/]+)(?:\/locations\/(?<location>[^/]+))?\/secrets(?:\/(?<secret>[^/:]+)(?::(?<secretVerb>\w+)|(?<versions>\/versions)(?:\/(?<version>[^/:]+)(?::(?<versionVerb>\w+))?)?)?)?$/;

/** RPC by "METHOD resource:verb", resource being the collection, a secret, its versions or one version. */
const RPCS: Record<string, string> = {
  "GET secrets:": "ListSecrets",
  "POST secrets:": "CreateSecret",
  "GET secret:": "GetSecret",
  "PATCH secret:": "UpdateSecret",
  "DELETE secret:": "DeleteSecret",
  "POST secret:addVersion": "AddSecretVersion",
  "GET secret:getIamPolicy": "GetIamPolicy",
  "POST secret:setIamPolicy": "SetIamPolicy",
  "POST secret:testIamPermissions": "TestIamPermissions",
  "GET versions:": "ListSecretVersions",
  "GET version:": "GetSecretVersion",
  "GET version:access": "AccessSecretVersion",
  "POST version:disable": "DisableSecretVersion",
  "POST version:enable": "EnableSecretVersion",
  "POST version:destroy": "DestroySecretVersion",
};

function route(method: string, pathname: string): Route | undefined {
  const g = PATH.exec(pathname)?.groups;
  if (!g) return undefined;
  const resource =
    g.secret === undefined
      ? "secrets"
      : g.version !== undefined
        ? "version"
        : g.versions
          ? "versions"
          : "secret";
  const rpc = RPCS[`${method} ${resource}:${g.secretVerb ?? g.versionVerb ?? ""}`];
  if (!rpc) return undefined;
  return {
    rpc,
    project: g.project!,
    ref: { secret: g.secret ?? "", ...(g.location ? { location: g.location } : {}) },
    ...(g.version ? { version: g.version } : {}),
  };
}

function sendError(
  res: http.ServerResponse,
  status: RpcStatus,
  message: string,
  retryAfterSeconds?: number,
): void {
  const code = httpStatusOf[status];
  const details =
    retryAfterSeconds !== undefined
      ? [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${retryAfterSeconds}s` }]
      : undefined;
  sendJson(
    res,
    code,
    { error: { code, message, status, ...(details ? { details } : {}) } },
    retryAfterSeconds !== undefined ? { "retry-after": String(retryAfterSeconds) } : {},
  );
}

function queryParams(url: URL, rpc: string): Record<string, string> {
  const allowed = QUERY_PARAMS[rpc] ?? [];
  const out: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (SYSTEM_PARAMS.has(name)) continue;
    const camel = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    // Request-message fields may also arrive as query parameters (`etag` on version state changes).
    if (!allowed.includes(camel) && camel !== "etag") {
      throw new GcpApiError(
        "INVALID_ARGUMENT",
        `Invalid JSON payload received. Unknown name "${name}": Cannot bind query parameter.`,
      );
    }
    out[camel] = value;
  }
  return out;
}

async function jsonBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const raw = (await readBody(req)).toString("utf8");
  if (raw.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new GcpApiError("INVALID_ARGUMENT", "Invalid JSON payload received.");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new GcpApiError("INVALID_ARGUMENT", "Invalid JSON payload received. Expected an object.");
  }
  return parsed as Record<string, unknown>;
}

function pageSize(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new GcpApiError("INVALID_ARGUMENT", `Invalid value for pageSize: ${value}`);
  return Number(value);
}

export async function startLocalGcp(options: LocalGcpOptions = {}): Promise<LocalGcp> {
  const projectNumber = options.projectNumber ?? "123456789012";
  const state = new SecretManagerState(projectNumber, options.maxPageSize);
  const faults = new Faults();
  const requests = new RequestCounter();

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const r = route(req.method ?? "GET", decodeURIComponent(url.pathname));
    if (!r) {
      sendError(res, "NOT_FOUND", `Method not found: ${req.method} ${url.pathname}`);
      return;
    }
    requests.add(r.rpc);
    await faults.delay();
    const fault = faults.take(r.rpc);
    if (fault) {
      const status = statusOfHttp[fault.status] ?? "INTERNAL";
      const message =
        status === "RESOURCE_EXHAUSTED"
          ? `Quota exceeded for quota metric '${r.rpc === "AccessSecretVersion" ? "Access" : "Read"} requests' of service 'secretmanager.googleapis.com'.`
          : `Injected ${status}.`;
      sendError(res, status, message, fault.retryAfterSeconds);
      return;
    }
    if (r.project !== projectNumber && options.projectIds && !options.projectIds.includes(r.project)) {
      sendError(
        res,
        "PERMISSION_DENIED",
        `Permission denied on resource project ${r.project} (or it may not exist).`,
      );
      return;
    }
    const render = { enumsAsInt: (url.searchParams.get("$alt") ?? "").includes("enum-encoding=int") };
    const q = queryParams(url, r.rpc);
    const body = ["POST", "PATCH"].includes(req.method ?? "") ? await jsonBody(req) : {};
    const list = { pageSize: pageSize(q.pageSize), pageToken: q.pageToken, filter: q.filter };
    const etag = q.etag ?? (typeof body.etag === "string" ? body.etag : undefined);
    const v = r.version ?? "";
    const results: Record<string, () => unknown> = {
      ListSecrets: () => state.listSecrets(r.ref.location, list),
      CreateSecret: () => state.createSecret({ ...r.ref, secret: q.secretId ?? "" }, body),
      GetSecret: () => state.getSecret(r.ref),
      UpdateSecret: () => state.updateSecret(r.ref, body, q.updateMask),
      DeleteSecret: () => (state.deleteSecret(r.ref, etag), {}),
      AddSecretVersion: () => state.addVersion(r.ref, body, render),
      ListSecretVersions: () => state.listVersions(r.ref, list, render),
      GetSecretVersion: () => state.getVersion(r.ref, v, render),
      AccessSecretVersion: () => state.access(r.ref, v),
      DisableSecretVersion: () => state.changeVersionState(r.ref, v, "disable", etag, render),
      EnableSecretVersion: () => state.changeVersionState(r.ref, v, "enable", etag, render),
      DestroySecretVersion: () => state.changeVersionState(r.ref, v, "destroy", etag, render),
    };
    const run = results[r.rpc];
    if (!run) throw new GcpApiError("UNIMPLEMENTED", `${r.rpc} is not implemented by the local GCP.`);
    sendJson(res, 200, run());
  };

  const listening = await listen(
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (err instanceof GcpApiError) sendError(res, err.status, err.message);
        else sendError(res, "INTERNAL", "Internal error in the local GCP.");
      });
    },
    { host: options.host, port: options.port ?? 8086 },
  );
  return {
    url: listening.url,
    port: listening.port,
    host: `${listening.host}:${listening.port}`,
    projectNumber,
    faults,
    requests,
    close: () => listening.close(),
  };
}
