/**
 * What the GCP function tests share: RS256 JWTs, a local metadata server standing in for Google's
 * (service account email, access token, identity tokens, and the IAM Credentials API's signJwt),
 * Vault's GCP auth method configured with its keys, the manifests, and a stack of the local
 * Vault, the local GCP and the metadata server on free ports.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { listen, readBody, sendJson, type Listening } from "../../infra/local/common/server.ts";
import { startLocalGcp, type LocalGcp } from "../../infra/local/gcp/server.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { gcpStore, vaultStore, yamlDocs } from "../support/manifests.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import { signWebhook } from "../../shared/events/webhook.ts";
import { Counters } from "../../shared/observability/counters.ts";
import { localGcpClient } from "../../infra/local/gcp/client.ts";

export interface RsaKey {
  kid: string;
  privateKey: KeyObject;
  publicPem: string;
}

export function rsaKey(kid: string): RsaKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid, privateKey, publicPem: publicKey.export({ type: "spki", format: "pem" }).toString() };
}

/** A compact RS256 JWS of `claims`, signed with `key`. */
export function signJwt(claims: Record<string, unknown>, key: RsaKey): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input = `${part({ alg: "RS256", kid: key.kid, typ: "JWT" })}.${part(claims)}`;
  return `${input}.${sign("sha256", Buffer.from(input), key.privateKey).toString("base64url")}`;
}

export const PROJECT = "pushsync-test";
export const SERVICE_ACCOUNT = `pushsync-fn@${PROJECT}.iam.gserviceaccount.com`;
export const UNIQUE_ID = "104857600000000000001";

export interface MetadataServer {
  /** "127.0.0.1:PORT", the form GCE_METADATA_HOST takes. */
  host: string;
  /** Base URL, also of the IAM Credentials API stand-in. */
  url: string;
  /** Google's own signing key (identity tokens). */
  googleKey: RsaKey;
  /** The service account's key (signJwt). */
  accountKey: RsaKey;
  /** Requests by kind: email, token, identity, signJwt, and refused (no Metadata-Flavor, bad token). */
  requests: Counters;
  /** When true, full-format identity tokens carry google.compute_engine claims (a Compute Engine VM). */
  gce: boolean;
  close(): Promise<void>;
}

const METADATA = "/computeMetadata/v1/instance/service-accounts/default/";

/**
 * Google's metadata server as Cloud Functions sees it, plus signJwt, on one port. Requests must
 * carry Metadata-Flavor: Google (403 otherwise, as the real one answers); signJwt wants the
 * access token handed out here and signs only for this server's service account.
 */
