/**
 * `pushsync local`: runs the local clouds in the foreground until Ctrl-C, and records how to
 * reach them in .pushsync/local.json (one key per cloud, see bin/lib/local-state.ts). Each local
 * cloud is one entry of `localClouds`; adding a cloud means adding an entry there.
 *
 * The local Vault starts with the secrets of a seed file (--seed, default examples/seed.yaml
 * when it exists): YAML mapping "mount/path" to the secret's key/value map.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "yaml";
import { startLocalAws } from "../../infra/local/aws/index.ts";
import { startLocalAzure } from "../../infra/local/azure/index.ts";
import { startLocalGcp } from "../../infra/local/gcp/server.ts";
import { startLocalKubernetes } from "../../infra/local/kubernetes/index.ts";
import { startLocalVault } from "../../infra/local/vault/index.ts";
import { exportLine, LOCAL_STATE_FILE, localEnv, type LocalState } from "../lib/local-state.ts";

export interface StartedCloud {
  /** This cloud's entry in .pushsync/local.json: endpoints and credentials. */
  info: Record<string, unknown>;
  /** Lines telling a person how to use it. */
  hints: string[];
  close(): Promise<void>;
}

/** Secrets to write into the local Vault at start: "mount/path" → key/value map. */
export type Seed = Record<string, Record<string, unknown>>;

export interface LocalCloud {
  name: string;
  defaultPort: number;
  start(options: { host: string; port: number; seed: Seed }): Promise<StartedCloud>;
}

/** The project id the examples' GCP store uses; the local Secret Manager accepts any. */
const LOCAL_GCP_PROJECT = "pushsync-local";
const DEFAULT_SEED = path.join("examples", "seed.yaml");

export const localClouds: LocalCloud[] = [
  {
    name: "vault",
    defaultPort: 8200,
    async start({ host, port, seed }) {
      // Lenient audit: an unreachable audit socket must not stop local work.
      const vault = await startLocalVault({ host, port, rootToken: "root", strictAudit: false });
      try {
        for (const [at, data] of Object.entries(seed)) {
          const [mount, ...rest] = at.split("/");
          await vault.writeKv(mount!, rest.join("/"), data as Parameters<typeof vault.writeKv>[2]);
        }
      } catch (err) {
        await vault.close();
        throw err;
      }
      const info: LocalState["vault"] = { address: vault.url, token: vault.rootToken };
      const seeded = Object.keys(seed).length;
      return {
        info,
        hints: [
          `Vault    ${vault.url}  (KV v2 at secret/, token "${vault.rootToken}"${seeded ? `, ${seeded} secret(s) seeded` : ""})`,
          `  ${exportLine(localEnv({ vault: info }))}`,
          `  curl -s -H "X-Vault-Token: ${vault.rootToken}" ${vault.url}/v1/secret/data/hello -d '{"data":{"greeting":"hi"}}'`,
        ],
        close: () => vault.close(),
      };
    },
  },
  {
    name: "aws",
    defaultPort: 4566,
    async start({ host, port }) {
      const aws = await startLocalAws({ host, port });
      const info: LocalState["aws"] = {
        endpoint: aws.url,
        region: aws.region,
        accessKeyId: "test",
        secretAccessKey: "test",
      };
      return {
        info,
        hints: [
          `AWS      ${aws.url}  (Secrets Manager and SQS, region ${aws.region}, any credentials)`,
          `  ${exportLine(localEnv({ aws: info }))}`,
          `  aws --endpoint-url ${aws.url} secretsmanager list-secrets`,
        ],
        close: () => aws.close(),
      };
    },
  },
  {
    name: "gcp",
    defaultPort: 8086,
    async start({ host, port }) {
      const gcp = await startLocalGcp({ host, port });
      const info: LocalState["gcp"] = { emulatorHost: gcp.host, projectId: LOCAL_GCP_PROJECT };
      return {
        info,
        hints: [
          `GCP      ${gcp.url}  (Secret Manager REST, any project id, e.g. ${LOCAL_GCP_PROJECT})`,
          `  ${exportLine(localEnv({ gcp: info }))}`,
        ],
        close: () => gcp.close(),
      };
    },
  },
  {
    name: "azure",
    defaultPort: 8443,
    async start({ host, port }) {
      // Plain HTTP on the next port (8444 by default).
      const azure = await startLocalAzure({ host, port, httpPort: port === 0 ? 0 : port + 1 });
      const info: LocalState["azure"] = { vaultUrl: azure.url, httpUrl: azure.httpUrl, caPath: azure.caPath };
      return {
        info,
        hints: [
          `Azure    ${azure.url}  (Key Vault secrets; HTTP ${azure.httpUrl}; CA ${azure.caPath}; any bearer token)`,
          `  ${exportLine(localEnv({ azure: info }))}`,
        ],
        close: () => azure.close(),
      };
    },
  },
  {
    name: "kubernetes",
    defaultPort: 8001,
    async start({ host, port }) {
      const k8s = await startLocalKubernetes({ host, port });
      return {
        info: { server: k8s.url, kubeconfig: k8s.kubeconfigPath },
        hints: [
          `Kubernetes ${k8s.url}  (API server with the External Secrets CRDs; HTTPS, CA and token in the kubeconfig)`,
          `  ${exportLine({ KUBECONFIG: k8s.kubeconfigPath })}`,
          `  kubectl get externalsecrets -A`,
        ],
        close: () => k8s.close(),
      };
    },
  },
];

