/**
 * GCP Secret Manager provider, on @google-cloud/secret-manager.
 *
 * Transport: gRPC with Application Default Credentials against Google; against the local GCP
 * (`emulatorHost`, else env SECRETMANAGER_EMULATOR_HOST, "127.0.0.1:8086") the REST transport
 * over plain HTTP with no credentials. The client's own retries are off in both cases.
 *
 * push, in an order that never lets the annotations name a version that does not exist:
 *   1. GetSecret (when the engine saw the secret) or CreateSecret (labels, user annotations, no marker)
 *   2. DestroySecretVersion for pushsync's own versions beyond the newest `versionRetention - 1`,
 *      never the one the annotations name: cost stays flat however often a secret rotates
 *   3. AddSecretVersion with the CRC32C of the value
 *   4. UpdateSecret(labels, annotations) with the etag read in 1, recording the new version
 * A crash after 1 or 3 leaves a secret whose annotations still describe the previous push, so the
 * engine pushes again. The version the annotations name is only destroyed by the push after next,
 * which is why versionRetention is at least 2.
 *
 * listManaged uses ListSecrets alone: `currentIsMarked` there means "pushsync recorded the version it
 * added". A version someone adds behind pushsync's back does not touch the annotations, so only
 * `describe`, which also reads GetSecretVersion(latest) (a metadata read, no value), sees it. The
 * engine describes a secret before each event-driven push; the scheduled reconcile stays at one
 * list call per 25,000 secrets.
 */
import { SecretManagerServiceClient, type protos } from "@google-cloud/secret-manager";
import { ProviderError } from "../../errors/index.ts";
import { Counters } from "../../observability/counters.ts";
import {
  type FindQuery,
  MANAGED_BY_KEY,
  MANAGED_BY_PUSHSYNC,
  type PushRequest,
  type PushResult,
  type RemoteRef,
  type RemoteSecretState,
  type SecretStoreProvider,
} from "../types.ts";
import { crc32c } from "./crc32c.ts";
import { etagConflict, Grpc, hasStatus, toProviderError } from "./errors.ts";
import { foreignLabels, pushAnnotations, pushLabels, readRecordedPush, userAnnotations } from "./marker.ts";
import { keyForSecretId, secretIdForKey } from "./names.ts";

type Secret = protos.google.cloud.secretmanager.v1.ISecret;
type ClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

export interface GcpSecretManagerOptions {
  storeName: string;
  projectId: string;
  /** Regional secrets (`projects/P/locations/L/secrets`) instead of global ones. */
  location?: string;
  apiEndpoint?: string;
  /** "host:port" of a local Secret Manager (REST over plain HTTP, no credentials). */
  emulatorHost?: string;
  /** Versions pushsync keeps per secret (its own only); older ones it destroys. Default 2, minimum 2. */
  versionRetention?: number;
}

/** Secret Manager's payload limit. */
export const MAX_VALUE_BYTES = 64 * 1024;
const LIST_PAGE_SIZE = 25_000;
const READ_CONCURRENCY = 8;
const RPCS = [
  "ListSecrets",
  "CreateSecret",
  "AddSecretVersion",
  "GetSecret",
  "UpdateSecret",
  "DeleteSecret",
  "GetSecretVersion",
  "AccessSecretVersion",
  "DestroySecretVersion",
];

/** Client config that turns every retry off (only AccessSecretVersion retries by default). */
const NO_RETRIES = {
  interfaces: {
    "google.cloud.secretmanager.v1.SecretManagerService": {
      retry_codes: { none: [] },
      methods: Object.fromEntries(RPCS.map((rpc) => [rpc, { retry_codes_name: "none" }])),
    },
  },
};

/** What the REST transport needs from an auth client: a fetch. This one adds no credentials. */
const noCredentials = {
  getRequestHeaders: async () => new Headers(),
  fetch: (url: string, init: RequestInit) => fetch(url, init),
};