export async function startMetadataServer(): Promise<MetadataServer> {
  const googleKey = rsaKey("google-key-1");
  const accountKey = rsaKey("account-key-1");
  const accessToken = `ya29.local-${randomBytes(12).toString("hex")}`;
  const requests = new Counters();
  const state = { gce: false };

  const flavored = (
    res: import("node:http").ServerResponse,
    status: number,
    body: string,
    type = "text/plain",
  ) => {
    res.writeHead(status, { "metadata-flavor": "Google", "content-type": type }).end(body);
  };

  const listening: Listening = await listen((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://metadata");
      if (url.pathname.startsWith(METADATA)) {
        if (req.headers["metadata-flavor"] !== "Google") {
          requests.add("refused");
          return flavored(res, 403, "Missing required header: Metadata-Flavor");
        }
        const what = url.pathname.slice(METADATA.length);
        requests.add(what);
        if (what === "email") return flavored(res, 200, SERVICE_ACCOUNT);
        if (what === "token") {
          const body = JSON.stringify({ access_token: accessToken, expires_in: 3599, token_type: "Bearer" });
          return flavored(res, 200, body, "application/json");
        }
        if (what === "identity") {
          const audience = url.searchParams.get("audience");
          if (!audience) return flavored(res, 400, "non-empty audience parameter required");
          const now = Math.floor(Date.now() / 1000);
          const claims: Record<string, unknown> = {
            aud: audience,
            azp: UNIQUE_ID,
            email: SERVICE_ACCOUNT,
            email_verified: true,
            exp: now + 3600,
            iat: now,
            iss: "https://accounts.google.com",
            sub: UNIQUE_ID,
          };
          if (state.gce && url.searchParams.get("format") === "full") {
            claims.google = {
              compute_engine: {
                instance_creation_timestamp: now - 600,
                instance_id: "7340032000000000001",
                instance_name: "pushsync-vm",
                project_id: PROJECT,
                project_number: 123456789012,
                zone: "europe-west1-b",
              },
            };
          }
          return flavored(res, 200, signJwt(claims, googleKey));
        }
        return flavored(res, 404, "not found");
      }
      const sign = /^\/v1\/projects\/-\/serviceAccounts\/([^/]+):signJwt$/.exec(url.pathname);
      if (sign && req.method === "POST") {
        requests.add("signJwt");
        if (req.headers.authorization !== `Bearer ${accessToken}`) {
          requests.add("refused");
          return sendJson(res, 401, { error: { code: 401, status: "UNAUTHENTICATED" } });
        }
        if (decodeURIComponent(sign[1]!) !== SERVICE_ACCOUNT) {
          return sendJson(res, 403, { error: { code: 403, status: "PERMISSION_DENIED" } });
        }
        const { payload } = JSON.parse((await readBody(req)).toString()) as { payload: string };
        const claims = JSON.parse(payload) as Record<string, unknown>;
        return sendJson(res, 200, { keyId: accountKey.kid, signedJwt: signJwt(claims, accountKey) });
      }
      sendJson(res, 404, { error: { code: 404 } });
    })();
  });
  return {
    host: `${listening.host}:${listening.port}`,
    url: listening.url,
    googleKey,
    accountKey,
    requests,
    get gce() {
      return state.gce;
    },
    set gce(v: boolean) {
      state.gce = v;
    },
    close: () => listening.close(),
  };
}

