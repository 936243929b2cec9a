/**
 * AWS Secrets Manager as a SecretStoreProvider (@aws-sdk/client-secrets-manager v3).
 *
 * - Write side: CreateSecret when the secret is absent, otherwise [RestoreSecret], [UpdateSecret
 *   for a changed description or KMS key], PutSecretValue, TagResource with the marker and the
 *   PushSecret's tags, [UntagResource for user tags no longer wanted]. Every value write carries
 *   ClientRequestToken = the engine's idempotency token, so a retried push creates no new version.
 *   The value goes in before the tags that describe it: a crash in between leaves a marker whose
 *   version id is not AWSCURRENT's, which reads as "not marked" and gets pushed again.
 * - State comes from ListSecrets / DescribeSecret only (tags + SecretVersionsToStages), never
 *   from reading values. listNames is ListSecrets without the tag filter (100 names a page),
 *   narrowed by name prefixes.
 * - Credentials: `credentials` if given, else the SDK's default chain (env, web identity, Lambda
 *   role, ...); with `role`, that identity assumes the role through STS AssumeRole (ExternalId
 *   when given) and the SDK refreshes the session before it expires.
 * - Endpoint: `endpoint`, else what the SDK reads itself (AWS_ENDPOINT_URL_SECRETS_MANAGER,
 *   AWS_ENDPOINT_URL; STS likewise reads AWS_ENDPOINT_URL_STS).
 * - SDK retries are off; every API call is counted in `calls` and failures become ProviderError.
 */
import { isUtf8 } from "node:buffer";
import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  type Filter,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
} from "@aws-sdk/client-secrets-manager";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { ProviderError } from "../../errors/index.ts";
import { Counters } from "../../observability/counters.ts";
import {
  MANAGED_BY_ESO,
  MANAGED_BY_KEY,
  MANAGED_BY_PUSHSYNC,
  type DeleteOptions,
  type FindQuery,
  type PushRequest,
  type PushResult,
  type RemoteRef,
  type RemoteSecretState,
  type SecretStoreProvider,
} from "../types.ts";
import { classify, toProviderError } from "./errors.ts";
import { isMarkerTagKey, MARKER_TAG_COUNT, markerTags, parseTags, type Tag } from "./marker.ts";
import { toRemoteKey, toSecretName } from "./names.ts";

export const MAX_VALUE_BYTES = 65_536;
/** The key a secret is encrypted with when the PushSecret names none. */
const AWS_MANAGED_KMS_KEY = "alias/aws/secretsmanager";
const MAX_TAGS = 50;
const BATCH_SIZE = 20;
const LIST_PAGE_SIZE = 100;
const FILTER_VALUE = /^[a-zA-Z0-9 :_@/+=.\-!]{0,512}$/;

export interface AwsSecretsManagerProviderOptions {
  storeName: string;
  region: string;
  endpoint?: string;
  /** IAM role to assume (ESO `role`). */
  role?: string;
  /** ExternalId for the assume-role call (ESO `externalID`). */
  externalId?: string;
  /** Prepended to every remote key (ESO `prefix`). */
  prefix?: string;
  forceDeleteWithoutRecovery?: boolean;
  /** 7-30; AWS defaults to 30. */
  recoveryWindowInDays?: number;
  /** Static credentials or a provider; default: the SDK's default chain. */
  credentials?: SecretsManagerClientConfig["credentials"];
  /** Per-request timeout (default 10 s); a timeout surfaces as a retryable Unavailable error. */
  requestTimeoutMs?: number;
}

/** What this provider learns about a secret; description and KMS key let push skip UpdateSecret. */
export interface AwsSecretState extends RemoteSecretState {
  description?: string;
  kmsKeyId?: string;
}

type SecretMetadata = Pick<
  DescribeSecretCommandOutput,
  "Name" | "Tags" | "DeletedDate" | "Description" | "KmsKeyId"
> & { stages?: Record<string, string[]> };

export function createAwsSecretsManagerProvider(
  options: AwsSecretsManagerProviderOptions,
): SecretStoreProvider {
  return new AwsSecretsManagerProvider(options);
}

