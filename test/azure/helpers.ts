/** Shared set-up for the Azure tests: a local vault per file, an offline credential, raw HTTPS calls. */
import { mkdtemp, rm } from "node:fs/promises";
import https from "node:https";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { startLocalAzure } from "../../infra/local/azure/index.ts";
import type { LocalAzure, LocalAzureOptions } from "../../infra/local/azure/index.ts";

export interface TestAzure extends LocalAzure {
  caDir: string;
  /** Closes the server and removes the CA directory. */
  stop(): Promise<void>;
}

export async function startTestAzure(options: LocalAzureOptions = {}): Promise<TestAzure> {
  const caDir = await mkdtemp(path.join(os.tmpdir(), "pushsync-azure-"));
  const azure = await startLocalAzure({ port: 0, httpPort: 0, caDir, ...options });
  return {
    ...azure,
    caDir,
    stop: async () => {
      await azure.close();
      await rm(caDir, { recursive: true, force: true });
    },
  };
}

/** A credential that hands out a fixed token offline and records what it was asked for. */
export class StaticCredential implements TokenCredential {
  readonly requests: { scopes: string[]; tenantId?: string }[] = [];
  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.requests.push({
      scopes: [scopes].flat(),
      ...(options?.tenantId ? { tenantId: options.tenantId } : {}),
    });
    return { token: "local-test-token", expiresOnTimestamp: Date.now() + 3600_000 };
  }
}

/** An SDK client as a third party would use it against the local vault. */
export function sdkClient(
  azure: LocalAzure,
  credential: TokenCredential = new StaticCredential(),
): SecretClient {
  return new SecretClient(azure.url, credential, {
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
    tlsOptions: { ca: azure.caCertPem },
  });
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- wire JSON under test
}

/** One HTTP(S) request to the local vault; adds api-version unless the path has a query. */
export async function raw(
  azure: LocalAzure,
  method: string,
  pathAndQuery: string,
  options: { body?: unknown; token?: string | null; plain?: boolean } = {},
): Promise<RawResponse> {
  const target = new URL(
    pathAndQuery.includes("?") || pathAndQuery.startsWith("http")
      ? pathAndQuery
      : `${pathAndQuery}?api-version=7.4`,
    options.plain ? azure.httpUrl : azure.url,
  );
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const token = options.token === undefined ? "any-token" : options.token;
  const headers: Record<string, string> = {
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...(payload
      ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) }
      : {}),
  };
  const transport = target.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(target, { method, headers, ca: azure.caCertPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: text ? JSON.parse(text) : undefined,
        });
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}