async function ok(vault: LocalVault, path: string, body: Record<string, unknown>): Promise<void> {
  const reply = await vault.request("POST", path, body);
  if (reply.status >= 300) throw new Error(`${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
}

/**
 * Vault's GCP method at gcp/ knowing the metadata server's keys, with an iam role "pushsync" for
 * the service account and a gce role "pushsync-gce" for instances of the project.
 */
export async function configureGcpAuth(vault: LocalVault, metadata: MetadataServer): Promise<void> {
  await ok(vault, "sys/auth/gcp", { type: "gcp" });
  await ok(vault, `auth/gcp/local/key/${metadata.googleKey.kid}`, {
    public_key: metadata.googleKey.publicPem,
  });
  await ok(vault, `auth/gcp/local/key/${metadata.accountKey.kid}`, {
    public_key: metadata.accountKey.publicPem,
    owner: SERVICE_ACCOUNT,
  });
  await ok(vault, "auth/gcp/role/pushsync", {
    type: "iam",
    bound_service_accounts: [SERVICE_ACCOUNT],
    token_ttl: "1h",
  });
  await ok(vault, "auth/gcp/role/pushsync-gce", { type: "gce", bound_projects: [PROJECT], token_ttl: "1h" });
}

export const FINGERPRINT_KEY = "functions-gcp-test-fingerprint-key-0123";
export const WEBHOOK_SECRET = "whsec-functions-gcp-test";

/** Vault path → remote key in the GCP store. */
export const PUSHES = [
  { name: "app-a", path: "app/a", remoteKey: "app-a" },
  { name: "app-b", path: "app/b", remoteKey: "app-b" },
  { name: "app-c", path: "app/c", remoteKey: "app-c" },
] as const;

export interface Stack {
  vault: LocalVault;
  gcp: LocalGcp;
  metadata: MetadataServer;
  sdk: SecretManagerServiceClient;
  manifestsDir: string;
  /** The function's environment, as deploy.sh sets it, pointed at the local clouds. */
  env: Record<string, string>;
  /** The value Secret Manager holds for a remote key (latest version), or undefined. */
  gcpValue(remoteKey: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const vault = await startLocalVault({ port: 0 });
  const gcp = await startLocalGcp({ port: 0 });
  const metadata = await startMetadataServer();
  await configureGcpAuth(vault, metadata);
  const manifestsDir = mkdtempSync(join(tmpdir(), "pushsync-gcp-functions-"));
  writeFileSync(join(manifestsDir, "stores.yaml"), yamlDocs(vaultStore(vault.url), gcpStore(PROJECT)));
  writeFileSync(
    join(manifestsDir, "pushes.yaml"),
    PUSHES.map(
      (p) => `apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: ${p.name}, namespace: default }
spec:
  secretStoreRefs:
    - { name: vault, kind: ClusterSecretStore }
    - { name: gcp, kind: SecretStore }
  selector: { secret: { name: ${p.path} } }
  data:
    - match: { remoteRef: { remoteKey: ${p.remoteKey} } }
`,
    ).join("---\n"),
  );
  const sdk = localGcpClient(gcp.host);
  return {
    vault,
    gcp,
    metadata,
    sdk,
    manifestsDir,
    env: {
      PUSHSYNC_VAULT_ROLE: "pushsync",
      PUSHSYNC_VAULT_GCP_IAM_ENDPOINT: metadata.url,
      GCE_METADATA_HOST: metadata.host,
      SECRETMANAGER_EMULATOR_HOST: gcp.host,
      PUSHSYNC_FINGERPRINT_KEY: FINGERPRINT_KEY,
      PUSHSYNC_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PUSHSYNC_MANIFESTS_DIR: manifestsDir,
      PUSHSYNC_LOG_LEVEL: "debug",
    },
    async gcpValue(remoteKey) {
      try {
        const [version] = await sdk.accessSecretVersion({
          name: `projects/${PROJECT}/secrets/${remoteKey}/versions/latest`,
        });
        return version.payload?.data ? Buffer.from(version.payload.data).toString() : undefined;
      } catch (err) {
        if ([5, 404].includes((err as { code?: number }).code ?? 0)) return undefined;
        throw err;
      }
    },
    async close() {
      await sdk.close();
      await metadata.close();
      await gcp.close();
      await vault.close();
      rmSync(manifestsDir, { recursive: true, force: true });
    },
  };
}

let eventSeq = 0;

/** A change event as the forwarder publishes it. */
export function changeEvent(path: string, version: number): VaultChangeEvent {
  return {
    id: `gcp-evt-${++eventSeq}`,
    mount: "secret",
    path,
    version,
    operation: "write",
    namespace: "",
    time: new Date().toISOString(),
    source: "events",
  };
}

/** The forwarder's webhook request for `events`: body and signed headers. */
export function webhookRequest(
  events: VaultChangeEvent[],
  options: { secret?: string; timestamp?: number; attempt?: number } = {},
): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ delivery: `d-${++eventSeq}`, attempt: options.attempt ?? 1, events });
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    body,
    headers: {
      "content-type": "application/json",
      ...signWebhook(options.secret ?? WEBHOOK_SECRET, body, timestamp),
    },
  };
}

export type LogRecord = Record<string, unknown>;

/**
 * Runs `fn` and keeps the JSON log lines written meanwhile to stdout and stderr (parsed),
 * instead of printing them.
 */
export async function captureLogs<T>(fn: () => Promise<T>): Promise<{ result: T; logs: LogRecord[] }> {
  const logs: LogRecord[] = [];
  const restore = [process.stdout, process.stderr].map((stream) => {
    const original = stream.write;
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = String(chunk);
      if (!text.startsWith("{")) return original.call(stream, chunk, ...(rest as []));
      for (const line of text.split("\n")) if (line !== "") logs.push(JSON.parse(line) as LogRecord);
      return true;
    }) as typeof stream.write;
    return () => void (stream.write = original);
  });
  try {
    return { result: await fn(), logs };
  } finally {
    for (const r of restore) r();
  }
}
