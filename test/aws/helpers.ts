import { createHmac } from "node:crypto";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { expect } from "vitest";
import type { LocalAws } from "../../infra/local/aws/index.ts";
import { ProviderError } from "../../shared/errors/index.ts";
import type { PushMetadata, PushRequest, RemoteSecretState } from "../../shared/providers/types.ts";

export const dummyCredentials = { accessKeyId: "test", secretAccessKey: "test" };

/** A plain SDK client (no retries) against the local AWS, as any user of AWS would write it. */
export function sdkClient(aws: LocalAws): SecretsManagerClient {
  return new SecretsManagerClient({
    region: aws.region,
    endpoint: aws.url,
    credentials: dummyCredentials,
    maxAttempts: 1,
  });
}

/** A ClientRequestToken of the allowed length (32-64), distinct per seed. */
export function token(seed: string): string {
  return `tok-${seed}`.padEnd(36, "0");
}

/** Awaits a rejection and checks the AWS error name, HTTP status and (optionally) message. */
export async function expectAwsError(
  promise: Promise<unknown>,
  name: string,
  message?: string | RegExp,
  status = 400,
): Promise<void> {
  const err = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  expect(err, `expected ${name}`).toBeDefined();
  expect(err?.name).toBe(name);
  expect(err?.$metadata?.httpStatusCode).toBe(status);
  if (message !== undefined) expect(err?.message).toMatch(message);
}

/** A PushRequest as the engine builds it; the token stands in for the engine's derivation. */
export function pushRequest(
  key: string,
  value: string | Buffer,
  options: {
    vaultVersion?: number;
    metadata?: PushMetadata;
    current?: RemoteSecretState;
    restore?: boolean;
  } = {},
): PushRequest {
  const body = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  const vaultVersion = options.vaultVersion ?? 1;
  const fingerprint = createHmac("sha256", "test-fingerprint-key")
    .update(key)
    .update(String(vaultVersion))
    .update(body)
    .update(JSON.stringify(options.metadata ?? {}))
    .digest("hex");
  return {
    key,
    value: body,
    metadata: options.metadata ?? {},
    marker: { vaultPath: `secret/${key.replace(/^\//, "")}`, vaultVersion, fingerprint },
    idempotencyToken: `ps-${fingerprint.slice(0, 40)}`,
    ...(options.current ? { current: options.current } : {}),
    ...(options.restore ? { restore: true } : {}),
  };
}

/** Awaits a rejection and returns it as a ProviderError (failing when it is anything else). */
export async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}