class AwsSecretsManagerProvider implements SecretStoreProvider {
  readonly kind = "aws-secrets-manager" as const;
  readonly storeName: string;
  /** maxTags counts the PushSecret's own tags: pushsync's marker takes the rest of AWS's 50. */
  readonly limits = { maxValueBytes: MAX_VALUE_BYTES, maxTags: MAX_TAGS - MARKER_TAG_COUNT };
  /** 80% of AWS's quotas: 50/s for writes, 10,000/s for GetSecretValue + DescribeSecret, 100/s for ListSecrets. */
  readonly quotas = { write: 40, read: 8_000, list: 80 };
  readonly calls = new Counters();
  private readonly client: SecretsManagerClient;
  /** Only with `role`: the client that assumes it. */
  private readonly sts: STSClient | undefined;
  private readonly prefix: string;

  constructor(private readonly options: AwsSecretsManagerProviderOptions) {
    this.storeName = options.storeName;
    this.prefix = options.prefix ?? "";
    this.sts = options.role
      ? new STSClient({
          region: options.region,
          maxAttempts: 1,
          ...(options.credentials ? { credentials: options.credentials } : {}),
        })
      : undefined;
    this.client = new SecretsManagerClient({
      region: options.region,
      maxAttempts: 1,
      requestHandler: {
        requestTimeout: options.requestTimeoutMs ?? 10_000,
        throwOnRequestTimeout: true,
        connectionTimeout: 5_000,
      },
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(this.sts && options.role
        ? { credentials: this.assumeRole(this.sts, options.role) }
        : options.credentials
          ? { credentials: options.credentials }
          : {}),
    });
  }