function clientFor(options: GcpSecretManagerOptions): SecretManagerServiceClient {
  const emulator = options.emulatorHost ?? process.env.SECRETMANAGER_EMULATOR_HOST;
  if (emulator) {
    const m = /^(.+):(\d+)$/.exec(emulator);
    if (!m) throw new ProviderError("Invalid", `GCP emulator host '${emulator}' is not host:port`);
    return new SecretManagerServiceClient({
      fallback: true,
      apiEndpoint: m[1],
      port: Number(m[2]),
      protocol: "http",
      auth: noCredentials as unknown as ClientOptions["auth"],
      clientConfig: NO_RETRIES,
    });
  }
  const regional = options.location ? `secretmanager.${options.location}.rep.googleapis.com` : undefined;
  const apiEndpoint = options.apiEndpoint ?? regional;
  return new SecretManagerServiceClient({
    ...(apiEndpoint ? { apiEndpoint } : {}),
    clientConfig: NO_RETRIES,
  });
}

function lastSegment(name: string | null | undefined): string {
  return (name ?? "").split("/").pop() ?? "";
}

function isEnabled(state: unknown): boolean {
  return state === "ENABLED" || state === 1;
}

/** One JSON property of a value: a top-level key, else a dotted path. Strings come back raw. */
function property(value: Buffer, key: string, name: string): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(value.toString("utf8"));
  } catch {
    throw new ProviderError("Invalid", `GCP key '${key}' is not JSON, so it has no property '${name}'`);
  }
  const obj = doc as Record<string, unknown> | null;
  let found: unknown = obj !== null && typeof obj === "object" && name in obj ? obj[name] : undefined;
  if (found === undefined) {
    found = name.split(".").reduce<unknown>((node, part) => {
      return node !== null && typeof node === "object" ? (node as Record<string, unknown>)[part] : undefined;
    }, doc);
  }
  if (found === undefined) throw new ProviderError("NotFound", `GCP key '${key}' has no property '${name}'`);
  return Buffer.from(typeof found === "string" ? found : JSON.stringify(found), "utf8");
}

class GcpSecretManagerProvider implements SecretStoreProvider {
  readonly kind = "gcp-secret-manager" as const;
  /** 64 labels per secret, one of them managed-by. */
  readonly limits = { maxValueBytes: MAX_VALUE_BYTES, maxTags: 63 };
  /**
   * Per project Google allows 600 writes/min, 600 reads/min (lists and metadata reads share them)
   * and 90,000 accesses/min. A push is up to 3 writes and 1 read, a describe 2 reads, a list page
   * 1 read: 3 pushes, 2 reads and 1 list per second stay below 10 writes/s and 10 reads/s.
   */
  readonly quotas = { read: 2, write: 3, list: 1 };
  readonly calls = new Counters();
  readonly storeName: string;
  private readonly client: SecretManagerServiceClient;
  private readonly parent: string;
  private readonly retention: number;

  constructor(options: GcpSecretManagerOptions) {
    this.storeName = options.storeName;
    this.retention = options.versionRetention ?? 2;
    if (!Number.isInteger(this.retention) || this.retention < 2) {
      throw new ProviderError(
        "Invalid",
        `GCP store '${options.storeName}': versionRetention must be an integer of at least 2 (got ${this.retention})`,
      );
    }
    const location = options.location ? `/locations/${options.location}` : "";
    this.parent = `projects/${options.projectId}${location}`;
    this.client = clientFor(options);
  }

  mapKey(key: string): string {
    return secretIdForKey(key);
  }

  private nameOf(key: string): string {
    return `${this.parent}/secrets/${this.mapKey(key)}`;
  }

  private async call<T>(rpc: string, key: string, run: () => Promise<T>): Promise<T> {
    this.calls.add(rpc);
    try {
      return await run();
    } catch (err) {
      throw toProviderError(err, rpc, key);
    }
  }

