/**
 * Secrets Manager (awsJson 1.1, X-Amz-Target "secretsmanager.<Operation>") in memory.
 *
 * Shapes follow botocore's service model (secretsmanager/2017-10-17); error types, status
 * codes and messages follow what AWS answers. Rules worth knowing:
 * - Lookup by name, full ARN or partial ARN (without the "-xxxxxx" suffix). A partial ARN whose
 *   name itself ends in "-" and six alphanumerics is read as a full ARN, as AWS does, and is not
 *   found: the reason AWS advises against such names.
 * - ClientRequestToken is the VersionId of the version a write creates. The same token with the
 *   same value is a no-op that answers the existing version; with another value it is
 *   ResourceExistsException.
 * - A secret scheduled for deletion keeps its name; everything but Describe, Restore, Delete
 *   with ForceDeleteWithoutRecovery and ListSecretVersionIds fails with InvalidRequestException.
 *   The recovery window is not enforced by a clock: the secret stays scheduled until restored
 *   or force-deleted.
 * - ListSecrets filter values match by prefix (description and "all": words, not case-sensitive)
 *   and a leading "!" negates: a secret passes a filter when some attribute matches one of its
 *   plain values (if any) and no attribute matches one of its "!" values. Filters are ANDed.
 */
import { randomInt } from "node:crypto";
import {
  AwsError,
  type AwsJsonService,
  type Input,
  page,
  readBlob,
  readBoolean,
  readList,
  readNumber,
  readString,
  readStringList,
  readStructure,
  validationError,
} from "./protocol.ts";

const MAX_VALUE_BYTES = 65_536;
const MAX_TAGS = 50;
const MAX_VERSIONS = 100;
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]+$/;
const TAG_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const FILTER_VALUE_PATTERN = /^!?[a-zA-Z0-9 :_@/+=.\-!]*$/;
const ARN_SUFFIX = /-[A-Za-z0-9]{6}$/;
const FILTER_KEYS = [
  "description",
  "name",
  "tag-key",
  "tag-value",
  "primary-region",
  "owning-service",
  "all",
];

const MSG_NOT_FOUND = "Secrets Manager can't find the specified secret.";
const MSG_MARKED_FOR_DELETION =
  "You can't perform this operation on the secret because it was marked for deletion.";
const MSG_NEED_TOKEN = "You must provide a ClientRequestToken value. We recommend a UUID-type value.";

interface Tag {
  Key: string;
  Value: string;
}

interface SecretValue {
  string?: string;
  binary?: Buffer;
}

interface Version {
  id: string;
  value: SecretValue;
  stages: string[];
  created: number;
  lastAccessed?: number;
}

interface Secret {
  name: string;
  arn: string;
  /** Creation order, to sort secrets created within the same millisecond. */
  seq: number;
  description?: string;
  kmsKeyId?: string;
  tags: Tag[];
  /** In creation order. */
  versions: Map<string, Version>;
  created: number;
  lastChanged: number;
  lastAccessed?: number;
  /** Set while scheduled for deletion: the date the deletion takes effect. */
  deletedDate?: number;
}

/** Epoch seconds with milliseconds, as AWS's JSON protocols send timestamps. */
function now(): number {
  return Date.now() / 1000;
}

/** Midnight UTC of today: AWS records LastAccessedDate to the day. */
function today(): number {
  const d = new Date();
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) / 1000;
}

function randomSuffix(): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < 6; i++) s += chars[randomInt(chars.length)];
  return s;
}

function sameValue(a: SecretValue, b: SecretValue): boolean {
  const binaryEqual = a.binary && b.binary ? a.binary.equals(b.binary) : a.binary === b.binary;
  return a.string === b.string && binaryEqual;
}

/** Words as AWS splits search strings: at punctuation, lower-to-upper case and letter/digit changes. */
function words(s: string): string[] {
  return s
    .split(/[^\p{L}\p{N}]+/u)
    .flatMap((part) => part.split(/(?<=\p{Ll})(?=\p{Lu})|(?<=\p{L})(?=\p{N})|(?<=\p{N})(?=\p{L})/u))
    .filter((w) => w.length > 0)
    .map((w) => w.toLowerCase());
}

function prefixMatch(pattern: string, attribute: string): boolean {
  return attribute.startsWith(pattern);
}

