/**
 * The stack engine tests run on: the local Vault and the local AWS over HTTP, the real Vault
 * source and the real AWS Secrets Manager provider, and a plain AWS SDK client playing
 * "someone else" changing secrets behind pushsync's back.
 */
import {
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { startLocalAws, type LocalAws } from "../../infra/local/aws/index.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { createEngine, type Engine, type EngineOptions } from "../../shared/engine/engine.ts";
import type { PushEntry, Report, ReportEntry } from "../../shared/engine/types.ts";
import type { Logger, LogFields } from "../../shared/observability/logger.ts";
import { createAwsSecretsManagerProvider } from "../../shared/providers/aws-secrets-manager/index.ts";
import type { SecretStoreProvider } from "../../shared/providers/types.ts";
import { createVaultSource, tokenAuth, type VaultSource } from "../../shared/vault/index.ts";

export const FINGERPRINT_KEY = "engine-test-fingerprint-key-0123456789";
const credentials = { accessKeyId: "test", secretAccessKey: "test" };

/**
 * A Logger that keeps every record as given, before any redaction, so that tests see exactly
 * what the engine tried to log.
 */
export function capturingLogger(lines: string[], base: LogFields = {}): Logger {
  const write = (level: string) => (msg: string, fields?: LogFields) => {
    lines.push(JSON.stringify({ level, msg, ...base, ...fields }));
  };
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (fields) => capturingLogger(lines, { ...base, ...fields }),
  };
}

export interface Stack {
  vault: LocalVault;
  aws: LocalAws;
  source: VaultSource;
  provider: SecretStoreProvider;
  sdk: SecretsManagerClient;
  logs: string[];
  engine(options?: Partial<EngineOptions>): Engine;
  awsProvider(storeName: string, aws?: LocalAws): SecretStoreProvider;
  /** Current value of an AWS secret, read with the plain SDK. */
  awsValue(name: string): Promise<string | undefined>;
  /** Number of versions AWS keeps for a secret. */
  awsVersions(name: string): Promise<number>;
  close(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const vault = await startLocalVault({
    port: 0,
    mounts: [
      { path: "secret", version: 2 },
      { path: "kv1", version: 1 },
    ],
  });
  const aws = await startLocalAws({ port: 0 });
  const source = createVaultSource({ address: vault.url, auth: tokenAuth({ token: vault.rootToken }) });
  const providers: SecretStoreProvider[] = [];
  const awsProvider = (storeName: string, at = aws): SecretStoreProvider => {
    const p = createAwsSecretsManagerProvider({
      storeName,
      region: at.region,
      endpoint: at.url,
      credentials,
      recoveryWindowInDays: 7,
    });
    providers.push(p);
    return p;
  };
  const provider = awsProvider("default/aws");
  const sdk = new SecretsManagerClient({
    region: aws.region,
    endpoint: aws.url,
    credentials,
    maxAttempts: 1,
  });
  const logs: string[] = [];
  return {
    vault,
    aws,
    source,
    provider,
    sdk,
    logs,
    engine: (options = {}) =>
      createEngine({
        vault: source,
        providers: new Map([["default/aws", provider]]),
        fingerprintKey: FINGERPRINT_KEY,
        logger: capturingLogger(logs),
        retry: { baseDelayMs: 5 },
        ...options,
      }),
    awsProvider,
    awsValue: async (name) => (await sdk.send(new GetSecretValueCommand({ SecretId: name }))).SecretString,
    awsVersions: async (name) =>
      (await sdk.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }))).Versions
        ?.length ?? 0,
    close: async () => {
      for (const p of providers) await p.close?.();
      sdk.destroy();
      await source.close();
      await aws.close();
      await vault.close();
    },
  };
}

/** A PushEntry with a Vault-store source (`secret/<path>`) and the AWS store as destination. */
export function entry(
  pushSecret: string,
  path: string,
  remoteKey: string,
  overrides: Partial<PushEntry> = {},
): PushEntry {
  return {
    pushSecret,
    store: "default/aws",
    remoteKey,
    source: { vaultStore: "vault", parts: [{ location: { mount: "secret", path } }] },
    conversionStrategy: "None",
    metadata: {},
    updatePolicy: "Replace",
    deletionPolicy: "None",
    adopt: false,
    ...overrides,
  };
}

/** The one report row for a remote key (and property), failing when there is not exactly one. */
export function row(report: Report, remoteKey: string, property?: string): ReportEntry {
  const rows = report.entries.filter((e) => e.remoteKey === remoteKey && e.property === property);
  if (rows.length !== 1) throw new Error(`expected one row for ${remoteKey}, got ${JSON.stringify(rows)}`);
  return rows[0]!;
}

/** AWS write operations as the local AWS counts them. */
export const AWS_WRITES = [
  "CreateSecret",
  "PutSecretValue",
  "UpdateSecret",
  "TagResource",
  "UntagResource",
  "DeleteSecret",
  "RestoreSecret",
];

export function awsWrites(aws: LocalAws): number {
  return AWS_WRITES.reduce((n, op) => n + aws.requests.get(op), 0);
}

/** A Vault KV v2 HTTP call with the root token (soft delete, destroy, metadata delete). */
export async function vaultHttp(
  vault: LocalVault,
  method: string,
  path: string,
  body?: unknown,
): Promise<number> {
  const res = await fetch(`${vault.url}/v1/${path}`, {
    method,
    headers: { "x-vault-token": vault.rootToken, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await res.arrayBuffer();
  return res.status;
}
