/**
 * Azure Key Vault provider (secrets), on @azure/keyvault-secrets with SDK retries off.
 *
 * Write side
 *   push         one SetSecret carrying value, tags (marker + PushSecret tags), contentType and
 *                expiry (ESO expirationDate). With `restore`, the soft-deleted secret is recovered
 *                first and the recovery awaited. Values are checked against the 25,600-byte limit
 *                and for UTF-8 (Key Vault stores text) before any call.
 *   listManaged  GetSecrets pages (metadata and tags, never values), keeping secrets with a
 *                managed-by tag. Soft-deleted secrets are not listed: a mapped key missing from the
 *                listing is described (below), which finds it soft-deleted, so the engine recovers
 *                it rather than recreating it; an unmapped one is already deleted. This keeps a
 *                steady-state reconcile at one page per 25 secrets.
 *                currentIsMarked is true when the current version carries the pushsync marker:
 *                tags are written with the value, so that version holds the recorded value. A value
 *                set by someone else without our tags is a new version without managed-by, so such
 *                a secret is no longer listed here; describe() still finds our marker on the older
 *                version and reports it with currentIsMarked false.
 *                States carry the canonical (lowercase) name that mapKey returns, so match them by
 *                `name`; `key` is decoded from the name (names.ts) and has no leading "/".
 *   listNames    names of every secret, live (GetSecrets) then soft-deleted (GetDeletedSecrets),
 *                25 a page each: what a full plan reads instead of describing many new keys.
 *   describe     GetSecret of the current version, reading only its properties: the SDK has no
 *                metadata-only single-secret read. The value is dropped at once, never returned or
 *                logged. On 404, GetDeletedSecret tells whether it is soft-deleted. When the current
 *                version has no managed-by tag, the version list is read for an earlier marker.
 *   delete       DeleteSecret (soft delete). With purge (DeleteOptions.force or the store's
 *                purgeOnDelete) the deletion is awaited and the secret purged.
 *
 * Read side: GetSecret per key (Key Vault has no batch read), at most 8 at a time.
 *
 * `calls` counts every HTTP request the SDK sends, by Key Vault operation name (SetSecret,
 * GetSecrets, ...), including the ones its pollers make; requests answered 401 (the SDK's first,
 * token-less request that asks the vault which tenant to authenticate against) count as
 * "Unauthenticated".
 */
import { isUtf8 } from "node:buffer";
import type { TokenCredential } from "@azure/identity";
import {
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
} from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import type { SecretClientOptions, SecretProperties } from "@azure/keyvault-secrets";
import { ProviderError } from "../../errors/index.ts";
import { Counters } from "../../observability/counters.ts";
import { MANAGED_BY_KEY } from "../types.ts";
import type {
  DeleteOptions,
  FindQuery,
  ProviderLimits,
  ProviderQuotas,
  PushRequest,
  PushResult,
  RemoteRef,
  RemoteSecretState,
  SecretStoreProvider,
} from "../types.ts";
import { statusOf, toProviderError } from "./errors.ts";
import { MAX_USER_TAGS, buildTags, readMarker, userTagsOf } from "./marker.ts";
import { toRemoteKey, toSecretName } from "./names.ts";

/** ESO's authType for the Azure Key Vault provider. */
export type AzureAuthType = "ServicePrincipal" | "ManagedIdentity" | "WorkloadIdentity";

export interface AzureKeyVaultProviderOptions {
  storeName: string;
  /** e.g. https://my-vault.vault.azure.net */
  vaultUrl: string;
  /** Used as given; otherwise one is built from authType. */
  credential?: TokenCredential;
  tenantId?: string;
  /** ManagedIdentity: client id, or resource id ("/subscriptions/..."); none for the system identity. */
  authType?: AzureAuthType;
  identityId?: string;
  /** ServicePrincipal with a client secret (with tenantId); WorkloadIdentity's client id. */
  clientId?: string;
  clientSecret?: string;
  /**
   * CA certificates (PEM) to trust instead of the system store: the local cloud's CA. Production
   * vaults use the system store (plus NODE_EXTRA_CA_CERTS). Replacing rather than adding keeps
   * connections cheap: Node parses the whole `ca` list for every new TLS connection.
   */
  ca?: string;
  /** Purge after every delete (the secret cannot be recovered afterwards). */
  purgeOnDelete?: boolean;
}