/** Every word of the pattern starts some word of the attribute. */
function wordsMatch(pattern: string, attribute: string): boolean {
  const wanted = words(pattern);
  const have = words(attribute);
  return wanted.length > 0 && wanted.every((w) => have.some((h) => h.startsWith(w)));
}

export interface SecretsManagerOptions {
  region: string;
  accountId: string;
}

/**
 * The AWS managed key (its alias, or an empty KmsKeyId on UpdateSecret) is what a secret has
 * without a key of its own; Describe and List omit KmsKeyId for it.
 */
const AWS_MANAGED_KEY_ALIAS = "alias/aws/secretsmanager";
const isCustomerKey = (kmsKeyId: string): boolean => kmsKeyId !== "" && kmsKeyId !== AWS_MANAGED_KEY_ALIAS;
export class LocalSecretsManager implements AwsJsonService {
  readonly targetPrefix = "secretsmanager";
  readonly contentType = "application/x-amz-json-1.1";
  private secrets = new Map<string, Secret>();
  private seq = 0;
  private readonly arnPrefix: string;

  constructor(private readonly options: SecretsManagerOptions) {
    this.arnPrefix = `arn:aws:secretsmanager:${options.region}:${options.accountId}:secret:`;
  }

  reset(): void {
    this.secrets.clear();
  }

  handle(operation: string, input: Input): unknown {
    switch (operation) {
      case "CreateSecret":
        return this.createSecret(input);
      case "PutSecretValue":
        return this.putSecretValue(input);
      case "UpdateSecret":
        return this.updateSecret(input);
      case "GetSecretValue":
        return this.getSecretValue(input);
      case "BatchGetSecretValue":
        return this.batchGetSecretValue(input);
      case "DescribeSecret":
        return this.describeSecret(input);
      case "ListSecrets":
        return this.listSecrets(input);
      case "ListSecretVersionIds":
        return this.listSecretVersionIds(input);
      case "TagResource":
        return this.tagResource(input);
      case "UntagResource":
        return this.untagResource(input);
      case "DeleteSecret":
        return this.deleteSecret(input);
      case "RestoreSecret":
        return this.restoreSecret(input);
      default:
        throw new AwsError("UnknownOperationException", `Operation ${operation} is not supported.`);
    }
  }

  // --- lookup -------------------------------------------------------------------------------

  private lookup(secretId: string): Secret | undefined {
    if (!secretId.startsWith("arn:")) return this.secrets.get(secretId);
    if (!secretId.startsWith(this.arnPrefix)) return undefined;
    for (const s of this.secrets.values()) if (s.arn === secretId) return s;
    const rest = secretId.slice(this.arnPrefix.length);
    // Read as a full ARN whose suffix did not match: not found.
    if (ARN_SUFFIX.test(rest)) return undefined;
    return this.secrets.get(rest);
  }

  private find(input: Input): Secret {
    const id = readString(input, "SecretId", { min: 1, max: 2048, required: true })!;
    const secret = this.lookup(id);
    if (!secret) throw new AwsError("ResourceNotFoundException", MSG_NOT_FOUND);
    return secret;
  }

  /** The secret, which must not be scheduled for deletion. */
  private findLive(input: Input): Secret {
    const secret = this.find(input);
    if (secret.deletedDate !== undefined)
      throw new AwsError("InvalidRequestException", MSG_MARKED_FOR_DELETION);
    return secret;
  }

  // --- input -------------------------------------------------------------------------------

  private readValue(input: Input): SecretValue | undefined {
    const str = readString(input, "SecretString", { min: 1, sensitive: true });
    const bin = readBlob(input, "SecretBinary");
    if (str !== undefined && bin !== undefined)
      throw new AwsError(
        "InvalidParameterException",
        "You can't specify both a binary secret value and a string secret value in the same secret.",
      );
    if (str !== undefined && Buffer.byteLength(str, "utf8") > MAX_VALUE_BYTES)
      throw validationError(
        "SecretString",
        `Member must have length less than or equal to ${MAX_VALUE_BYTES}`,
      );
    if (bin !== undefined && (bin.length < 1 || bin.length > MAX_VALUE_BYTES))
      throw validationError(
        "SecretBinary",
        `Member must have length between 1 and ${MAX_VALUE_BYTES}`, // bytes after base64 decoding
      );
    if (str !== undefined) return { string: str };
    if (bin !== undefined) return { binary: bin };
    return undefined;
  }

  private readToken(input: Input): string | undefined {
    return readString(input, "ClientRequestToken", { min: 32, max: 64 });
  }

