/**
 * One harness per store: starts its local cloud on port 0, builds the real provider against it,
 * and plays "someone else" with the store's official SDK. Everything that differs between the
 * stores lives here; the behaviour suite (providers.test.ts) is written once against `Harness`.
 *
 * Metadata is read back flattened, pushsync's own marker left out: "tag:<k>" (AWS, Azure),
 * "label:<k>" and "annotation:<k>" (GCP), "description" (AWS), "contentType" (Azure).
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
} from "@aws-sdk/client-secrets-manager";
import { startLocalAws } from "../../infra/local/aws/index.ts";
import type { Faults, RequestCounter } from "../../infra/local/common/server.ts";
import { startLocalGcp } from "../../infra/local/gcp/server.ts";
import { createAwsSecretsManagerProvider } from "../../shared/providers/aws-secrets-manager/index.ts";
import { createAzureKeyVaultProvider } from "../../shared/providers/azure-key-vault/index.ts";
import { createGcpSecretManagerProvider } from "../../shared/providers/gcp-secret-manager/index.ts";
import { MANAGED_BY_KEY } from "../../shared/providers/types.ts";
import type { PushMetadata, SecretStoreProvider } from "../../shared/providers/types.ts";
import { StaticCredential, sdkClient, startTestAzure } from "../azure/helpers.ts";
import { localGcpClient } from "../../infra/local/gcp/client.ts";

export interface Cloud {
  /** The real provider, with its quotas lifted (see `unlimited`). */
  provider: SecretStoreProvider;
  /** The local cloud's own request counts and fault injection. */
  requests: RequestCounter;
  faults: Faults;
  /** Creates a secret outside pushsync; `managedBy` sets the managed-by tag or label. */
  createForeign(key: string, value: string, managedBy?: string): Promise<void>;
  /** Writes a new value as an operator would, without pushsync's marker. */
  setValue(key: string, value: string): Promise<void>;
  /**
   * Replaces the user tags (GCP: labels) as an operator would in the console, keeping pushsync's
   * marker and the value.
   */
  retag(key: string, tags: Record<string, string>): Promise<void>;
  /** Deletes the secret as an operator would (soft delete where the store has one). */
  remove(key: string): Promise<void>;
  /** Current value, undefined when the secret is absent or deleted. */
  value(key: string): Promise<string | undefined>;
  /** Exists and is not deleted (nor pending deletion). */
  isLive(key: string): Promise<boolean>;
  /** User-visible metadata, flattened (see the file comment). */
  metadata(key: string): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export interface Harness {
  name: string;
  /** The store's documented value limit in bytes. */
  maxValueBytes: number;
  /** Remote keys the store cannot name, with the rule their error must state. */
  invalidKeys: { key: string; rule: string }[];
  /** A remote key giving the longest name the store allows. */
  longestKey: string;
  /** Operation names as the local cloud counts them. */
  ops: {
    list: string[];
    valueReads: string[];
    writes: string[];
    /** The call that creates a secret, and the one that writes a value to an existing one. */
    create: string;
    setValue: string;
  };
  /** Two successive PushSecret metadata settings and what the SDK reads back after each. */
  metadata: [MetadataStep, MetadataStep];
  /**
   * Which run sees a value set behind pushsync's back: the scheduled reconcile (from the
   * listing, or a describe the listing leads to), or only an event's describe().
   */
  outOfBandSeenBy: "reconcile" | "event";
  start(): Promise<Cloud>;
}

export interface MetadataStep {
  push: PushMetadata;
  read: Record<string, string>;
}

/**
 * The local clouds have no quotas: a provider whose `quotas` are raised so that the resilience
 * wrapper's token buckets never hold a test back (GCP's real ones allow a few calls per second).
 */
function unlimited(provider: SecretStoreProvider): SecretStoreProvider {
  return Object.assign(Object.create(provider) as SecretStoreProvider, {
    quotas: { read: 10_000, write: 10_000, list: 10_000 },
  });
}

const isMarkerKey = (k: string): boolean => k === MANAGED_BY_KEY || k.startsWith("pushsync");

function flatten(prefix: string, entries: Record<string, string> | null | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(entries ?? {})
      .filter(([k]) => !isMarkerKey(k))
      .map(([k, v]) => [`${prefix}:${k}`, v]),
  );
}

const AWS_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