  /** GetSecret; undefined when the secret does not exist. */
  private async fetchSecret(key: string): Promise<Secret | undefined> {
    try {
      const [secret] = await this.call("GetSecret", key, () =>
        this.client.getSecret({ name: this.nameOf(key) }),
      );
      return secret;
    } catch (err) {
      if (err instanceof ProviderError && err.code === "NotFound") return undefined;
      throw err;
    }
  }

  private state(secret: Secret): RemoteSecretState {
    const labels = secret.labels ?? {};
    const recorded = readRecordedPush(secret.annotations ?? {});
    const id = lastSegment(secret.name);
    const managedBy = labels[MANAGED_BY_KEY];
    return {
      key: keyForSecretId(id),
      name: id,
      ...(managedBy !== undefined ? { managedBy } : {}),
      ...(recorded.marker ? { marker: recorded.marker } : {}),
      currentIsMarked: recorded.marker !== undefined && recorded.secretVersion !== undefined,
      pendingDeletion: false,
      tags: foreignLabels(labels),
    };
  }

  async *listManaged(): AsyncIterable<RemoteSecretState> {
    let pageToken: string | undefined;
    do {
      const [secrets, next] = await this.call("ListSecrets", `${this.parent}/*`, () =>
        this.client.listSecrets(
          { parent: this.parent, filter: `labels.${MANAGED_BY_KEY}:*`, pageSize: LIST_PAGE_SIZE, pageToken },
          { autoPaginate: false },
        ),
      );
      for (const secret of secrets) yield this.state(secret);
      pageToken = next?.pageToken || undefined;
    } while (pageToken);
  }

  /** ListSecrets without a filter: one call per 25,000 secrets, so `prefixes` are not needed. */
  async *listNames(): AsyncIterable<string[]> {
    let pageToken: string | undefined;
    do {
      const [secrets, next] = await this.call("ListSecrets", `${this.parent}/*`, () =>
        this.client.listSecrets(
          { parent: this.parent, pageSize: LIST_PAGE_SIZE, pageToken },
          { autoPaginate: false },
        ),
      );
      yield secrets.map((secret) => lastSegment(secret.name));
      pageToken = next?.pageToken || undefined;
    } while (pageToken);
  }

  async describe(key: string): Promise<RemoteSecretState | undefined> {
    const secret = await this.fetchSecret(key);
    if (!secret) return undefined;
    const state = this.state(secret);
    if (!state.currentIsMarked) return state;
    const recorded = readRecordedPush(secret.annotations ?? {});
    try {
      const [latest] = await this.call("GetSecretVersion", key, () =>
        this.client.getSecretVersion({ name: `${secret.name}/versions/latest` }),
      );
      state.currentIsMarked =
        lastSegment(latest.name) === String(recorded.secretVersion) && isEnabled(latest.state);
    } catch (err) {
      if (!(err instanceof ProviderError && err.code === "NotFound")) throw err;
      state.currentIsMarked = false;
    }
    return state;
  }

  async push(request: PushRequest): Promise<PushResult> {
    const { key, value, metadata } = request;
    const id = this.mapKey(key);
    if (value.length > MAX_VALUE_BYTES) {
      throw new ProviderError(
        "TooLarge",
        `GCP key '${key}': value is ${value.length} bytes, over Secret Manager's limit of ${MAX_VALUE_BYTES}`,
      );
    }
    const labels = pushLabels(key, metadata.labels);
    const annotations = userAnnotations(key, metadata.annotations);

    const { secret, action } = await this.secretToPush(request, id, labels, annotations);
    const recorded = readRecordedPush(secret.annotations ?? {});
    const keptBefore = recorded.ownVersions.slice(-(this.retention - 1));
    const destroyed = recorded.ownVersions.filter(
      (v) => !keptBefore.includes(v) && v !== recorded.secretVersion,
    );
    for (const v of destroyed) await this.destroyVersion(key, `${secret.name}/versions/${v}`);

    const [version] = await this.call("AddSecretVersion", key, () =>
      this.client.addSecretVersion({
        parent: secret.name,
        payload: { data: value, dataCrc32c: crc32c(value) },
      }),
    );
    const added = Number(lastSegment(version.name));
    const own = [...recorded.ownVersions.filter((v) => !destroyed.includes(v)), added];
    try {
      await this.call("UpdateSecret", key, () =>
        this.client.updateSecret({
          secret: {
            name: secret.name,
            labels,
            annotations: pushAnnotations(annotations, request.marker, added, own),
            etag: secret.etag,
          },
          updateMask: { paths: ["labels", "annotations"] },
        }),
      );
    } catch (err) {
      throw hasStatus(err, Grpc.FAILED_PRECONDITION) ? etagConflict(key, "during the push", err) : err;
    }
    return { action, versionId: String(added) };
  }