const usage = `pushsync local [--only name,...] [--host 127.0.0.1] [--port-<name> N] [--seed FILE]

Runs the local clouds in the foreground until Ctrl-C and writes how to reach them to
${LOCAL_STATE_FILE}. Clouds: ${localClouds.map((c) => `${c.name} (port ${c.defaultPort})`).join(", ")}.
  --only vault,aws   start only these (comma-separated); default: all
  --port-vault 8200  listen on another port (0 picks a free one); Azure's HTTP port is the next one
  --seed FILE        secrets to write into the local Vault: YAML mapping "mount/path" to key/value
                     pairs (default ${DEFAULT_SEED} when it exists)`;

interface Args {
  only: string[];
  host: string;
  ports: Record<string, number>;
  seed?: string;
}

function parseArgs(args: string[]): Args | string {
  const out: Args = { only: localClouds.map((c) => c.name), host: "127.0.0.1", ports: {} };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = args[i + 1];
    if (value === undefined || value.startsWith("--")) return `${flag} needs a value`;
    i++;
    if (flag === "--only")
      out.only = value
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    else if (flag === "--host") out.host = value;
    else if (flag === "--seed") out.seed = value;
    else if (flag.startsWith("--port-")) {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) return `${flag}: not a port: ${value}`;
      out.ports[flag.slice("--port-".length)] = port;
    } else return `unknown option ${flag}`;
  }
  const known = new Set(localClouds.map((c) => c.name));
  const unknown = [...out.only, ...Object.keys(out.ports)].filter((n) => !known.has(n));
  if (unknown.length > 0) return `unknown local cloud: ${unknown.join(", ")}`;
  return out;
}

/** The seed file as "mount/path" → data; errors name the file and the path, never a value. */
export async function readSeed(file: string): Promise<Seed> {
  let doc: unknown;
  try {
    doc = parse(await readFile(file, "utf8"), { prettyErrors: false });
  } catch (err) {
    // The first line only: later ones may quote the file, values included.
    throw new Error(`${file}: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  const isMap = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isMap(doc)) throw new Error(`${file}: expected a mapping of "mount/path" to key/value pairs`);
  for (const [at, data] of Object.entries(doc)) {
    if (!/^[^/]+\/./.test(at)) throw new Error(`${file}: "${at}" is not a "mount/path"`);
    if (!isMap(data)) throw new Error(`${file}: ${at}: expected a mapping of keys to values`);
  }
  return doc as Seed;
}

async function readState(): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(LOCAL_STATE_FILE, "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Sets (or with `undefined`, removes) our clouds' keys, keeping every other key in the file. */
export async function updateState(entries: Record<string, unknown>): Promise<void> {
  const state = { ...(await readState()), ...entries };
  for (const [k, v] of Object.entries(state)) if (v === undefined) delete state[k];
  if (Object.keys(state).length === 0) return rm(LOCAL_STATE_FILE, { force: true });
  await mkdir(path.dirname(LOCAL_STATE_FILE), { recursive: true });
  await writeFile(LOCAL_STATE_FILE, JSON.stringify(state, null, 2) + "\n");
}

export default async function local(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(usage);
    return 0;
  }
  const parsed = parseArgs(args);
  if (typeof parsed === "string") {
    console.error(`pushsync local: ${parsed}\n\n${usage}`);
    return 2;
  }
  const seedFile = parsed.seed ?? (existsSync(DEFAULT_SEED) ? DEFAULT_SEED : undefined);
  let seed: Seed = {};
  if (seedFile && parsed.only.includes("vault")) {
    try {
      seed = await readSeed(seedFile);
    } catch (err) {
      console.error(`pushsync local: --seed: ${(err as Error).message}`);
      return 2;
    }
  } else if (parsed.seed) {
    console.error(`pushsync local: --seed needs the vault cloud\n\n${usage}`);
    return 2;
  }
  const started = new Map<string, StartedCloud>();
  const stopAll = async () => {
    await Promise.all([...started.values()].map((c) => c.close()));
    await updateState(Object.fromEntries([...started.keys()].map((name) => [name, undefined])));
  };
  for (const cloud of localClouds.filter((c) => parsed.only.includes(c.name))) {
    const port = parsed.ports[cloud.name] ?? cloud.defaultPort;
    try {
      started.set(cloud.name, await cloud.start({ host: parsed.host, port, seed }));
    } catch (err) {
      const reason =
        (err as NodeJS.ErrnoException).code === "EADDRINUSE" ? `port ${port} is in use` : String(err);
      console.error(`pushsync local: cannot start ${cloud.name}: ${reason}`);
      await stopAll();
      return 1;
    }
  }
  await updateState(Object.fromEntries([...started].map(([name, c]) => [name, c.info])));
  for (const c of started.values()) console.log(c.hints.join("\n"));
  console.log(`\nEndpoints written to ${LOCAL_STATE_FILE}. Ctrl-C stops.`);

  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await stopAll();
  console.log("stopped");
  return 0;
}