const aws: Harness = {
  name: "aws-secrets-manager",
  maxValueBytes: 65_536,
  invalidKeys: [
    { key: "/cf/bad key!", rule: "characters AWS does not allow in secret names" },
    { key: `/${"a".repeat(512)}`, rule: "AWS allows 1 to 512" },
    { key: "/cf/name-abc123", rule: "mistakes for the random suffix of an ARN" },
  ],
  longestKey: `/${"a".repeat(511)}`,
  ops: {
    list: ["ListSecrets"],
    valueReads: ["GetSecretValue", "BatchGetSecretValue"],
    writes: [
      "CreateSecret",
      "PutSecretValue",
      "UpdateSecret",
      "TagResource",
      "UntagResource",
      "DeleteSecret",
      "RestoreSecret",
    ],
    create: "CreateSecret",
    setValue: "PutSecretValue",
  },
  metadata: [
    {
      push: { tags: { team: "payments", tier: "gold" }, description: "database password" },
      read: { "tag:team": "payments", "tag:tier": "gold", description: "database password" },
    },
    {
      push: { tags: { team: "platform" } },
      read: { "tag:team": "platform" },
    },
  ],
  // A PutSecretValue moves AWSCURRENT off the version the marker names; ListSecrets shows the stages.
  outOfBandSeenBy: "reconcile",
  async start() {
    const local = await startLocalAws({ port: 0 });
    const provider = createAwsSecretsManagerProvider({
      storeName: "conformance/aws",
      region: local.region,
      endpoint: local.url,
      credentials: AWS_CREDENTIALS,
      recoveryWindowInDays: 7,
    });
    const sdk = new SecretsManagerClient({
      region: local.region,
      endpoint: local.url,
      credentials: AWS_CREDENTIALS,
      maxAttempts: 1,
    });
    const name = (key: string) => provider.mapKey(key);
    const describe = (key: string) => sdk.send(new DescribeSecretCommand({ SecretId: name(key) }));
    const absent = (err: unknown) => (err as { name?: string }).name === "ResourceNotFoundException";
    const isLive = async (key: string) => {
      try {
        return (await describe(key)).DeletedDate === undefined;
      } catch (err) {
        if (absent(err)) return false;
        throw err;
      }
    };
    return {
      provider: unlimited(provider),
      requests: local.requests,
      faults: local.faults,
      async createForeign(key, value, managedBy) {
        const tags = managedBy ? [{ Key: MANAGED_BY_KEY, Value: managedBy }] : [];
        await sdk.send(new CreateSecretCommand({ Name: name(key), SecretString: value, Tags: tags }));
      },
      async setValue(key, value) {
        await sdk.send(new PutSecretValueCommand({ SecretId: name(key), SecretString: value }));
      },
      async retag(key, tags) {
        const stale = ((await describe(key)).Tags ?? [])
          .map((t) => t.Key ?? "")
          .filter((k) => !isMarkerKey(k) && !(k in tags));
        if (stale.length > 0)
          await sdk.send(new UntagResourceCommand({ SecretId: name(key), TagKeys: stale }));
        const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
        await sdk.send(new TagResourceCommand({ SecretId: name(key), Tags }));
      },
      async remove(key) {
        await sdk.send(new DeleteSecretCommand({ SecretId: name(key), RecoveryWindowInDays: 7 }));
      },
      async value(key) {
        if (!(await isLive(key))) return undefined;
        return (await sdk.send(new GetSecretValueCommand({ SecretId: name(key) }))).SecretString;
      },
      isLive,
      async metadata(key) {
        const out = await describe(key);
        const tags = Object.fromEntries((out.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));
        return {
          ...flatten("tag", tags),
          // A cleared description is omitted by AWS; the local AWS returns "".
          ...(out.Description ? { description: out.Description } : {}),
        };
      },
      async close() {
        await provider.close?.();
        sdk.destroy();
        await local.close();
      },
    };
  },
};

const GCP_PROJECT = "conformance";

