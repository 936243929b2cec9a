/**
 * What `pushsync plan` and `pushsync sync` share: options, manifests → entries, stores → Vault
 * sources and providers, the fingerprint key, and the plan.
 *
 * Partial runs. A full plan deletes managed remote secrets that no entry maps any more (see
 * shared/engine/engine.ts), which is only right when it sees every entry. So:
 * - with --push-secret or --store, the run takes the selected entries plus every entry writing
 *   the same remote secret (property merges and conflicts look as in a full run), and leaves
 *   unmapped remote secrets out of the plan altogether;
 * - when manifests have errors (some PushSecrets are left out), unmapped remote secrets are
 *   kept and reported as skipped instead of deleted.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  createEngine,
  entriesFromPushes,
  FINGERPRINT_KEY_ENV,
  FINGERPRINT_KEY_FILE_ENV,
  loadFingerprintKey,
  type Plan,
  type PushEntry,
  type Report,
} from "../../shared/engine/index.ts";
import { createLogger, silentLogger, type Logger } from "../../shared/observability/logger.ts";
import { createProvider, type CreateProviderOptions } from "../../shared/providers/index.ts";
import type { SecretStoreProvider } from "../../shared/providers/types.ts";
import {
  formatDiagnostic,
  loadManifests,
  resolvePushSecrets,
  resourceId,
  type SecretStore,
} from "../../shared/spec/index.ts";
import { vaultSourceFromStore } from "../../shared/vault/from-store.ts";
import type { VaultSource } from "../../shared/vault/types.ts";
import { localEnv, readLocalState } from "./local-state.ts";

export const FINGERPRINT_KEY_PATH = path.join(".pushsync", "fingerprint.key");

export interface RunOptions {
  command: "plan" | "sync";
  paths: string[];
  pushSecrets: string[];
  stores: string[];
  output: "text" | "json";
  local: boolean;
}

/** The options, or an exit code when the command should stop (help: 0, usage error: 2). */
export function parseRunArgs(
  command: RunOptions["command"],
  args: string[],
  help: string,
): RunOptions | number {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        manifests: { type: "string", multiple: true },
        "push-secret": { type: "string", multiple: true },
        store: { type: "string", multiple: true },
        output: { type: "string", default: "text" },
        local: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    console.error(`pushsync ${command}: ${(err as Error).message}\n\n${help}`);
    return 2;
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  if (values.output !== "text" && values.output !== "json") {
    console.error(`pushsync ${command}: --output must be text or json\n\n${help}`);
    return 2;
  }
  return {
    command,
    paths: values.manifests ?? ["manifests"],
    pushSecrets: values["push-secret"] ?? [],
    stores: values.store ?? [],
    output: values.output,
    local: values.local,
  };
}

export interface Run {
  options: RunOptions;
  /** The plan for the run's entries, with the partial-run rules above applied. */
  plan(): Promise<Plan>;
  apply(plan: Plan): Promise<Report>;
  /** Manifest, source and store set-up errors, one line each (file:line:column first when known). */
  errors: string[];
  warnings: string[];
  close(): Promise<void>;
}

