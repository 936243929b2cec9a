import { STSClient, type STSClientConfig } from "@aws-sdk/client-sts";
import { PushsyncError } from "../../errors/index.ts";
import { VaultInvalidError } from "../types.ts";
import { trimSlashes, type VaultAuth } from "./types.ts";

/**
 * Vault's AWS auth method, `iam` type: proves the caller's AWS identity without any stored
 * secret. The caller signs an `sts:GetCallerIdentity` request with its own AWS credentials but
 * does not send it; Vault sends it to STS, and STS's answer (the caller's ARN) decides the login.
 *
 * The login body (POST auth/<mount>/login):
 *   role                     the Vault role
 *   iam_http_request_method  "POST"
 *   iam_request_url          base64 of the STS URL
 *   iam_request_body         base64 of "Action=GetCallerIdentity&Version=2011-06-15"
 *   iam_request_headers      base64 of JSON { header: [values] }, with every signed header
 *
 * Signing uses the STS client's own SigV4 signer and credentials: `credentials` when given,
 * otherwise the SDK's default chain (in Lambda, the function's role from the environment). The
 * signer comes from the client's configuration, so @smithy/signature-v4 (only a transitive
 * dependency) is never imported. When the Vault mount sets iam_server_id_header_value, pass it
 * as `serverId`: it is sent as X-Vault-AWS-IAM-Server-ID and covered by the signature, so a
 * signed request cannot be replayed against another Vault.
 */
export interface AwsIamAuthOptions {
  /** Vault role of auth_type iam. */
  role: string;
  /** Mount path of the AWS method; default "aws". */
  mount?: string;
  /** Value for X-Vault-AWS-IAM-Server-ID, when the mount requires one. */
  serverId?: string;
  /**
   * STS endpoint the request is signed for; default the global https://sts.amazonaws.com. A
   * regional endpoint needs Vault's `sts_endpoint` (and `sts_region`) set to the same.
   */
  stsEndpoint?: string;
  /** Signing region; default us-east-1 (the global endpoint's). */
  stsRegion?: string;
  credentials?: STSClientConfig["credentials"];
}

const DEFAULT_STS_ENDPOINT = "https://sts.amazonaws.com";
const SERVER_ID_HEADER = "X-Vault-AWS-IAM-Server-ID";
const CALLER_IDENTITY_BODY = "Action=GetCallerIdentity&Version=2011-06-15";

export function awsIamAuth(options: AwsIamAuthOptions): VaultAuth {
  if (options.role === "") throw new VaultInvalidError("aws-iam auth: role is empty");
  const mount = trimSlashes(options.mount ?? "aws");
  const endpoint = new URL(options.stsEndpoint ?? DEFAULT_STS_ENDPOINT);
  const sts = new STSClient({
    region: options.stsRegion ?? "us-east-1",
    endpoint: endpoint.href,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  return {
    method: "aws-iam",
    async login(client) {
      const headers: Record<string, string> = {
        host: endpoint.host,
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      };
      if (options.serverId) headers[SERVER_ID_HEADER.toLowerCase()] = options.serverId;
      let signed: { headers: Record<string, string> };
      try {
        const signer = await sts.config.signer();
        signed = await signer.sign({
          method: "POST",
          protocol: endpoint.protocol,
          hostname: endpoint.hostname,
          ...(endpoint.port ? { port: Number(endpoint.port) } : {}),
          path: endpoint.pathname,
          query: {},
          headers,
          body: CALLER_IDENTITY_BODY,
        });
      } catch (err) {
        const why = err instanceof Error ? `${err.name}: ${err.message}` : "unknown error";
        throw new PushsyncError("Unavailable", `aws-iam auth: cannot sign the STS request (${why})`, true);
      }
      // Header names as Go's http.Header writes them ("X-Amz-Date"), as Vault's own client sends them.
      const asArrays = Object.fromEntries(
        Object.entries(signed.headers).map(([k, v]) => [canonicalHeaderName(k), [v]]),
      );
      return client.login(mount, {
        role: options.role,
        iam_http_request_method: "POST",
        iam_request_url: base64(endpoint.href),
        iam_request_body: base64(CALLER_IDENTITY_BODY),
        iam_request_headers: base64(JSON.stringify(asArrays)),
      });
    },
  };
}

const base64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");

const canonicalHeaderName = (name: string): string =>
  name
    .split("-")
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())
    .join("-");