/** Documented: "a maximum size of 25k bytes"; the service reports 25,600. */
export const MAX_VALUE_BYTES = 25_600;
const MAX_CONTENT_TYPE_LENGTH = 255;
const READ_CONCURRENCY = 8;

type PipelinePolicy = NonNullable<SecretClientOptions["additionalPolicies"]>[number]["policy"];

/**
 * Key Vault allows, per vault and region, 4,000 transactions per 10 s for secret reads and lists
 * (all non-create operations together) and 300 per 10 s for secret creation (SetSecret), shared
 * with key and certificate imports. These stay well below: 200 + 50 + 20 per second.
 */
const QUOTAS: ProviderQuotas = { read: 200, write: 20, list: 50 };

export function createAzureKeyVaultProvider(options: AzureKeyVaultProviderOptions): SecretStoreProvider {
  return new AzureKeyVaultProvider(options);
}

function credentialFor(o: AzureKeyVaultProviderOptions): TokenCredential {
  if (o.credential) return o.credential;
  switch (o.authType) {
    case "ManagedIdentity":
      if (!o.identityId) return new ManagedIdentityCredential();
      return o.identityId.startsWith("/")
        ? new ManagedIdentityCredential({ resourceId: o.identityId })
        : new ManagedIdentityCredential({ clientId: o.identityId });
    case "WorkloadIdentity":
      return new WorkloadIdentityCredential({
        ...(o.tenantId ? { tenantId: o.tenantId } : {}),
        ...(o.clientId ? { clientId: o.clientId } : {}),
      });
    default:
      if (o.tenantId && o.clientId && o.clientSecret)
        return new ClientSecretCredential(o.tenantId, o.clientId, o.clientSecret);
      return new DefaultAzureCredential();
  }
}

/** Loopback vaults (the local cloud) can never match the *.vault.azure.net challenge check. */
function isLoopback(vaultUrl: string): boolean {
  const host = new URL(vaultUrl).hostname;
  return host === "localhost" || host === "[::1]" || host.startsWith("127.");
}

/** Key Vault operation name of a request, from its method and path. */
function operationOf(method: string, url: string): string {
  const [collection, name, last] = new URL(url).pathname.slice(1).split("/");
  if (collection === "deletedsecrets") {
    if (name === undefined) return "GetDeletedSecrets";
    if (last === "recover") return "RecoverDeletedSecret";
    return method === "DELETE" ? "PurgeDeletedSecret" : "GetDeletedSecret";
  }
  if (name === undefined) return "GetSecrets";
  if (last === "versions") return "GetSecretVersions";
  return (
    { PUT: "SetSecret", PATCH: "UpdateSecret", DELETE: "DeleteSecret" }[method] ??
    (collection === "secrets" ? "GetSecret" : `${method} ${collection}`)
  );
}

function countingPolicy(calls: Counters): PipelinePolicy {
  return {
    name: "pushsyncCallCounter",
    async sendRequest(request, next) {
      let status = 0;
      try {
        const response = await next(request);
        status = response.status;
        return response;
      } finally {
        calls.add(status === 401 ? "Unauthenticated" : operationOf(request.method, request.url));
      }
    },
  };
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** One JSON property of a value: an exact top-level key first, then a dotted path. */
function property(value: string, ref: RemoteRef & { property: string }): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    throw new ProviderError(
      "Invalid",
      `remote key "${ref.key}" is not a JSON object; cannot read property "${ref.property}"`,
    );
  }
  const lookup = (obj: unknown, k: string): unknown =>
    obj !== null && typeof obj === "object" && Object.hasOwn(obj, k)
      ? (obj as Record<string, unknown>)[k]
      : undefined;
  let found = lookup(doc, ref.property);
  if (found === undefined) found = ref.property.split(".").reduce(lookup, doc);
  if (found === undefined)
    throw new ProviderError("NotFound", `remote key "${ref.key}" has no property "${ref.property}"`);
  return Buffer.from(typeof found === "string" ? found : JSON.stringify(found), "utf8");
}

class AzureKeyVaultProvider implements SecretStoreProvider {
  readonly kind = "azure-key-vault" as const;
  readonly storeName: string;
  readonly limits: ProviderLimits = { maxValueBytes: MAX_VALUE_BYTES, maxTags: MAX_USER_TAGS };
  readonly quotas = QUOTAS;
  readonly calls = new Counters();
  private readonly client: SecretClient;
  private readonly purgeOnDelete: boolean;

