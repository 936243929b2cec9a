/**
 * A store other than Vault: AWS Secrets Manager (the local AWS), its credentials read from the
 * Kubernetes Secret its auth.secretRef names, through the API. Properties, dataFrom find and
 * extract, a deleted remote secret, and throttling counted in the metrics.
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalAws, type LocalAws } from "../../infra/local/aws/index.ts";
import type { Puller } from "../../functions/cluster/puller.ts";
import { sdkClient } from "../aws/helpers.ts";
import {
  apply,
  eventsFor,
  externalSecret,
  forceSync,
  getSecret,
  metric,
  metricsText,
  readyWith,
  secretObject,
  secretWith,
  startStack,
  startTestPuller,
  until,
  type Stack,
} from "./helpers.ts";

let stack: Stack;
let aws: LocalAws;
let sm: SecretsManagerClient;
let puller: Puller;

const awsStore = {
  apiVersion: "external-secrets.io/v1",
  kind: "SecretStore",
  metadata: { name: "aws", namespace: "default" },
  spec: {
    provider: {
      aws: {
        service: "SecretsManager",
        region: "us-east-1",
        auth: {
          secretRef: {
            accessKeyIDSecretRef: { name: "aws-creds", key: "id" },
            secretAccessKeySecretRef: { name: "aws-creds", key: "secret" },
          },
        },
      },
    },
  },
};
const fromAws = (name: string, spec: Record<string, unknown>) =>
  externalSecret(name, { secretStoreRef: { name: "aws", kind: "SecretStore" }, ...spec });

beforeAll(async () => {
  stack = await startStack();
  aws = await startLocalAws({ port: 0 });
  sm = sdkClient(aws);
  await sm.send(
    new CreateSecretCommand({
      Name: "app/db",
      SecretString: JSON.stringify({ user: "app", password: "aws-pass-1", opts: { ssl: "on" } }),
    }),
  );
  await sm.send(new CreateSecretCommand({ Name: "app/api-key", SecretString: "key-123456" }));
  await sm.send(new CreateSecretCommand({ Name: "other/x", SecretString: "x" }));
  await apply(stack.kube, awsStore);
  // No AWS_* credentials in the environment: the store's secretRef is what the provider uses.
  puller = await startTestPuller(stack, { providerEnv: { AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url } });
});

afterAll(async () => {
  await puller?.close();
  sm?.destroy();
  await aws?.close();
  await stack?.close();
});

describe("an AWS Secrets Manager store", () => {
  it("fails while the credentials Secret is missing, naming it; works once it exists", async () => {
    await apply(
      stack.kube,
      fromAws("aws-db", {
        data: [{ secretKey: "password", remoteRef: { key: "app/db", property: "password" } }],
      }),
    );
    await readyWith(stack.kube, "aws-db", "SecretSyncedError");
    const failed = (await eventsFor(stack.kube, "aws-db")).find((e) => e.reason === "UpdateFailed");
    expect(failed?.message).toContain("Secret default/aws-creds (referenced by the store) does not exist");

    await apply(
      stack.kube,
      secretObject("default", "aws-creds", { id: "AKIDEXAMPLE", secret: "not-checked-locally" }),
    );
    await forceSync(stack.kube, "aws-db");
    await secretWith(stack.kube, "aws-db", (d) => d.password === "aws-pass-1");
  });

  it("reads nested properties, extracts JSON and finds by name", async () => {
    await apply(
      stack.kube,
      secretObject("default", "aws-creds", { id: "AKIDEXAMPLE", secret: "not-checked-locally" }),
    );
    await apply(
      stack.kube,
      fromAws("aws-mixed", {
        data: [{ secretKey: "ssl", remoteRef: { key: "app/db", property: "opts.ssl" } }],
        dataFrom: [{ extract: { key: "app/db" } }, { find: { name: { regexp: "^app/api" } } }],
      }),
    );
    const s = await secretWith(stack.kube, "aws-mixed", (d) => d.ssl !== undefined);
    const d = Object.fromEntries(
      Object.entries(s.data as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, "base64").toString(),
      ]),
    );
    expect(d).toEqual({
      ssl: "on",
      user: "app",
      password: "aws-pass-1",
      opts: '{"ssl":"on"}',
      "app_api-key": "key-123456",
    });
    const text = await metricsText(puller);
    expect(
      metric(
        text,
        'externalsecret_provider_api_calls_count{provider="AWS/SecretsManager",call="GetSecretValue",status="success"}',
      ),
    ).toBeGreaterThan(0);
    expect(
      metric(
        text,
        'externalsecret_provider_api_calls_count{provider="AWS/SecretsManager",call="ListSecrets",status="success"}',
      ),
    ).toBeGreaterThan(0);
  });

  it("counts throttled calls, and the retry succeeds", async () => {
    await sm.send(new CreateSecretCommand({ Name: "app/throttled", SecretString: "later" }));
    const errors =
      'externalsecret_provider_api_calls_count{provider="AWS/SecretsManager",call="GetSecretValue",status="error"}';
    const errorsBefore = metric(await metricsText(puller), errors) ?? 0;
    aws.faults.inject({ operation: "GetSecretValue", status: 429, times: 1 });
    await apply(
      stack.kube,
      fromAws("aws-throttled", { data: [{ secretKey: "v", remoteRef: { key: "app/throttled" } }] }),
    );
    await secretWith(stack.kube, "aws-throttled", (d) => d.v === "later");
    const text = await metricsText(puller);
    expect(
      metric(text, 'pushsync_provider_throttled_total{provider="AWS/SecretsManager",call="GetSecretValue"}'),
    ).toBe(1);
    expect(metric(text, errors)).toBe(errorsBefore + 1);
  });

  it("deletionPolicy Delete removes the Secret once the remote secret is deleted", async () => {
    await sm.send(new CreateSecretCommand({ Name: "app/temporary", SecretString: "short-lived" }));
    await apply(
      stack.kube,
      fromAws("aws-temp", {
        data: [{ secretKey: "v", remoteRef: { key: "app/temporary" } }],
        target: { deletionPolicy: "Delete" },
      }),
    );
    await secretWith(stack.kube, "aws-temp", (d) => d.v === "short-lived");
    await sm.send(new DeleteSecretCommand({ SecretId: "app/temporary", ForceDeleteWithoutRecovery: true }));
    await forceSync(stack.kube, "aws-temp");
    await readyWith(stack.kube, "aws-temp", "SecretDeleted");
    await until(async () => (await getSecret(stack.kube, "aws-temp")) === undefined);
  });
});
