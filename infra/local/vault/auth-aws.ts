/**
 * Vault's AWS auth method, `iam` login type only (no EC2 identity documents).
 *
 * A real Vault forwards the client's signed sts:GetCallerIdentity request to STS and trusts the
 * ARN STS answers with. The local Vault cannot call STS, so it plays STS's part itself:
 * - it checks that the decoded request is a well-formed GetCallerIdentity call: POST to the
 *   configured STS endpoint's host, body Action=GetCallerIdentity&Version=2011-06-15, an
 *   Authorization header "AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/sts/aws4_request,
 *   SignedHeaders=..., Signature=<64 hex>" whose signed headers include host and x-amz-date,
 *   an X-Amz-Date within 15 minutes of now, and, when config/client sets
 *   iam_server_id_header_value, that header present, equal and signed (Vault's own check);
 * - it maps the access key id to an identity registered with a local-only endpoint,
 *     auth/<mount>/local/caller/<access key id>  { arn, secret_access_key, session_token? }
 *   and verifies the SigV4 signature with that secret key (and the session token, when given),
 *   as STS would. Unknown keys and bad signatures fail as STS's 403 does, wrapped by Vault.
 * Roles (auth/<mount>/role/<name>) take auth_type "iam", bound_iam_principal_arn (exact ARNs,
 * or globs ending in "*") and the usual token_* parameters. Assumed-role ARNs are matched in
 * Vault's canonical form, arn:aws:iam::<account>:role/<name>.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { RoleBackend, showTokenParams, tokenParams, type TokenParams } from "./auth.ts";
import type { Handler, RequestContext } from "./model.ts";
import {
  badRequest,
  glob,
  listParam,
  newUuid,
  noContent,
  notFound,
  stringParam,
  unsupportedOperation,
  type Json,
  type Operation,
  type Result,
} from "./wire.ts";

interface AwsRole {
  token: TokenParams;
  roleId: string;
  boundArns: string[];
}

interface Caller {
  arn: string;
  secretKey: string;
  sessionToken: string;
}

interface ClientConfig {
  serverId: string;
  stsEndpoint: string;
  stsRegion: string;
}

const SERVER_ID_HEADER = "x-vault-aws-iam-server-id";
const MAX_CLOCK_SKEW_MS = 15 * 60_000;
const DEFAULT_CONFIG: ClientConfig = {
  serverId: "",
  stsEndpoint: "https://sts.amazonaws.com",
  stsRegion: "us-east-1",
};

/** What STS would answer: Vault wraps it as "error making upstream request". */
const stsRejects = (code: string, message: string) =>
  badRequest(`error making upstream request: received error code 403 from STS: ${code}: ${message}`);

export class AwsAuthBackend extends RoleBackend<AwsRole> {
  protected readonly kind = "aws";
  private config: ClientConfig = { ...DEFAULT_CONFIG };
  private callers = new Map<string, Caller>();

  protected parseRole(d: Json, prev: AwsRole | undefined): AwsRole {
    const authType = stringParam(d, "auth_type", "iam");
    if (authType !== "iam")
      throw badRequest(`the local Vault supports auth_type "iam" only, not "${authType}"`);
    const boundArns =
      d.bound_iam_principal_arn !== undefined
        ? listParam(d, "bound_iam_principal_arn")
        : (prev?.boundArns ?? []);
    if (boundArns.length === 0)
      throw badRequest("at least one bound parameter should be specified on the role");
    return { token: tokenParams(d, prev?.token), roleId: prev?.roleId ?? newUuid(), boundArns };
  }

  protected showRole(r: AwsRole): Json {
    return {
      auth_type: "iam",
      bound_iam_principal_arn: r.boundArns,
      resolve_aws_unique_ids: false,
      role_id: r.roleId,
      ...showTokenParams(r.token),
    };
  }

  protected extraRoute(op: Operation, subPath: string): Handler | undefined {
    const write = op === "create" || op === "update";
    if (subPath === "login") {
      if (!write) throw unsupportedOperation();
      return { name: "aws.login", unauthenticated: true, run: (ctx) => this.login(ctx) };
    }
    if (subPath === "config/client") {
      if (op === "read") return { name: "aws.config", run: () => this.readConfig() };
      if (op === "delete")
        return { name: "aws.config", run: () => ((this.config = { ...DEFAULT_CONFIG }), noContent()) };
      if (!write) throw unsupportedOperation();
      return {
        name: "aws.config",
        run: (ctx) => {
          const d = ctx.data;
          this.config = {
            serverId: stringParam(d, "iam_server_id_header_value", this.config.serverId),
            stsEndpoint: stringParam(d, "sts_endpoint", this.config.stsEndpoint),
            stsRegion: stringParam(d, "sts_region", this.config.stsRegion),
          };
          return noContent();
        },
      };
    }
    const caller = /^local\/caller\/([^/]+)$/.exec(subPath);
    if (!caller) return undefined;
    const keyId = caller[1]!;
    if (op === "read") {
      return {
        name: "aws.caller",
        run: () => {
          const c = this.callers.get(keyId);
          if (!c) throw notFound();
          return { data: { arn: c.arn } };
        },
      };
    }
    if (!write) throw unsupportedOperation();
    return {
      name: "aws.caller",
      run: (ctx) => {
        const arn = stringParam(ctx.data, "arn");
        const secretKey = stringParam(ctx.data, "secret_access_key");
        if (arn === "" || secretKey === "") throw badRequest("arn and secret_access_key are required");
        this.callers.set(keyId, { arn, secretKey, sessionToken: stringParam(ctx.data, "session_token") });
        return noContent();
      },
    };
  }