  constructor(options: AzureKeyVaultProviderOptions) {
    this.storeName = options.storeName;
    this.purgeOnDelete = options.purgeOnDelete ?? false;
    const clientOptions: SecretClientOptions = {
      retryOptions: { maxRetries: 0 },
      disableChallengeResourceVerification: isLoopback(options.vaultUrl),
      additionalPolicies: [{ policy: countingPolicy(this.calls), position: "perRetry" }],
      ...(options.ca ? { tlsOptions: { ca: options.ca } } : {}),
    };
    let credential: TokenCredential;
    try {
      credential = credentialFor(options);
    } catch (err) {
      throw toProviderError(
        err,
        `set up ${options.authType ?? "default"} credential (store ${this.storeName})`,
      );
    }
    this.client = new SecretClient(options.vaultUrl, credential, clientOptions);
  }

  mapKey(key: string): string {
    return toSecretName(key);
  }

  async *listManaged(): AsyncIterable<RemoteSecretState> {
    try {
      for await (const p of this.client.listPropertiesOfSecrets()) {
        if (p.tags?.[MANAGED_BY_KEY] !== undefined) yield this.state(p, false);
      }
    } catch (err) {
      throw toProviderError(err, "list secrets");
    }
  }

  /**
   * GetSecrets pages, then GetDeletedSecrets pages (soft-deleted names cannot be set again, only
   * recovered), lowercase as mapKey returns them. Key Vault has no name filter: `prefixes` are not used.
   */
  async *listNames(): AsyncIterable<string[]> {
    try {
      for await (const page of this.client.listPropertiesOfSecrets().byPage())
        yield page.map((p) => p.name.toLowerCase());
      for await (const page of this.client.listDeletedSecrets().byPage())
        yield page.map((p) => p.name.toLowerCase());
    } catch (err) {
      throw toProviderError(err, "list secret names");
    }
  }

  async describe(key: string): Promise<RemoteSecretState | undefined> {
    const name = this.mapKey(key);
    let properties: SecretProperties;
    try {
      properties = (await this.client.getSecret(name)).properties;
    } catch (err) {
      if (statusOf(err) !== 404) throw toProviderError(err, this.what("get secret", name, key));
      return this.describeDeleted(key, name);
    }
    const state = { ...this.state(properties, false), key };
    if (state.managedBy !== undefined) return state;
    const earlier = await this.newestMarkedVersion(key, name);
    if (!earlier) return state;
    return {
      ...state,
      managedBy: earlier[MANAGED_BY_KEY],
      marker: readMarker(earlier),
      currentIsMarked: false,
    };
  }

  async push(request: PushRequest): Promise<PushResult> {
    const { key, value, metadata } = request;
    const name = this.mapKey(key);
    if (value.length > MAX_VALUE_BYTES)
      throw new ProviderError(
        "TooLarge",
        `remote key "${key}": value is ${value.length} bytes, Azure Key Vault allows at most ${MAX_VALUE_BYTES}`,
      );
    if (!isUtf8(value))
      throw new ProviderError(
        "Invalid",
        `remote key "${key}": value is not UTF-8 text, which Key Vault requires`,
      );
    if ((metadata.contentType?.length ?? 0) > MAX_CONTENT_TYPE_LENGTH)
      throw new ProviderError(
        "TooLarge",
        `remote key "${key}": contentType is longer than ${MAX_CONTENT_TYPE_LENGTH} characters`,
      );
    const expiresOn = metadata.expirationDate ? new Date(metadata.expirationDate) : undefined;
    if (expiresOn && Number.isNaN(expiresOn.getTime()))
      throw new ProviderError("Invalid", `remote key "${key}": expirationDate is not an RFC 3339 date-time`);
    const tags = buildTags(key, request.marker, metadata.tags);

    if (request.restore) {
      try {
        await (await this.client.beginRecoverDeletedSecret(name)).pollUntilDone();
      } catch (err) {
        throw toProviderError(err, this.what("recover deleted secret", name, key));
      }
    }
    try {
      const written = await this.client.setSecret(name, value.toString("utf8"), {
        tags,
        ...(metadata.contentType ? { contentType: metadata.contentType } : {}),
        ...(expiresOn ? { expiresOn } : {}),
      });
      return {
        action: request.current || request.restore ? "updated" : "created",
        ...(written.properties.version ? { versionId: written.properties.version } : {}),
      };
    } catch (err) {
      throw toProviderError(err, this.what("set secret", name, key));
    }
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    const name = this.mapKey(key);
    const purge = options.force ?? this.purgeOnDelete;
    try {
      const poller = await this.client.beginDeleteSecret(name);
      if (purge) await poller.pollUntilDone();
    } catch (err) {
      if (statusOf(err) !== 404) throw toProviderError(err, this.what("delete secret", name, key));
      // Absent, or already soft-deleted: only a purge has anything left to do.
    }
    if (!purge) return;
    try {
      await this.client.purgeDeletedSecret(name);
    } catch (err) {
      if (statusOf(err) !== 404) throw toProviderError(err, this.what("purge deleted secret", name, key));
    }
  }

