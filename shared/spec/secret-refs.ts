/**
 * Reading a store's Kubernetes Secret references when pushsync runs without Kubernetes.
 *
 * Stores keep ESO's shape (tokenSecretRef, appRole.secretRef, authSecretRef.clientSecret, ...),
 * so the same manifests work with ESO. Outside a cluster, a reference
 * `{ name, key, namespace }` is read from, in order:
 *   1. the environment variable PUSHSYNC_SECRET_<NAMESPACE>_<NAME>_<KEY>, upper-cased, every
 *      character other than A-Z and 0-9 replaced by "_"
 *      (namespace default, name vault-token, key token: PUSHSYNC_SECRET_DEFAULT_VAULT_TOKEN_TOKEN);
 *   2. the file <dir>/<namespace>/<name>/<key>, the layout of a Secret mounted as a volume,
 *      where <dir> is PUSHSYNC_SECRETS_DIR or ".pushsync/secrets"; one trailing newline is dropped.
 * The namespace is the reference's own, else the store's, else (ClusterSecretStore) the
 * namespace of the resource using the store.
 *
 * A Vault store's token: its tokenSecretRef read as above; when that is absent or unreadable,
 * or the store has no `auth`, VAULT_TOKEN, then the file ~/.vault-token (as the Vault CLI).
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { PushsyncError } from "../errors/index.ts";
import type { SecretKeySelector } from "./common.ts";
import type { SecretStore } from "./secret-store.ts";

type Env = Record<string, string | undefined>;

/**
 * Reads a reference another way (in a cluster: from the Secret itself): undefined when absent,
 * or an error of its own that names what is missing.
 */
export type SecretRefReader = (ref: SecretKeySelector, namespace: string) => Promise<string | undefined>;

/** Where a reference is looked for: the environment variable and the file. */
export function secretRefLocations(
  ref: SecretKeySelector,
  namespace: string,
  env: Env = process.env,
): { env: string; file: string } {
  const ns = ref.namespace ?? namespace;
  const key = ref.key ?? "";
  const envName = ["PUSHSYNC_SECRET", ns, ref.name, key]
    .join("_")
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, "_");
  const dir = env.PUSHSYNC_SECRETS_DIR ?? join(".pushsync", "secrets");
  return { env: envName, file: join(dir, ns, ref.name, key) };
}

/** The referenced value, or undefined when neither the variable nor the file exists. */
export async function readSecretRef(
  ref: SecretKeySelector,
  namespace: string,
  env: Env = process.env,
): Promise<string | undefined> {
  const where = secretRefLocations(ref, namespace, env);
  const fromEnv = env[where.env];
  if (fromEnv !== undefined) return fromEnv;
  try {
    return (await readFile(where.file, "utf8")).replace(/\r?\n$/, "");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PushsyncError("Invalid", `cannot read ${where.file}: ${(err as NodeJS.ErrnoException).code}`);
  }
}

/**
 * Where a Vault store's token comes from, in the shape token auth takes: the token itself, or
 * the file to read it from at each login.
 */
export async function vaultTokenSource(
  store: SecretStore,
  namespace: string,
  env: Env = process.env,
  read: SecretRefReader = (ref, ns) => readSecretRef(ref, ns, env),
): Promise<{ token: string } | { file: string }> {
  const auth = store.spec.provider.vault?.auth;
  const method = auth && (["appRole", "kubernetes", "jwt"] as const).find((m) => auth[m]);
  if (method)
    throw new PushsyncError("Invalid", `store ${store.metadata.name} uses ${method} auth, not a token`);
  const ref = auth?.tokenSecretRef;
  const fromRef = ref && (await read(ref, store.metadata.namespace || namespace));
  if (fromRef) return { token: fromRef };
  if (env.VAULT_TOKEN) return { token: env.VAULT_TOKEN };
  return { file: join(env.HOME ?? homedir(), ".vault-token") };
}