  private readConfig(): Result {
    return {
      data: {
        iam_server_id_header_value: this.config.serverId,
        sts_endpoint: this.config.stsEndpoint,
        sts_region: this.config.stsRegion,
      },
    };
  }

  private login(ctx: RequestContext): Result {
    const d = ctx.data;
    const method = stringParam(d, "iam_http_request_method");
    if (method === "") throw badRequest("missing iam_http_request_method");
    if (method !== "POST")
      throw badRequest("invalid iam_http_request_method; currently only 'POST' is supported");
    const url = parseUrl(decodeField(d, "iam_request_url"));
    const body = decodeField(d, "iam_request_body");
    const headers = parseHeaders(d.iam_request_headers);
    if (headers.size === 0) throw badRequest("missing iam_request_headers");
    if (this.config.serverId !== "") this.checkServerId(headers);

    const caller = this.callerIdentity(url, body, headers);
    const canonical = canonicalArn(caller.arn);
    const roleName = stringParam(d, "role") || canonical.slice(canonical.lastIndexOf("/") + 1);
    const role = this.roles.get(roleName);
    if (!role) throw badRequest(`entry for role ${roleName} not found`);
    const bound = role.boundArns.some(
      (b) => b === canonical || (b.endsWith("*") && (glob(b, caller.arn) || glob(b, canonical))),
    );
    if (!bound) throw badRequest(`IAM Principal "${caller.arn}" does not belong to the role "${roleName}"`);
    const account = canonical.split(":")[4] ?? "";
    return this.issue(ctx, role, canonical.slice(canonical.lastIndexOf("/") + 1), {
      account_id: account,
      auth_type: "iam",
      canonical_arn: canonical,
      client_arn: caller.arn,
      role_id: role.roleId,
    });
  }

  private checkServerId(headers: Map<string, string>): void {
    const value = headers.get(SERVER_ID_HEADER);
    const fail = (why: string) => badRequest(`error validating X-Vault-AWS-IAM-Server-ID header: ${why}`);
    if (value === undefined) throw fail(`missing header "X-Vault-AWS-IAM-Server-ID"`);
    if (value !== this.config.serverId) throw fail(`expected "${this.config.serverId}" but got "${value}"`);
    const signed = /SignedHeaders=([^,]+)/.exec(headers.get("authorization") ?? "")?.[1];
    if (signed === undefined) throw fail("missing Authorization header");
    if (!signed.split(";").includes(SERVER_ID_HEADER)) throw fail("vault header wasn't signed");
  }