  async getSecret(ref: RemoteRef): Promise<Buffer> {
    const name = this.mapKey(ref.key);
    let value: string;
    try {
      value = (await this.client.getSecret(name, ref.version ? { version: ref.version } : {})).value ?? "";
    } catch (err) {
      throw toProviderError(err, this.what("get secret", name, ref.key));
    }
    return ref.property ? property(value, { ...ref, property: ref.property }) : Buffer.from(value, "utf8");
  }

  async getSecrets(keys: string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    await forEachLimit(keys, READ_CONCURRENCY, async (key) => {
      try {
        out.set(key, await this.getSecret({ key }));
      } catch (err) {
        if (!(err instanceof ProviderError && err.code === "NotFound")) throw err;
      }
    });
    return out;
  }

  /** nameRegexp and path apply to the remote key (the name decoded back, see names.ts). */
  async findSecrets(query: FindQuery): Promise<Map<string, Buffer>> {
    const pattern = query.nameRegexp !== undefined ? new RegExp(query.nameRegexp) : undefined;
    const prefix = query.path?.replace(/^\//, "");
    const keys: string[] = [];
    try {
      for await (const p of this.client.listPropertiesOfSecrets()) {
        const key = toRemoteKey(p.name);
        if (p.enabled === false) continue;
        if (pattern && !pattern.test(key)) continue;
        if (prefix !== undefined && !key.startsWith(prefix)) continue;
        if (query.tags && !Object.entries(query.tags).every(([k, v]) => p.tags?.[k] === v)) continue;
        keys.push(key);
      }
    } catch (err) {
      throw toProviderError(err, "list secrets");
    }
    return this.getSecrets(keys);
  }

  async secretExists(key: string): Promise<boolean> {
    const name = this.mapKey(key);
    try {
      await this.client.getSecret(name);
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw toProviderError(err, this.what("get secret", name, key));
    }
  }

  private state(p: SecretProperties, pendingDeletion: boolean): RemoteSecretState {
    const tags = p.tags ?? {};
    const marker = readMarker(tags);
    return {
      key: toRemoteKey(p.name),
      name: p.name.toLowerCase(),
      ...(tags[MANAGED_BY_KEY] !== undefined ? { managedBy: tags[MANAGED_BY_KEY] } : {}),
      ...(marker ? { marker } : {}),
      currentIsMarked: marker !== undefined,
      pendingDeletion,
      tags: userTagsOf(tags),
    };
  }

  private async describeDeleted(key: string, name: string): Promise<RemoteSecretState | undefined> {
    try {
      const deleted = await this.client.getDeletedSecret(name);
      return { ...this.state(deleted.properties, true), key };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw toProviderError(err, this.what("get deleted secret", name, key));
    }
  }

  /** Tags of the newest version carrying a managed-by tag, if any. */
  private async newestMarkedVersion(key: string, name: string): Promise<Record<string, string> | undefined> {
    let newest: SecretProperties | undefined;
    try {
      for await (const v of this.client.listPropertiesOfSecretVersions(name)) {
        if (v.tags?.[MANAGED_BY_KEY] === undefined) continue;
        if (!newest || (v.createdOn?.getTime() ?? 0) >= (newest.createdOn?.getTime() ?? 0)) newest = v;
      }
    } catch (err) {
      throw toProviderError(err, this.what("list secret versions", name, key));
    }
    return newest?.tags;
  }

  private what(operation: string, name: string, key: string): string {
    return `${operation} "${name}" (key "${key}", store ${this.storeName})`;
  }
}