/** Loads everything a run needs; on failure prints why and returns the exit code. */
export async function prepareRun(options: RunOptions, logger: Logger): Promise<Run | number> {
  const fail = (message: string, code = 1): number => {
    console.error(`pushsync ${options.command}: ${message}`);
    return code;
  };
  const env: Record<string, string | undefined> = { ...process.env };
  const providerOptions: CreateProviderOptions = { env, logger };
  if (options.local) {
    try {
      const state = await readLocalState();
      Object.assign(env, localEnv(state));
      if (state.azure) {
        providerOptions.azure = {
          vaultUrl: state.azure.vaultUrl,
          ca: readFileSync(state.azure.caPath, "utf8"),
        };
      }
    } catch (err) {
      return fail(`--local: ${(err as Error).message}`);
    }
  }
  let key: Buffer;
  try {
    key = fingerprintKey(env);
  } catch (err) {
    return fail((err as Error).message);
  }

  const loaded = await loadManifests(options.paths);
  const built = entriesFromPushes(resolvePushSecrets(loaded.manifests).pushes);
  const errors = [...loaded.errors.map(formatDiagnostic), ...built.errors];
  const warnings = loaded.warnings.map(formatDiagnostic);

  const unmatched = [
    ...options.pushSecrets
      .filter((n) => !built.entries.some((e) => named(e.pushSecret, n)))
      .map((n) => `--push-secret ${n}`),
    ...options.stores.filter((n) => !built.entries.some((e) => named(e.store, n))).map((n) => `--store ${n}`),
  ];
  if (unmatched.length > 0) {
    for (const e of errors) console.error(e);
    return fail(`${unmatched.join(", ")}: matches no valid PushSecret or destination store`, 2);
  }
  const selected = built.entries.filter(
    (e) =>
      (options.pushSecrets.length === 0 || options.pushSecrets.some((n) => named(e.pushSecret, n))) &&
      (options.stores.length === 0 || options.stores.some((n) => named(e.store, n))),
  );

  const storeById = new Map<string, SecretStore>(loaded.manifests.stores.map((s) => [resourceId(s), s]));
  const providers = new Map<string, SecretStoreProvider>();
  for (const id of new Set(selected.map((e) => e.store))) {
    try {
      providers.set(id, createProvider(storeById.get(id)!, providerOptions));
    } catch (err) {
      errors.push(storeError(id, err));
    }
  }
  const filtered = options.pushSecrets.length > 0 || options.stores.length > 0;
  const entries = filtered ? widen(selected, built.entries, providers) : built.entries;
  const sources = new Map<string, VaultSource | Error>();
  for (const id of new Set(entries.map((e) => e.source.vaultStore))) {
    try {
      sources.set(id, vaultSourceFromStore(storeById.get(id)!, { env, logger }));
    } catch (err) {
      sources.set(id, err as Error);
      errors.push(storeError(id, err));
    }
  }
  const engine = createEngine({
    vault: (id) => {
      const source = sources.get(id)!;
      if (source instanceof Error) throw source;
      return source;
    },
    providers,
    fingerprintKey: key,
    logger,
  });
  const manifestErrors = loaded.errors.length > 0 || built.errors.length > 0;
  return {
    options,
    plan: async () => forPartialRun(await engine.plan(entries), filtered, manifestErrors),
    apply: (plan) => engine.apply(plan),
    errors,
    warnings,
    close: async () => {
      await Promise.all([...providers.values()].map((p) => p.close?.()));
      await Promise.all([...sources.values()].map((s) => (s instanceof Error ? undefined : s.close())));
    },
  };
}

/** A store set-up failure as one line that names the store once. */
function storeError(id: string, err: unknown): string {
  const message = (err as Error).message;
  return message.startsWith(`store ${id}`) ? message : `store ${id}: ${message}`;
}

/** "namespace/name" matches "namespace/name" and "name". */
const named = (id: string, name: string): boolean => id === name || id.slice(id.indexOf("/") + 1) === name;

/** The selected entries and every other entry writing one of their remote secrets. */
function widen(
  selected: PushEntry[],
  all: PushEntry[],
  providers: Map<string, SecretStoreProvider>,
): PushEntry[] {
  const target = (e: PushEntry): string => {
    let name = e.remoteKey;
    try {
      name = providers.get(e.store)?.mapKey(e.remoteKey) ?? name;
    } catch {
      // The entry fails on its own in the plan; its remote key still identifies it.
    }
    return `${e.store}\u0000${name}`;
  };
  const wanted = new Set(selected.map(target));
  return all.filter((e) => wanted.has(target(e)));
}

/** Keeps partial runs from deleting remote secrets that their entries do not map. */
function forPartialRun(plan: Plan, filtered: boolean, manifestErrors: boolean): Plan {
  if (filtered) plan.items = plan.items.filter((i) => i.entries.length > 0);
  else if (manifestErrors) {
    for (const item of plan.items) {
      if (item.entries.length === 0 && item.action.kind === "delete") {
        item.action = {
          kind: "none",
          outcome: "skipped",
          reason: "not deleted: manifest errors leave PushSecrets out of this run",
        };
      }
    }
  }
  return plan;
}

/**
 * The fingerprint key from PUSHSYNC_FINGERPRINT_KEY / _FILE, else from .pushsync/fingerprint.key
 * (32 random bytes, hex, created on first use with mode 0600), saying so on stderr.
 */
export function fingerprintKey(env: Record<string, string | undefined>): Buffer {
  if (env[FINGERPRINT_KEY_ENV] || env[FINGERPRINT_KEY_FILE_ENV]) return loadFingerprintKey(env);
  let created = true;
  try {
    mkdirSync(path.dirname(FINGERPRINT_KEY_PATH), { recursive: true });
    writeFileSync(FINGERPRINT_KEY_PATH, randomBytes(32).toString("hex") + "\n", { flag: "wx", mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    created = false;
  }
  console.error(
    `pushsync: fingerprint key from ${FINGERPRINT_KEY_PATH}${created ? " (created)" : ""}; ` +
      `production sets ${FINGERPRINT_KEY_ENV} or ${FINGERPRINT_KEY_FILE_ENV}`,
  );
  return loadFingerprintKey({ [FINGERPRINT_KEY_FILE_ENV]: FINGERPRINT_KEY_PATH });
}

/** Engine log records go nowhere unless PUSHSYNC_LOG_LEVEL asks for them (JSON on stderr). */
export function engineLogger(): Logger {
  return process.env.PUSHSYNC_LOG_LEVEL ? createLogger() : silentLogger;
}