  /**
   * The secret to add a version to: the existing one (GetSecret) when the engine saw it, else a new
   * one (CreateSecret). An existing secret must be pushsync's, or owned as the engine saw it.
   */
  private async secretToPush(
    request: PushRequest,
    id: string,
    labels: Record<string, string>,
    annotations: Record<string, string>,
  ): Promise<{ secret: Secret & { name: string }; action: PushResult["action"] }> {
    const { key, current } = request;
    let existing = current ? await this.fetchSecret(key) : undefined;
    if (!existing) {
      try {
        const [created] = await this.call("CreateSecret", key, () =>
          this.client.createSecret({
            parent: this.parent,
            secretId: id,
            secret: { labels, annotations, ...this.replication(request.metadata) },
          }),
        );
        return { secret: { ...created, name: created.name ?? this.nameOf(key) }, action: "created" };
      } catch (err) {
        if (!hasStatus(err, Grpc.ALREADY_EXISTS)) throw err;
        existing = await this.fetchSecret(key);
        if (!existing) throw err;
      }
    }
    const owner = existing.labels?.[MANAGED_BY_KEY];
    if (owner !== MANAGED_BY_PUSHSYNC && (current === undefined || owner !== current.managedBy)) {
      throw new ProviderError(
        "NotOwned",
        `GCP key '${key}': secret '${id}' is managed by '${owner ?? "nobody"}'`,
      );
    }
    return { secret: { ...existing, name: existing.name ?? this.nameOf(key) }, action: "updated" };
  }

  private replication(metadata: PushRequest["metadata"]): Pick<Secret, "replication"> {
    if (this.parent.includes("/locations/")) return {};
    const cmek = metadata.cmekKeyName
      ? { customerManagedEncryption: { kmsKeyName: metadata.cmekKeyName } }
      : {};
    const locations = metadata.replicationLocations ?? [];
    return locations.length > 0
      ? { replication: { userManaged: { replicas: locations.map((location) => ({ location, ...cmek })) } } }
      : { replication: { automatic: cmek } };
  }

