/**
 * `pushsync local`: runs the local clouds in the foreground until Ctrl-C, and records how to
 * reach them in .pushsync/local.json (one key per cloud). Each local cloud is one entry of
 * `localClouds`; adding a cloud means adding an entry there.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { startLocalVault } from "../../infra/local/vault/index.ts";

export interface StartedCloud {
  /** This cloud's entry in .pushsync/local.json: endpoints and credentials. */
  info: Record<string, unknown>;
  /** Lines telling a person how to use it. */
  hints: string[];
  close(): Promise<void>;
}

export interface LocalCloud {
  name: string;
  defaultPort: number;
  start(options: { host: string; port: number }): Promise<StartedCloud>;
}

export const localClouds: LocalCloud[] = [
  {
    name: "vault",
    defaultPort: 8200,
    async start({ host, port }) {
      // Lenient audit: an unreachable audit socket must not stop local work.
      const vault = await startLocalVault({ host, port, rootToken: "root", strictAudit: false });
      return {
        info: { address: vault.url, token: vault.rootToken },
        hints: [
          `Vault    ${vault.url}  (KV v2 at secret/, token "${vault.rootToken}")`,
          `  export VAULT_ADDR=${vault.url} VAULT_TOKEN=${vault.rootToken}`,
          `  curl -s -H "X-Vault-Token: ${vault.rootToken}" ${vault.url}/v1/secret/data/hello -d '{"data":{"greeting":"hi"}}'`,
        ],
        close: () => vault.close(),
      };
    },
  },
];

const STATE_FILE = path.join(".pushsync", "local.json");

const usage = `pushsync local [--only name,...] [--host 127.0.0.1] [--port-<name> N]

Runs the local clouds in the foreground until Ctrl-C and writes how to reach them to
${STATE_FILE}. Clouds: ${localClouds.map((c) => `${c.name} (port ${c.defaultPort})`).join(", ")}.
  --only vault       start only these (comma-separated); default: all
  --port-vault 8200  listen on another port (0 picks a free one)`;

interface Args {
  only: string[];
  host: string;
  ports: Record<string, number>;
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

async function readState(): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(STATE_FILE, "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Sets (or with `undefined`, removes) our clouds' keys, keeping every other key in the file. */
async function updateState(entries: Record<string, unknown>): Promise<void> {
  const state = { ...(await readState()), ...entries };
  for (const [k, v] of Object.entries(state)) if (v === undefined) delete state[k];
  if (Object.keys(state).length === 0) return rm(STATE_FILE, { force: true });
  await mkdir(path.dirname(STATE_FILE), { recursive: true });
  await writeFile(STATE_FILE, JSON.stringify(state, null, 2) + "\n");
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
  const started = new Map<string, StartedCloud>();
  const stopAll = async () => {
    await Promise.all([...started.values()].map((c) => c.close()));
    await updateState(Object.fromEntries([...started.keys()].map((name) => [name, undefined])));
  };
  for (const cloud of localClouds.filter((c) => parsed.only.includes(c.name))) {
    const port = parsed.ports[cloud.name] ?? cloud.defaultPort;
    try {
      started.set(cloud.name, await cloud.start({ host: parsed.host, port }));
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
  console.log(`\nEndpoints written to ${STATE_FILE}. Ctrl-C stops.`);

  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await stopAll();
  console.log("stopped");
  return 0;
}