const gcp: Harness = {
  name: "gcp-secret-manager",
  maxValueBytes: 65_536,
  invalidKeys: [
    { key: "/cf/bad.key", rule: "only letters, digits, '-', '_' and '/' are allowed" },
    { key: "a".repeat(256), rule: "over the limit of 255" },
  ],
  longestKey: "a".repeat(255),
  ops: {
    list: ["ListSecrets"],
    valueReads: ["AccessSecretVersion"],
    writes: [
      "CreateSecret",
      "AddSecretVersion",
      "UpdateSecret",
      "DeleteSecret",
      "DestroySecretVersion",
      "DisableSecretVersion",
      "EnableSecretVersion",
    ],
    create: "CreateSecret",
    setValue: "AddSecretVersion",
  },
  metadata: [
    {
      push: { labels: { team: "payments", tier: "gold" }, annotations: { owner: "db-team" } },
      read: { "label:team": "payments", "label:tier": "gold", "annotation:owner": "db-team" },
    },
    {
      push: { labels: { team: "platform" } },
      read: { "label:team": "platform" },
    },
  ],
  // A version added by someone else leaves the secret's annotations (what ListSecrets returns)
  // as they were, so the scheduled reconcile cannot see it; only describe(), run for the next
  // event on the Vault path, asks which version is the latest.
  outOfBandSeenBy: "event",
  async start() {
    const local = await startLocalGcp({ port: 0 });
    const provider = createGcpSecretManagerProvider({
      storeName: "conformance/gcp",
      projectId: GCP_PROJECT,
      emulatorHost: local.host,
    });
    const sdk = localGcpClient(local.host);
    const name = (key: string) => `projects/${GCP_PROJECT}/secrets/${provider.mapKey(key)}`;
    const absent = (err: unknown) => [5, 404].includes((err as { code?: number }).code ?? 0);
    const addVersion = async (key: string, value: string) => {
      await sdk.addSecretVersion({ parent: name(key), payload: { data: Buffer.from(value) } });
    };
    return {
      provider: unlimited(provider),
      requests: local.requests,
      faults: local.faults,
      async createForeign(key, value, managedBy) {
        await sdk.createSecret({
          parent: `projects/${GCP_PROJECT}`,
          secretId: provider.mapKey(key),
          secret: {
            replication: { automatic: {} },
            labels: managedBy ? { [MANAGED_BY_KEY]: managedBy } : {},
          },
        });
        await addVersion(key, value);
      },
      setValue: addVersion,
      async retag(key, tags) {
        const [secret] = await sdk.getSecret({ name: name(key) });
        const own = Object.entries(secret.labels ?? {}).filter(([k]) => isMarkerKey(k));
        await sdk.updateSecret({
          secret: { name: name(key), labels: { ...Object.fromEntries(own), ...tags }, etag: secret.etag },
          updateMask: { paths: ["labels"] },
        });
      },
      async remove(key) {
        await sdk.deleteSecret({ name: name(key) });
      },
      async value(key) {
        try {
          const [out] = await sdk.accessSecretVersion({ name: `${name(key)}/versions/latest` });
          return Buffer.from(out.payload?.data ?? new Uint8Array()).toString("utf8");
        } catch (err) {
          if (absent(err)) return undefined;
          throw err;
        }
      },
      async isLive(key) {
        try {
          await sdk.getSecret({ name: name(key) });
          return true;
        } catch (err) {
          if (absent(err)) return false;
          throw err;
        }
      },
      async metadata(key) {
        const [secret] = await sdk.getSecret({ name: name(key) });
        return { ...flatten("label", secret.labels), ...flatten("annotation", secret.annotations) };
      },
      async close() {
        await provider.close?.();
        await sdk.close();
        await local.close();
      },
    };
  },
};

const azure: Harness = {
  name: "azure-key-vault",
  maxValueBytes: 25_600,
  invalidKeys: [
    { key: "/cf/bad__key", rule: 'letters, digits and "-", "/", "_", "." between letters or digits' },
    { key: "a".repeat(128), rule: "the limit is 127" },
  ],
  longestKey: "a".repeat(127),
  ops: {
    list: ["GetSecrets"],
    valueReads: ["GetSecret"],
    writes: ["SetSecret", "UpdateSecret", "DeleteSecret", "RecoverDeletedSecret", "PurgeDeletedSecret"],
    create: "SetSecret",
    setValue: "SetSecret",
  },
  metadata: [
    {
      push: { tags: { team: "payments", tier: "gold" }, contentType: "text/plain" },
      read: { "tag:team": "payments", "tag:tier": "gold", contentType: "text/plain" },
    },
    {
      push: { tags: { team: "platform" } },
      read: { "tag:team": "platform" },
    },
  ],
  // A value set without pushsync's tags is a new current version without managed-by: the secret
  // drops out of the listing, and the plan's describe() finds the marker on the older version.
  // A value set with a copy of pushsync's tags looks like pushsync's own and is not repaired.
  outOfBandSeenBy: "reconcile",
  async start() {
    const local = await startTestAzure();
    const provider = createAzureKeyVaultProvider({
      storeName: "conformance/azure",
      vaultUrl: local.url,
      credential: new StaticCredential(),
      ca: local.caCertPem,
    });
    const sdk = sdkClient(local);
    const name = (key: string) => provider.mapKey(key);
    const absent = (err: unknown) => (err as { statusCode?: number }).statusCode === 404;
    const current = async (key: string) => {
      try {
        return await sdk.getSecret(name(key));
      } catch (err) {
        if (absent(err)) return undefined;
        throw err;
      }
    };
    return {
      provider: unlimited(provider),
      requests: local.requests,
      faults: local.faults,
      async createForeign(key, value, managedBy) {
        await sdk.setSecret(name(key), value, managedBy ? { tags: { [MANAGED_BY_KEY]: managedBy } } : {});
      },
      async setValue(key, value) {
        await sdk.setSecret(name(key), value);
      },
      async retag(key, tags) {
        const { properties } = await sdk.getSecret(name(key));
        const own = Object.entries(properties.tags ?? {}).filter(([k]) => isMarkerKey(k));
        await sdk.updateSecretProperties(name(key), properties.version!, {
          tags: { ...Object.fromEntries(own), ...tags },
        });
      },
      async remove(key) {
        await (await sdk.beginDeleteSecret(name(key))).pollUntilDone();
      },
      value: async (key) => (await current(key))?.value,
      isLive: async (key) => (await current(key)) !== undefined,
      async metadata(key) {
        const { properties } = (await current(key)) ?? { properties: undefined };
        return {
          ...flatten("tag", properties?.tags),
          ...(properties?.contentType !== undefined ? { contentType: properties.contentType } : {}),
        };
      },
      async close() {
        await provider.close?.();
        await local.stop();
      },
    };
  },
};

export const harnesses: Harness[] = [aws, gcp, azure];
