/**
 * A VaultSource for a Vault SecretStore (ESO's `spec.provider.vault`), for pushsync running
 * outside Kubernetes (`pushsync plan` / `sync`).
 *
 * From the store: `server`, `namespace`, `caBundle` (base64 of PEM; `caProvider` is refused),
 * `version` (the KV version of the store's `path` mount) and `auth`:
 *   tokenSecretRef, or no auth  the token as spec/secret-refs.ts `vaultTokenSource` finds it
 *   appRole                     roleId or roleRef, and secretRef
 *   kubernetes                  role and mountPath; the JWT from secretRef, else the pod's own
 *                               service-account token file (serviceAccountRef cannot be minted here)
 *   jwt                         path, role; the JWT from secretRef, else (kubernetesServiceAccountToken)
 *                               the pod's own service-account token file
 * Secret references are read at login, so a missing one fails the entries reading from this
 * store, naming the variable and the file that were looked at.
 *
 * The environment wins over the store, as Vault CLI users expect: VAULT_ADDR replaces `server`,
 * VAULT_NAMESPACE replaces `namespace`, VAULT_CACERT (a PEM file) replaces the CA, and
 * VAULT_TOKEN replaces the store's whole `auth`.
 */
import { readFileSync } from "node:fs";
import { resourceId, type SecretKeySelector } from "../spec/common.ts";
import {
  readSecretRef,
  secretRefLocations,
  vaultTokenSource,
  type SecretRefReader,
} from "../spec/secret-refs.ts";
import type { SecretStore } from "../spec/secret-store.ts";
import type { Logger } from "../observability/logger.ts";
import { appRoleAuth } from "./auth/approle.ts";
import { jwtAuth } from "./auth/jwt.ts";
import { DEFAULT_SERVICE_ACCOUNT_TOKEN_FILE, kubernetesAuth } from "./auth/kubernetes.ts";
import { tokenAuth } from "./auth/token.ts";
import { trimSlashes, type VaultAuth } from "./auth/types.ts";
import { createVaultSource, type VaultSourceOptions } from "./client.ts";
import { VaultInvalidError, type VaultSource } from "./types.ts";

type Env = Record<string, string | undefined>;

export interface VaultFromStoreOptions {
  /** Default process.env. */
  env?: Env;
  logger?: Logger;
  /** Namespace for references without one in a ClusterSecretStore. Default "default". */
  namespace?: string;
  /** Reads secret references instead of the environment and files (the in-cluster puller). */
  readSecretRef?: SecretRefReader;
}

const set = (v: string | undefined): string | undefined => (v && v.trim() !== "" ? v.trim() : undefined);

/** Throws VaultInvalidError for store settings that cannot be used; everything else fails at login. */
export function vaultSourceFromStore(store: SecretStore, options: VaultFromStoreOptions = {}): VaultSource {
  return createVaultSource(vaultOptionsFromStore(store, options));
}

export function vaultOptionsFromStore(
  store: SecretStore,
  options: VaultFromStoreOptions = {},
): VaultSourceOptions {
  const env = options.env ?? process.env;
  const spec = store.spec.provider.vault;
  const id = resourceId(store);
  if (!spec) throw new VaultInvalidError(`store ${id} is not a Vault store`);
  const namespace = store.metadata.namespace || options.namespace || "default";
  const readRef: SecretRefReader = options.readSecretRef ?? ((ref, ns) => readSecretRef(ref, ns, env));
  const read = async (ref: SecretKeySelector, field: string): Promise<string> => {
    const value = await readRef(ref, namespace);
    if (value !== undefined) return value;
    const where = secretRefLocations(ref, namespace, env);
    throw new VaultInvalidError(`store ${id}: ${field}: set ${where.env} or write the file ${where.file}`);
  };

  const vaultNamespace = set(env.VAULT_NAMESPACE) ?? spec.namespace;
  if (spec.auth?.namespace !== undefined && spec.auth.namespace !== vaultNamespace) {
    throw new VaultInvalidError(
      `store ${id}: spec.provider.vault.auth.namespace: logging in to another namespace than the one read is not supported`,
    );
  }
  const out: VaultSourceOptions = {
    address: set(env.VAULT_ADDR) ?? spec.server,
    auth: set(env.VAULT_TOKEN)
      ? tokenAuth({ token: env.VAULT_TOKEN! })
      : storeAuth(store, namespace, env, read, readRef),
    ...(options.logger ? { logger: options.logger } : {}),
  };
  if (vaultNamespace) out.namespace = vaultNamespace;
  if (spec.path) out.kvVersions = { [trimSlashes(spec.path)]: spec.version === "v1" ? 1 : 2 };

  const caFile = set(env.VAULT_CACERT);
  if (caFile) out.caBundle = readCaFile(caFile, id);
  else if (spec.caBundle) out.caBundle = Buffer.from(spec.caBundle, "base64").toString("utf8");
  else if (spec.caProvider) {
    throw new VaultInvalidError(
      `store ${id}: spec.provider.vault.caProvider is not read outside Kubernetes; set caBundle or VAULT_CACERT`,
    );
  }
  return out;
}

function readCaFile(file: string, id: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "read error";
    throw new VaultInvalidError(`store ${id}: VAULT_CACERT: cannot read ${file} (${code})`);
  }
}

/** An auth method whose settings are read from secret references at login time. */
function lazy(method: string, make: () => Promise<VaultAuth>): VaultAuth {
  return { method, login: async (client) => (await make()).login(client) };
}

function storeAuth(
  store: SecretStore,
  namespace: string,
  env: Env,
  read: (ref: SecretKeySelector, field: string) => Promise<string>,
  readRef: SecretRefReader,
): VaultAuth {
  const auth = store.spec.provider.vault!.auth;
  const field = "spec.provider.vault.auth";
  if (auth?.appRole) {
    const { path, roleId, roleRef, secretRef } = auth.appRole;
    return lazy("approle", async () =>
      appRoleAuth({
        mount: path,
        roleId: roleId ?? (await read(roleRef!, `${field}.appRole.roleRef`)),
        secretId: await read(secretRef, `${field}.appRole.secretRef`),
      }),
    );
  }
  if (auth?.kubernetes) {
    const { mountPath, role, secretRef } = auth.kubernetes;
    if (!secretRef) return kubernetesAuth({ role, mount: mountPath });
    return lazy("kubernetes", async () => {
      const jwt = await read(secretRef, `${field}.kubernetes.secretRef`);
      return { method: "kubernetes", login: (client) => client.login(trimSlashes(mountPath), { role, jwt }) };
    });
  }
  if (auth?.jwt) {
    const { path, role, secretRef } = auth.jwt;
    const common = { mount: path, ...(role !== undefined ? { role } : {}) };
    if (!secretRef) return jwtAuth({ ...common, jwtFile: DEFAULT_SERVICE_ACCOUNT_TOKEN_FILE });
    return lazy("jwt", async () =>
      jwtAuth({ ...common, jwt: await read(secretRef, `${field}.jwt.secretRef`) }),
    );
  }
  return lazy("token", async () => tokenAuth(await vaultTokenSource(store, namespace, env, readRef)));
}