  /** A credentials provider the SDK calls again only when the session nears its expiration. */
  private assumeRole(sts: STSClient, role: string): SecretsManagerClientConfig["credentials"] {
    return async () => {
      this.calls.add("AssumeRole");
      const out = await sts.send(
        new AssumeRoleCommand({
          RoleArn: role,
          RoleSessionName: "pushsync",
          ...(this.options.externalId ? { ExternalId: this.options.externalId } : {}),
        }),
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey)
        throw new ProviderError("PermissionDenied", `STS AssumeRole of ${role} returned no credentials`);
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
        ...(c.Expiration ? { expiration: c.Expiration } : {}),
      };
    };
  }

  /** Counts and runs one API call, turning failures into ProviderError. */
  private async call<T>(operation: string, subject: string, run: () => Promise<T>): Promise<T> {
    this.calls.add(operation);
    try {
      return await run();
    } catch (err) {
      throw toProviderError(err, operation, subject);
    }
  }

  mapKey(key: string): string {
    return toSecretName(key, this.prefix);
  }

  private state(m: SecretMetadata): AwsSecretState | undefined {
    const name = m.Name ?? "";
    const key = toRemoteKey(name, this.prefix);
    if (key === undefined) return undefined;
    const tags = parseTags(m.Tags);
    const current = tags.versionId === undefined ? undefined : m.stages?.[tags.versionId];
    return {
      key,
      name,
      ...(tags.managedBy !== undefined ? { managedBy: tags.managedBy } : {}),
      ...(tags.marker ? { marker: tags.marker } : {}),
      currentIsMarked: tags.marker !== undefined && (current?.includes("AWSCURRENT") ?? false),
      pendingDeletion: m.DeletedDate !== undefined,
      tags: tags.userTags,
      ...(m.Description !== undefined ? { description: m.Description } : {}),
      ...(m.KmsKeyId !== undefined ? { kmsKeyId: m.KmsKeyId } : {}),
    };
  }

  // --- write side -----------------------------------------------------------------------------

  async *listManaged(): AsyncIterable<RemoteSecretState> {
    const filters: Filter[] = [
      { Key: "tag-key", Values: [MANAGED_BY_KEY] },
      { Key: "tag-value", Values: [MANAGED_BY_PUSHSYNC, MANAGED_BY_ESO] },
      ...(this.prefix ? [{ Key: "name" as const, Values: [this.prefix] }] : []),
    ];
    let nextToken: string | undefined;
    do {
      const out = await this.call("ListSecrets", `store ${this.storeName}`, () =>
        this.client.send(
          new ListSecretsCommand({
            Filters: filters,
            MaxResults: LIST_PAGE_SIZE,
            IncludePlannedDeletion: true,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        ),
      );
      for (const entry of out.SecretList ?? []) {
        const state = this.state({ ...entry, stages: entry.SecretVersionsToStages });
        if (state && (state.managedBy === MANAGED_BY_PUSHSYNC || state.managedBy === MANAGED_BY_ESO))
          yield state;
      }
      nextToken = out.NextToken;
    } while (nextToken);
  }

  /** ListSecrets without the tag filter, scheduled deletions included; `prefixes` become a name filter. */
  async *listNames(prefixes?: string[]): AsyncIterable<string[]> {
    const usable = (p: string): boolean => p !== "" && !p.startsWith("!") && FILTER_VALUE.test(p);
    const values =
      prefixes && prefixes.length > 0 && prefixes.length <= 10 && prefixes.every(usable)
        ? prefixes
        : [this.prefix].filter((p) => p !== "");
    let nextToken: string | undefined;
    do {
      const out = await this.call("ListSecrets", `store ${this.storeName}`, () =>
        this.client.send(
          new ListSecretsCommand({
            ...(values.length > 0 ? { Filters: [{ Key: "name", Values: values }] } : {}),
            MaxResults: LIST_PAGE_SIZE,
            IncludePlannedDeletion: true,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        ),
      );
      yield (out.SecretList ?? []).map((entry) => entry.Name ?? "");
      nextToken = out.NextToken;
    } while (nextToken);
  }

  async describe(key: string): Promise<AwsSecretState | undefined> {
    const name = this.mapKey(key);
    try {
      const out = await this.call("DescribeSecret", name, () =>
        this.client.send(new DescribeSecretCommand({ SecretId: name })),
      );
      return this.state({ ...out, stages: out.VersionIdsToStages });
    } catch (err) {
      if (err instanceof ProviderError && err.code === "NotFound") return undefined;
      throw err;
    }
  }

  async push(request: PushRequest): Promise<PushResult> {
    const name = this.mapKey(request.key);
    const { metadata, idempotencyToken: token } = request;
    if (request.value.length > MAX_VALUE_BYTES)
      throw new ProviderError(
        "TooLarge",
        `value for AWS secret ${name} is ${request.value.length} bytes; AWS allows ${MAX_VALUE_BYTES}`,
      );
    const binary = metadata.secretPushFormat === "binary";
    if (!binary && !isUtf8(request.value))
      throw new ProviderError(
        "Invalid",
        `value for AWS secret ${name} is not UTF-8 text; set secretPushFormat: binary to push it as SecretBinary`,
      );
    const value = binary ? { SecretBinary: request.value } : { SecretString: request.value.toString("utf8") };
    const userTags = metadata.tags ?? {};
    const tags = this.tagsFor(name, request, userTags);

    if (!request.current) {
      const out = await this.call("CreateSecret", name, () =>
        this.client.send(
          new CreateSecretCommand({
            Name: name,
            ClientRequestToken: token,
            ...value,
            Tags: tags,
            ...(metadata.description !== undefined ? { Description: metadata.description } : {}),
            ...(metadata.kmsKeyId !== undefined ? { KmsKeyId: metadata.kmsKeyId } : {}),
          }),
        ),
      );
      return { action: "created", ...(out.VersionId ? { versionId: out.VersionId } : {}) };
    }

    if (request.restore)
      await this.call("RestoreSecret", name, () =>
        this.client.send(new RestoreSecretCommand({ SecretId: name })),
      );
    const known: AwsSecretState = request.current;
    // UpdateSecret leaves what it is not given, so a description the PushSecret no longer sets is
    // cleared with "" (AWS then omits it); "" and none are the same description.
    const description =
      (metadata.description ?? "") !== (known.description ?? "") ? (metadata.description ?? "") : undefined;
    // Likewise a KMS key the PushSecret no longer names goes back to the AWS managed key, for which
    // AWS reports no key at all.
    const wantedKey = metadata.kmsKeyId ?? AWS_MANAGED_KMS_KEY;
    const kmsKeyId = wantedKey !== (known.kmsKeyId ?? AWS_MANAGED_KMS_KEY) ? wantedKey : undefined;
    if (description !== undefined || kmsKeyId !== undefined)
      await this.call("UpdateSecret", name, () =>
        this.client.send(
          new UpdateSecretCommand({
            SecretId: name,
            ...(description !== undefined ? { Description: description } : {}),
            ...(kmsKeyId !== undefined ? { KmsKeyId: kmsKeyId } : {}),
          }),
        ),
      );
    const out = await this.call("PutSecretValue", name, () =>
      this.client.send(new PutSecretValueCommand({ SecretId: name, ClientRequestToken: token, ...value })),
    );
    await this.call("TagResource", name, () =>
      this.client.send(new TagResourceCommand({ SecretId: name, Tags: tags })),
    );
    const unwanted = Object.keys(request.current.tags).filter((k) => !(k in userTags));
    if (unwanted.length > 0)
      await this.call("UntagResource", name, () =>
        this.client.send(new UntagResourceCommand({ SecretId: name, TagKeys: unwanted })),
      );
    return { action: "updated", ...(out.VersionId ? { versionId: out.VersionId } : {}) };
  }

  private tagsFor(name: string, request: PushRequest, userTags: Record<string, string>): Tag[] {
    for (const key of Object.keys(userTags))
      if (isMarkerTagKey(key))
        throw new ProviderError(
          "Invalid",
          `tag "${key}" on AWS secret ${name} is reserved for pushsync's marker`,
        );
    const tags = [
      ...markerTags(request.marker, request.idempotencyToken),
      ...Object.entries(userTags).map(([Key, Value]) => ({ Key, Value })),
    ];
    if (tags.length > MAX_TAGS)
      throw new ProviderError(
        "TooLarge",
        `AWS secret ${name} would carry ${tags.length} tags; AWS allows ${MAX_TAGS}, ${MARKER_TAG_COUNT} of them for pushsync's marker`,
      );
    return tags;
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    const name = this.mapKey(key);
    const force = options.force ?? this.options.forceDeleteWithoutRecovery ?? false;
    const window = options.recoveryWindowInDays ?? this.options.recoveryWindowInDays;
    try {
      await this.call("DeleteSecret", name, () =>
        this.client.send(
          new DeleteSecretCommand({
            SecretId: name,
            ...(force
              ? { ForceDeleteWithoutRecovery: true }
              : window !== undefined
                ? { RecoveryWindowInDays: window }
                : {}),
          }),
        ),
      );
    } catch (err) {
      // Absent, or already scheduled for deletion: nothing left to do.
      if (err instanceof ProviderError && (err.code === "NotFound" || err.code === "Deleted")) return;
      throw err;
    }
  }

  // --- read side ------------------------------------------------------------------------------

  async getSecret(ref: RemoteRef): Promise<Buffer> {
    const name = this.mapKey(ref.key);
    // ESO: "uuid/<id>" selects a VersionId, anything else a staging label.
    const version = ref.version?.startsWith("uuid/")
      ? { VersionId: ref.version.slice("uuid/".length) }
      : ref.version
        ? { VersionStage: ref.version }
        : {};
    const out = await this.call("GetSecretValue", name, () =>
      this.client.send(new GetSecretValueCommand({ SecretId: name, ...version })),
    );
    const value = valueOf(out, name);
    return ref.property === undefined || ref.property === ""
      ? value
      : jsonProperty(value, ref.property, name);
  }

  async getSecrets(keys: string[]): Promise<Map<string, Buffer>> {
    const keyOf = new Map(keys.map((k) => [this.mapKey(k), k]));
    const names = [...keyOf.keys()];
    const result = new Map<string, Buffer>();
    for (let i = 0; i < names.length; i += BATCH_SIZE) {
      const batch = names.slice(i, i + BATCH_SIZE);
      const subject = `${batch.length} secrets`;
      const out = await this.call("BatchGetSecretValue", subject, () =>
        this.client.send(new BatchGetSecretValueCommand({ SecretIdList: batch })),
      );
      for (const e of out.Errors ?? []) {
        const { code, retryable } = classify(e.ErrorCode ?? "UnknownError", e.Message);
        if (code === "NotFound" || code === "Deleted") continue;
        throw new ProviderError(
          code,
          `AWS Secrets Manager BatchGetSecretValue on ${e.SecretId} failed with ${e.ErrorCode}: ${e.Message ?? ""}`,
          retryable,
        );
      }
      for (const v of out.SecretValues ?? []) {
        const key = v.Name === undefined ? undefined : keyOf.get(v.Name);
        if (key !== undefined) result.set(key, valueOf(v, v.Name ?? ""));
      }
    }
    return result;
  }

  async findSecrets(query: FindQuery): Promise<Map<string, Buffer>> {
    const regexp = query.nameRegexp === undefined ? undefined : new RegExp(query.nameRegexp);
    const wantedTags = Object.entries(query.tags ?? {});
    // Server-side filters narrow the listing; every condition is checked again below.
    const filters: Filter[] = [];
    const namePrefix = this.prefix + (query.path ?? "");
    if (namePrefix) filters.push({ Key: "name", Values: [namePrefix] });
    for (const [k, v] of wantedTags) {
      if (filters.length <= 8 && FILTER_VALUE.test(k) && FILTER_VALUE.test(v))
        filters.push({ Key: "tag-key", Values: [k] }, { Key: "tag-value", Values: [v] });
    }
    const keys: string[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.call("ListSecrets", `store ${this.storeName}`, () =>
        this.client.send(
          new ListSecretsCommand({
            Filters: filters,
            MaxResults: LIST_PAGE_SIZE,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        ),
      );
      for (const entry of out.SecretList ?? []) {
        const key = toRemoteKey(entry.Name ?? "", this.prefix);
        if (key === undefined || !key.startsWith(query.path ?? "")) continue;
        if (regexp && !regexp.test(key)) continue;
        const tags = new Map((entry.Tags ?? []).map((t) => [t.Key, t.Value]));
        if (wantedTags.every(([k, v]) => tags.get(k) === v)) keys.push(key);
      }
      nextToken = out.NextToken;
    } while (nextToken);
    return this.getSecrets(keys);
  }

  async secretExists(key: string): Promise<boolean> {
    const state = await this.describe(key);
    return state !== undefined && !state.pendingDeletion;
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.sts?.destroy();
  }
}

function valueOf(out: { SecretString?: string; SecretBinary?: Uint8Array }, name: string): Buffer {
  if (out.SecretString !== undefined) return Buffer.from(out.SecretString, "utf8");
  if (out.SecretBinary !== undefined) return Buffer.from(out.SecretBinary);
  throw new ProviderError("NotFound", `AWS secret ${name} has no value in the requested version`);
}

/**
 * One property of a JSON secret, as ESO reads it (gjson): a top-level key containing dots is
 * tried first, then the dotted path through objects and array indices ("a.b", "list.0"; "\."
 * escapes a dot). Strings come out as their text, other values as JSON, null as "".
 */
function jsonProperty(value: Buffer, property: string, name: string): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(value.toString("utf8"));
  } catch {
    throw new ProviderError(
      "Invalid",
      `AWS secret ${name} is not JSON, so property "${property}" cannot be read`,
    );
  }
  const found =
    property.includes(".") && isObject(doc) && Object.hasOwn(doc, property)
      ? { value: doc[property] }
      : walk(
          doc,
          property.split(/(?<!\\)\./).map((s) => s.replaceAll("\\.", ".")),
        );
  if (!found)
    throw new ProviderError("NotFound", `property "${property}" does not exist in AWS secret ${name}`);
  const v = found.value;
  return Buffer.from(typeof v === "string" ? v : v === null ? "" : JSON.stringify(v), "utf8");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function walk(doc: unknown, path: string[]): { value: unknown } | undefined {
  let cur = doc;
  for (const seg of path) {
    if (Array.isArray(cur) && /^\d+$/.test(seg) && Number(seg) < cur.length) cur = cur[Number(seg)];
    else if (isObject(cur) && Object.hasOwn(cur, seg)) cur = cur[seg];
    else return undefined;
  }
  return { value: cur };
}