  private readTags(input: Input, required: boolean): Tag[] {
    const list = readList(input, "Tags", { required, max: MAX_TAGS }) ?? [];
    return list.map((item) => {
      const t = readStructure(item, "Tags");
      const key = readString(t, "Key", { min: 1, max: 128, required: true })!;
      const value = readString(t, "Value", { max: 256 }) ?? "";
      if (!TAG_PATTERN.test(key))
        throw validationError("tags.member.key", "Member must satisfy regular expression pattern", key);
      if (!TAG_PATTERN.test(value))
        throw validationError("tags.member.value", "Member must satisfy regular expression pattern", value);
      if (key.toLowerCase().startsWith("aws:"))
        throw new AwsError("InvalidParameterException", `Tag key ${key} uses the reserved prefix aws:.`);
      return { Key: key, Value: value };
    });
  }

  private mergeTags(secret: Secret, tags: Tag[]): void {
    const merged = new Map(secret.tags.map((t) => [t.Key, t.Value]));
    for (const t of tags) merged.set(t.Key, t.Value);
    if (merged.size > MAX_TAGS)
      throw new AwsError("LimitExceededException", `A secret can have at most ${MAX_TAGS} tags.`);
    secret.tags = [...merged].map(([Key, Value]) => ({ Key, Value }));
  }

  // --- versions ----------------------------------------------------------------------------

  /**
   * Adds a version, or answers the existing one when the token was already used with the same
   * value. Moves the given stages to it; AWSCURRENT moving away leaves AWSPREVIOUS behind.
   */
  private addVersion(secret: Secret, token: string, value: SecretValue, stages = ["AWSCURRENT"]): Version {
    const existing = secret.versions.get(token);
    if (existing) {
      if (sameValue(existing.value, value)) return existing;
      throw new AwsError(
        "ResourceExistsException",
        `You can't use ClientRequestToken ${token} because that value is already in use for a version of secret ${secret.arn}.`,
      );
    }
    const version: Version = { id: token, value, stages: [], created: now() };
    for (const stage of stages) {
      for (const other of secret.versions.values()) {
        if (!other.stages.includes(stage)) continue;
        other.stages = other.stages.filter((s) => s !== stage);
        if (stage === "AWSCURRENT") {
          for (const v of secret.versions.values()) v.stages = v.stages.filter((s) => s !== "AWSPREVIOUS");
          other.stages.push("AWSPREVIOUS");
        }
      }
      version.stages.push(stage);
    }
    secret.versions.set(token, version);
    this.dropDeprecatedVersions(secret);
    secret.lastChanged = version.created;
    return version;
  }

  private dropDeprecatedVersions(secret: Secret): void {
    for (const v of secret.versions.values()) {
      if (secret.versions.size <= MAX_VERSIONS) return;
      if (v.stages.length === 0) secret.versions.delete(v.id);
    }
  }