  /** STS's part: a well-formed, correctly signed GetCallerIdentity from a known access key. */
  private callerIdentity(url: URL, body: string, headers: Map<string, string>): Caller {
    const endpoint = new URL(this.config.stsEndpoint);
    if (url.host !== endpoint.host)
      throw stsRejects("InvalidRequest", `request for host ${url.host}, not ${endpoint.host}`);
    const form = new URLSearchParams(body);
    if (form.get("Action") !== "GetCallerIdentity" || form.get("Version") !== "2011-06-15") {
      throw stsRejects("InvalidAction", "the body is not Action=GetCallerIdentity&Version=2011-06-15");
    }
    const auth =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
        headers.get("authorization") ?? "",
      );
    if (!auth)
      throw stsRejects(
        "IncompleteSignature",
        "the Authorization header is not an AWS4-HMAC-SHA256 signature",
      );
    const [, keyId, day, region, service, signedList, signature] = auth as unknown as string[];
    const signedHeaders = signedList!.split(";");
    const amzDate = headers.get("x-amz-date") ?? "";
    if (!signedHeaders.includes("host") || !signedHeaders.includes("x-amz-date")) {
      throw stsRejects("IncompleteSignature", "host and x-amz-date must be signed");
    }
    const when = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (!when || !amzDate.startsWith(day!)) throw stsRejects("IncompleteSignature", "bad X-Amz-Date");
    const [, y, mo, dd, h, mi, s] = when.map(Number) as number[];
    if (Math.abs(Date.UTC(y!, mo! - 1, dd!, h!, mi!, s!) - Date.now()) > MAX_CLOCK_SKEW_MS) {
      throw stsRejects("SignatureDoesNotMatch", "Signature expired");
    }
    if (service !== "sts" || region !== this.config.stsRegion) {
      throw stsRejects(
        "SignatureDoesNotMatch",
        `credential scope ${region}/${service}, expected ${this.config.stsRegion}/sts`,
      );
    }
    const caller = this.callers.get(keyId!);
    if (!caller)
      throw stsRejects("InvalidClientTokenId", "The security token included in the request is invalid.");
    if (caller.sessionToken !== "") {
      const token = headers.get("x-amz-security-token");
      if (token !== caller.sessionToken || !signedHeaders.includes("x-amz-security-token")) {
        throw stsRejects("InvalidClientTokenId", "The security token included in the request is invalid.");
      }
    }
    const withHost = new Map(headers);
    if (!withHost.has("host")) withHost.set("host", url.host);
    const expected = sigV4Signature({
      secretKey: caller.secretKey,
      method: "POST",
      url,
      headers: withHost,
      signedHeaders,
      body,
      amzDate,
      scope: `${day}/${region}/${service}/aws4_request`,
    });
    if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature!))) {
      throw stsRejects(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
      );
    }
    return caller;
  }
}

function decodeField(d: Json, field: string): string {
  const raw = stringParam(d, field);
  if (raw === "") throw badRequest(`missing ${field}`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw)) throw badRequest(`failed to base64 decode ${field}`);
  return Buffer.from(raw, "base64").toString("utf8");
}

function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw badRequest("error parsing iam_request_url");
  }
}

/** iam_request_headers: base64 of JSON, or a JSON object; values a string or a list. Names lower-cased. */
function parseHeaders(raw: unknown): Map<string, string> {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(Buffer.from(raw, "base64").toString("utf8"));
    } catch {
      throw badRequest("iam_request_headers is neither a JSON object nor base64 of one");
    }
  }
  const out = new Map<string, string>();
  if (value === undefined || value === null) return out;
  if (typeof value !== "object" || Array.isArray(value))
    throw badRequest("iam_request_headers must be an object");
  for (const [name, v] of Object.entries(value)) {
    const values = Array.isArray(v) ? v.map(String) : [String(v)];
    out.set(name.toLowerCase(), values.join(","));
  }
  return out;
}

/** arn:aws:sts::<account>:assumed-role/<role>/<session> and paths reduce to arn:aws:iam::<account>:<type>/<name>. */
function canonicalArn(arn: string): string {
  const parts = arn.split(":");
  const [prefix, partition, service, , account, resource] = parts;
  if (parts.length !== 6 || prefix !== "arn" || (service !== "iam" && service !== "sts")) {
    throw badRequest(`error parsing arn "${arn}"`);
  }
  const segments = resource!.split("/");
  const type = segments[0] === "assumed-role" ? "role" : segments[0];
  const name = segments[0] === "assumed-role" ? segments[1] : segments[segments.length - 1];
  if (segments.length < 2 || !name) throw badRequest(`error parsing arn "${arn}"`);
  return `arn:${partition}:iam::${account}:${type}/${name}`;
}

const sha256 = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");
const hmac = (key: Buffer | string, text: string): Buffer =>
  createHmac("sha256", key).update(text, "utf8").digest();

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
const uriEncode = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** AWS Signature Version 4 of a request, from its parts (the server side of the signing process). */
export function sigV4Signature(input: {
  secretKey: string;
  method: string;
  url: URL;
  /** Lower-cased names. */
  headers: Map<string, string>;
  signedHeaders: string[];
  body: string;
  amzDate: string;
  /** <yyyymmdd>/<region>/<service>/aws4_request */
  scope: string;
}): string {
  const path = input.url.pathname
    .split("/")
    .map((segment) => uriEncode(decodeURIComponent(segment)))
    .join("/");
  const query = [...input.url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonicalHeaders = input.signedHeaders
    .map((name) => `${name}:${(input.headers.get(name) ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const canonicalRequest = [
    input.method,
    path || "/",
    query,
    canonicalHeaders,
    input.signedHeaders.join(";"),
    sha256(input.body),
  ].join("\n");
  const stringToSign = ["AWS4-HMAC-SHA256", input.amzDate, input.scope, sha256(canonicalRequest)].join("\n");
  const [day, region, service] = input.scope.split("/") as [string, string, string];
  const key = hmac(hmac(hmac(hmac(`AWS4${input.secretKey}`, day), region), service), "aws4_request");
  return hmac(key, stringToSign).toString("hex");
}