  /** Destroys one of pushsync's versions; one already destroyed (or gone) counts as done. */
  private async destroyVersion(key: string, name: string): Promise<void> {
    try {
      await this.call("DestroySecretVersion", key, () => this.client.destroySecretVersion({ name }));
    } catch (err) {
      if (!hasStatus(err, Grpc.FAILED_PRECONDITION) && !hasStatus(err, Grpc.NOT_FOUND)) throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const secret = await this.fetchSecret(key);
    if (!secret) return;
    if (secret.labels?.[MANAGED_BY_KEY] === undefined) {
      throw new ProviderError(
        "NotOwned",
        `GCP key '${key}': secret '${lastSegment(secret.name)}' has no managed-by label`,
      );
    }
    try {
      await this.call("DeleteSecret", key, () =>
        this.client.deleteSecret({ name: secret.name, etag: secret.etag ?? "" }),
      );
    } catch (err) {
      if (hasStatus(err, Grpc.NOT_FOUND)) return;
      throw hasStatus(err, Grpc.FAILED_PRECONDITION) ? etagConflict(key, "before it was deleted", err) : err;
    }
  }

  async getSecret(ref: RemoteRef): Promise<Buffer> {
    const version = ref.version ?? "latest";
    if (!/^[A-Za-z0-9_-]+$/.test(version)) {
      throw new ProviderError(
        "Invalid",
        `GCP key '${ref.key}': version '${version}' is not a number, alias or 'latest'`,
      );
    }
    const value = await this.access(ref.key, `${this.nameOf(ref.key)}/versions/${version}`);
    return ref.property === undefined ? value : property(value, ref.key, ref.property);
  }

  /** AccessSecretVersion, checking the payload's CRC32C. A disabled or destroyed version is NotFound. */
  private async access(key: string, name: string): Promise<Buffer> {
    let payload: protos.google.cloud.secretmanager.v1.ISecretPayload | null | undefined;
    try {
      [{ payload }] = await this.call("AccessSecretVersion", key, () =>
        this.client.accessSecretVersion({ name }),
      );
    } catch (err) {
      if (!hasStatus(err, Grpc.FAILED_PRECONDITION)) throw err;
      const message = `GCP key '${key}': version '${lastSegment(name)}' is disabled or destroyed`;
      throw new ProviderError("NotFound", message, false, undefined, { cause: err });
    }
    const value = Buffer.from(payload?.data ?? new Uint8Array());
    const expected = payload?.dataCrc32c;
    if (expected !== null && expected !== undefined && Number(expected) !== crc32c(value)) {
      throw new ProviderError("Invalid", `GCP key '${key}': payload failed its CRC32C check`, true);
    }
    return value;
  }

  async getSecrets(keys: string[]): Promise<Map<string, Buffer>> {
    return this.readAll(keys.map((key) => ({ key, name: `${this.nameOf(key)}/versions/latest` })));
  }

  /** Values of several secrets, READ_CONCURRENCY at a time (Secret Manager has no batch read). */
  private async readAll(items: { key: string; name: string }[]): Promise<Map<string, Buffer>> {
    const values = new Array<Buffer | undefined>(items.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < items.length; i = next++) {
        try {
          values[i] = await this.access(items[i]!.key, items[i]!.name);
        } catch (err) {
          if (!(err instanceof ProviderError && err.code === "NotFound")) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, items.length) }, worker));
    const out = new Map<string, Buffer>();
    items.forEach((item, i) => {
      if (values[i] !== undefined) out.set(item.key, values[i]);
    });
    return out;
  }

  async findSecrets(query: FindQuery): Promise<Map<string, Buffer>> {
    const terms = Object.entries(query.tags ?? {}).map(([k, v]) => `labels.${k}="${v}"`);
    // The API has no prefix or regex filter: `name:` narrows by substring, the rest is checked here.
    if (query.path) terms.push(`name:"${secretIdForKey(query.path)}"`);
    const nameRegexp = query.nameRegexp === undefined ? undefined : new RegExp(query.nameRegexp);
    const matches: { key: string; name: string }[] = [];
    let pageToken: string | undefined;
    do {
      const [secrets, next] = await this.call("ListSecrets", `${this.parent}/*`, () =>
        this.client.listSecrets(
          { parent: this.parent, filter: terms.join(" AND "), pageSize: LIST_PAGE_SIZE, pageToken },
          { autoPaginate: false },
        ),
      );
      for (const secret of secrets) {
        const key = keyForSecretId(lastSegment(secret.name));
        if (query.path && !key.startsWith(query.path)) continue;
        if (nameRegexp && !nameRegexp.test(key)) continue;
        matches.push({ key, name: `${secret.name}/versions/latest` });
      }
      pageToken = next?.pageToken || undefined;
    } while (pageToken);
    return this.readAll(matches);
  }

  async secretExists(key: string): Promise<boolean> {
    return (await this.fetchSecret(key)) !== undefined;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export function createGcpSecretManagerProvider(options: GcpSecretManagerOptions): SecretStoreProvider {
  return new GcpSecretManagerProvider(options);
}