  private versionsToStages(secret: Secret): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const v of secret.versions.values()) if (v.stages.length > 0) out[v.id] = [...v.stages];
    return out;
  }

  private valueOf(secret: Secret, versionId?: string, versionStage?: string): Record<string, unknown> {
    let version: Version | undefined;
    if (versionId !== undefined) {
      version = secret.versions.get(versionId);
      if (version && versionStage !== undefined && !version.stages.includes(versionStage))
        throw new AwsError(
          "InvalidRequestException",
          "You provided a VersionStage that is not associated to the provided VersionId.",
        );
      if (!version)
        throw new AwsError(
          "ResourceNotFoundException",
          `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`,
        );
    } else {
      const stage = versionStage ?? "AWSCURRENT";
      version = [...secret.versions.values()].find((v) => v.stages.includes(stage));
      if (!version)
        throw new AwsError(
          "ResourceNotFoundException",
          `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
        );
    }
    const accessed = today();
    version.lastAccessed = accessed;
    secret.lastAccessed = accessed;
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...(version.value.string !== undefined ? { SecretString: version.value.string } : {}),
      ...(version.value.binary !== undefined
        ? { SecretBinary: version.value.binary.toString("base64") }
        : {}),
      VersionStages: [...version.stages],
      CreatedDate: version.created,
    };
  }

  // --- operations ----------------------------------------------------------------------------

  private createSecret(input: Input): unknown {
    const name = readString(input, "Name", { min: 1, max: 512, required: true })!;
    if (!NAME_PATTERN.test(name))
      throw new AwsError(
        "ValidationException",
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
      );
    const token = this.readToken(input);
    const value = this.readValue(input);
    const description = readString(input, "Description", { max: 2048 });
    const kmsKeyId = readString(input, "KmsKeyId", { max: 2048 });
    const tags = this.readTags(input, false);
    if (value && token === undefined) throw new AwsError("InvalidRequestException", MSG_NEED_TOKEN);

    const existing = this.secrets.get(name);
    if (existing) {
      if (existing.deletedDate !== undefined)
        throw new AwsError(
          "InvalidRequestException",
          "You can't create this secret because a secret with this name is already scheduled for deletion.",
        );
      if (token !== undefined && value && existing.versions.has(token)) {
        const version = this.addVersion(existing, token, value);
        return { ARN: existing.arn, Name: existing.name, VersionId: version.id };
      }
      throw new AwsError(
        "ResourceExistsException",
        `The operation failed because the secret ${name} already exists.`,
      );
    }

    const created = now();
    const secret: Secret = {
      name,
      arn: `${this.arnPrefix}${name}-${randomSuffix()}`,
      seq: this.seq++,
      ...(description !== undefined ? { description } : {}),
      ...(kmsKeyId !== undefined && isCustomerKey(kmsKeyId) ? { kmsKeyId } : {}),
      tags: [],
      versions: new Map(),
      created,
      lastChanged: created,
    };
    this.mergeTags(secret, tags);
    const version = value && token !== undefined ? this.addVersion(secret, token, value) : undefined;
    this.secrets.set(name, secret);
    return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.id } : {}) };
  }

  private putSecretValue(input: Input): unknown {
    const secret = this.findLive(input);
    const token = this.readToken(input);
    const value = this.readValue(input);
    const stages =
      input.VersionStages === undefined ? undefined : readStringList(input, "VersionStages", { max: 20 });
    if (!value)
      throw new AwsError("InvalidRequestException", "You must provide either SecretString or SecretBinary.");
    if (token === undefined) throw new AwsError("InvalidRequestException", MSG_NEED_TOKEN);
    const version = this.addVersion(secret, token, value, stages);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  private updateSecret(input: Input): unknown {
    const secret = this.findLive(input);
    const token = this.readToken(input);
    const value = this.readValue(input);
    const description = readString(input, "Description", { max: 2048 });
    const kmsKeyId = readString(input, "KmsKeyId", { max: 2048 });
    if (value && token === undefined) throw new AwsError("InvalidRequestException", MSG_NEED_TOKEN);
    const version = value && token !== undefined ? this.addVersion(secret, token, value) : undefined;
    if (description !== undefined) secret.description = description;
    if (kmsKeyId !== undefined) {
      if (isCustomerKey(kmsKeyId)) secret.kmsKeyId = kmsKeyId;
      else delete secret.kmsKeyId;
    }
    secret.lastChanged = now();
    return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.id } : {}) };
  }

  private getSecretValue(input: Input): unknown {
    const secret = this.findLive(input);
    const versionId = readString(input, "VersionId", { min: 32, max: 64 });
    const versionStage = readString(input, "VersionStage", { min: 1, max: 256 });
    return this.valueOf(secret, versionId, versionStage);
  }

  private batchGetSecretValue(input: Input): unknown {
    const ids =
      input.SecretIdList === undefined ? undefined : readStringList(input, "SecretIdList", { max: 20 });
    const filters = input.Filters === undefined ? undefined : this.readFilters(input);
    const maxResults = readNumber(input, "MaxResults", { min: 1, max: 20 });
    const nextToken = readString(input, "NextToken", { min: 1, max: 4096 });
    if ((ids === undefined) === (filters === undefined))
      throw new AwsError(
        "InvalidParameterException",
        "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
      );
    if (maxResults !== undefined && filters === undefined)
      throw new AwsError(
        "InvalidParameterException",
        "'Filters' not specified. 'Filters' must also be specified when 'MaxResults' is provided.",
      );

    if (ids) {
      const values: unknown[] = [];
      const errors: unknown[] = [];
      for (const id of ids) {
        try {
          values.push(this.getSecretValue({ SecretId: id }));
        } catch (err) {
          if (!(err instanceof AwsError)) throw err;
          errors.push({ SecretId: id, ErrorCode: err.type, Message: err.message });
        }
      }
      return { SecretValues: values, Errors: errors };
    }
    const matching = this.sorted(
      [...this.secrets.values()].filter((s) => s.deletedDate === undefined && this.matches(s, filters!)),
      "created-date",
      "asc",
    );
    const p = page(matching, nextToken, maxResults ?? 20);
    const values: unknown[] = [];
    const errors: unknown[] = [];
    for (const s of p.items) {
      try {
        values.push(this.valueOf(s));
      } catch (err) {
        if (!(err instanceof AwsError)) throw err;
        errors.push({ SecretId: s.name, ErrorCode: err.type, Message: err.message });
      }
    }
    return { SecretValues: values, Errors: errors, ...(p.nextToken ? { NextToken: p.nextToken } : {}) };
  }

  private entry(secret: Secret, versionsMember: "VersionIdsToStages" | "SecretVersionsToStages"): unknown {
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      ...(secret.kmsKeyId !== undefined ? { KmsKeyId: secret.kmsKeyId } : {}),
      LastChangedDate: secret.lastChanged,
      ...(secret.lastAccessed !== undefined ? { LastAccessedDate: secret.lastAccessed } : {}),
      ...(secret.deletedDate !== undefined ? { DeletedDate: secret.deletedDate } : {}),
      ...(secret.tags.length > 0 ? { Tags: secret.tags.map((t) => ({ ...t })) } : {}),
      [versionsMember]: this.versionsToStages(secret),
      CreatedDate: secret.created,
    };
  }

  private describeSecret(input: Input): unknown {
    return this.entry(this.find(input), "VersionIdsToStages");
  }

  private readFilters(input: Input): { key: string; values: string[] }[] {
    const list = readList(input, "Filters", { max: 10 }) ?? [];
    return list.map((item) => {
      const f = readStructure(item, "Filters");
      const key = readString(f, "Key", { required: true })!;
      if (!FILTER_KEYS.includes(key))
        throw validationError(
          "filters.member.key",
          `Member must satisfy enum value set: [${FILTER_KEYS.join(", ")}]`,
          key,
        );
      const values = readStringList(f, "Values", { max: 10 });
      if (values.length === 0)
        throw validationError("filters.member.values", "Member must have length greater than or equal to 1");
      for (const v of values)
        if (v.length > 512 || !FILTER_VALUE_PATTERN.test(v))
          throw validationError("filters.member.values", "Member must satisfy regular expression pattern", v);
      return { key, values };
    });
  }

  private matches(secret: Secret, filters: { key: string; values: string[] }[]): boolean {
    return filters.every(({ key, values }) => {
      const tagKeys = secret.tags.map((t) => t.Key);
      const tagValues = secret.tags.map((t) => t.Value);
      const description = secret.description ? [secret.description] : [];
      const [attributes, match, caseSensitive] = ((): [string[], typeof prefixMatch, boolean] => {
        switch (key) {
          case "name":
            return [[secret.name], prefixMatch, true];
          case "description":
            return [description, wordsMatch, false];
          case "tag-key":
            return [tagKeys, prefixMatch, true];
          case "tag-value":
            return [tagValues, prefixMatch, true];
          case "primary-region":
            return [[this.options.region], prefixMatch, true];
          case "owning-service":
            return [[], prefixMatch, true];
          default: // all
            return [[secret.name, ...description, ...tagKeys, ...tagValues], wordsMatch, false];
        }
      })();
      const norm = (s: string): string => (caseSensitive ? s : s.toLowerCase());
      const hit = (pattern: string): boolean => attributes.some((a) => match(norm(pattern), norm(a)));
      const plain = values.filter((v) => !v.startsWith("!"));
      const negated = values.filter((v) => v.startsWith("!")).map((v) => v.slice(1));
      return (plain.length === 0 || plain.some(hit)) && !negated.some(hit);
    });
  }

  private sorted(list: Secret[], sortBy: string, order: string): Secret[] {
    const field = (s: Secret): number | string => {
      switch (sortBy) {
        case "name":
          return s.name;
        case "last-changed-date":
          return s.lastChanged;
        case "last-accessed-date":
          return s.lastAccessed ?? 0;
        default:
          return s.created;
      }
    };
    const sign = order === "desc" ? -1 : 1;
    return list.sort((a, b) => {
      const fa = field(a);
      const fb = field(b);
      const c = fa < fb ? -1 : fa > fb ? 1 : a.seq - b.seq;
      return sign * c;
    });
  }

  private listSecrets(input: Input): unknown {
    const maxResults = readNumber(input, "MaxResults", { min: 1, max: 100 }) ?? 100;
    const nextToken = readString(input, "NextToken", { min: 1, max: 4096 });
    const filters = this.readFilters(input);
    const includeDeleted = readBoolean(input, "IncludePlannedDeletion") ?? false;
    const order = readString(input, "SortOrder") ?? "asc";
    const sortBy = readString(input, "SortBy") ?? "created-date";
    if (order !== "asc" && order !== "desc")
      throw validationError("sortOrder", "Member must satisfy enum value set: [asc, desc]", order);
    if (!["created-date", "last-accessed-date", "last-changed-date", "name"].includes(sortBy))
      throw validationError(
        "sortBy",
        "Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]",
        sortBy,
      );
    const matching = [...this.secrets.values()].filter(
      (s) => (includeDeleted || s.deletedDate === undefined) && this.matches(s, filters),
    );
    const p = page(this.sorted(matching, sortBy, order), nextToken, maxResults);
    return {
      SecretList: p.items.map((s) => this.entry(s, "SecretVersionsToStages")),
      ...(p.nextToken ? { NextToken: p.nextToken } : {}),
    };
  }

  private listSecretVersionIds(input: Input): unknown {
    const secret = this.find(input);
    const maxResults = readNumber(input, "MaxResults", { min: 1, max: 100 }) ?? 100;
    const nextToken = readString(input, "NextToken", { min: 1, max: 4096 });
    const includeDeprecated = readBoolean(input, "IncludeDeprecated") ?? false;
    const versions = [...secret.versions.values()].filter((v) => includeDeprecated || v.stages.length > 0);
    const p = page(versions, nextToken, maxResults);
    return {
      ARN: secret.arn,
      Name: secret.name,
      Versions: p.items.map((v) => ({
        VersionId: v.id,
        ...(v.stages.length > 0 ? { VersionStages: [...v.stages] } : {}),
        CreatedDate: v.created,
        ...(v.lastAccessed !== undefined ? { LastAccessedDate: v.lastAccessed } : {}),
      })),
      ...(p.nextToken ? { NextToken: p.nextToken } : {}),
    };
  }

  private tagResource(input: Input): unknown {
    const secret = this.findLive(input);
    this.mergeTags(secret, this.readTags(input, true));
    secret.lastChanged = now();
    return {};
  }

  private untagResource(input: Input): unknown {
    const secret = this.findLive(input);
    const keys = readList(input, "TagKeys", { required: true }) as unknown[];
    if (keys.some((k) => typeof k !== "string"))
      throw new AwsError("SerializationException", "Member TagKeys must be a list of strings");
    secret.tags = secret.tags.filter((t) => !keys.includes(t.Key));
    secret.lastChanged = now();
    return {};
  }

  private deleteSecret(input: Input): unknown {
    const id = readString(input, "SecretId", { min: 1, max: 2048, required: true })!;
    const window = readNumber(input, "RecoveryWindowInDays");
    const force = readBoolean(input, "ForceDeleteWithoutRecovery") ?? false;
    if (window !== undefined && force)
      throw new AwsError(
        "InvalidParameterException",
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
      );
    if (window !== undefined && (window < 7 || window > 30))
      throw new AwsError(
        "InvalidParameterException",
        "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
      );
    const secret = this.lookup(id);
    if (force) {
      // AWS answers a forced delete of an absent secret as if it had deleted it.
      if (secret) this.secrets.delete(secret.name);
      const name = secret?.name ?? id;
      return {
        ARN: secret?.arn ?? `${this.arnPrefix}${name}-${randomSuffix()}`,
        Name: name,
        DeletionDate: now(),
      };
    }
    if (!secret) throw new AwsError("ResourceNotFoundException", MSG_NOT_FOUND);
    if (secret.deletedDate !== undefined)
      throw new AwsError("InvalidRequestException", MSG_MARKED_FOR_DELETION);
    const changed = now();
    secret.deletedDate = changed + (window ?? 30) * 86_400;
    secret.lastChanged = changed;
    return { ARN: secret.arn, Name: secret.name, DeletionDate: secret.deletedDate };
  }

  private restoreSecret(input: Input): unknown {
    const secret = this.find(input);
    if (secret.deletedDate !== undefined) {
      delete secret.deletedDate;
      secret.lastChanged = now();
    }
    return { ARN: secret.arn, Name: secret.name };
  }
}
