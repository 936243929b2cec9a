/**
 * `pushsync dev` (`npm start`): the whole main job on this machine. The local clouds of
 * `pushsync local` (recorded in .pushsync/local.json the same way, so the Vault, AWS and gcloud
 * CLIs and `pushsync plan --local` work alongside), Vault seeded and its socket audit device
 * pointed at the forwarder, the FIFO queue and the AWS Lambda functions fed as in AWS, and the
 * GCP and Azure functions behind the forwarder's webhooks, each cloud's function pushing to its
 * own stores (see bin/lib/dev/pipeline.ts), and the pull side: the example of examples/cluster/
 * applied to the local Kubernetes API and the puller turning it into a Secret (bin/lib/dev/cluster.ts).
 * A live table shows each destination's state; the
 * logs of the functions and the forwarder go to .pushsync/dev.log, JSON lines without values.
 */
import { createWriteStream, existsSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import {
  FINGERPRINT_KEY_ENV,
  FINGERPRINT_KEY_FILE_ENV,
  loadFingerprintKey,
} from "../../shared/engine/index.ts";
import { createLogger } from "../../shared/observability/logger.ts";
import { parseDuration } from "../../shared/spec/duration.ts";
import {
  CLUSTER_EXAMPLE_DIR,
  loadClusterExample,
  startPullerExample,
  type ClusterExample,
} from "../lib/dev/cluster.ts";
import { parseOptions, usageError } from "../lib/command.ts";
import { MAX_RECEIVE_COUNT, startPipeline, type Pipeline, type Pusher } from "../lib/dev/pipeline.ts";
import { StatusTable } from "../lib/dev/table.ts";
import { exportLine, LOCAL_STATE_FILE, localEnv, type LocalState } from "../lib/local-state.ts";
import { FINGERPRINT_KEY_PATH, fingerprintKey } from "../lib/run.ts";
import { localClouds, readSeed, updateState, type Seed, type StartedCloud } from "./local.ts";

const LOG_FILE = path.join(".pushsync", "dev.log");
const DEFAULT_MANIFESTS = path.join("examples", "manifests");
const DEFAULT_SEED = path.join("examples", "seed.yaml");
/** The forwarder's two listeners and the GCP and Azure functions' servers, next to the clouds' ports. */
const OWN_PORTS = { forwarder: 9090, metrics: 9102, "gcp-functions": 8080, "azure-functions": 7071 };
const PORT_NAMES = [...localClouds.map((c) => c.name), ...Object.keys(OWN_PORTS)];

const help = `pushsync dev [options]

Runs pushsync's main job locally until Ctrl-C: the local clouds (Vault, AWS, GCP, Azure,
Kubernetes, as "pushsync local" runs them), Vault's socket audit device pointed at the forwarder,
the forwarder publishing to the FIFO queue pushsync-events.fifo (dead-letter queue after ${MAX_RECEIVE_COUNT}
receives) and to signed webhooks of the GCP and Azure functions, the push worker Lambda fed from the
queue as Lambda's SQS trigger does, each cloud's function pushing to that cloud's stores, and the
reconciles at start and on an interval. The pull side: the ExternalSecret example of --cluster
applied to the local Kubernetes API, and the puller (as "pushsync pull --vault-events") writing
its Secret. A live table shows every destination of the manifests and every ExternalSecret's
target Secret: Vault path, store, remote key, state, Vault version, the last push's latency
(from the Vault write to the push) and the function that pushed.

Options:
  --manifests DIR           ESO manifests (default ${DEFAULT_MANIFESTS})
  --seed FILE               secrets written into Vault at start (default ${DEFAULT_SEED} when it exists)
  --cluster DIR             Kubernetes objects applied at start for the puller (default
                            ${CLUSTER_EXAMPLE_DIR} when it exists; "none" for no puller)
  --host HOST               where everything listens (default 127.0.0.1)
  --port-<name> N           ${PORT_NAMES.join(", ")}; defaults ${[
    ...localClouds.map((c) => c.defaultPort),
    ...Object.values(OWN_PORTS),
  ].join(", ")}; 0 picks a free one
  --reconcile-every DUR     full reconcile interval (default 60s)
  --visibility-timeout DUR  the queue's visibility timeout: how long a failed record waits before
                            it is delivered again (default 30s; serverless.yml deploys 360s)
  --no-tty                  print a line per change instead of redrawing the table
  -h, --help                show this help

Logs: ${LOG_FILE}. Fingerprint key: as "pushsync sync" (${FINGERPRINT_KEY_PATH} unless
${FINGERPRINT_KEY_ENV} or ${FINGERPRINT_KEY_FILE_ENV} is set).`;

interface Args {
  manifests: string;
  seed?: string;
  cluster?: string;
  host: string;
  ports: Record<string, number>;
  reconcileEveryMs: number;
  visibilityTimeoutSeconds: number;
  tty: boolean;
}

export default async function dev(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (typeof args === "number") return args;
  const fail = (message: string, code = 1): number => {
    console.error(`pushsync dev: ${message}`);
    return code;
  };
  if (!existsSync(args.manifests) || !statSync(args.manifests).isDirectory())
    return fail(`--manifests: ${args.manifests} is not a directory`, 2);
  const seedFile = args.seed ?? (existsSync(DEFAULT_SEED) ? DEFAULT_SEED : undefined);
  let seed: Seed = {};
  try {
    if (seedFile) seed = await readSeed(seedFile);
  } catch (err) {
    return fail(`--seed: ${(err as Error).message}`, 2);
  }
  const clusterDir = args.cluster ?? (existsSync(CLUSTER_EXAMPLE_DIR) ? CLUSTER_EXAMPLE_DIR : "none");
  let example: ClusterExample | undefined;
  try {
    if (clusterDir !== "none") example = await loadClusterExample(clusterDir);
  } catch (err) {
    return fail(`--cluster: ${(err as Error).message}`, 2);
  }
  let fingerprintEnv: Record<string, string> = {};
  try {
    fingerprintKey(process.env);
    if (!process.env[FINGERPRINT_KEY_ENV] && !process.env[FINGERPRINT_KEY_FILE_ENV])
      fingerprintEnv = { [FINGERPRINT_KEY_FILE_ENV]: path.resolve(FINGERPRINT_KEY_PATH) };
  } catch (err) {
    return fail((err as Error).message);
  }

  await mkdir(path.dirname(LOG_FILE), { recursive: true });
  const logFile = createWriteStream(LOG_FILE, { flags: "w" });
  const logger = createLogger({ sink: (line) => logFile.write(line + "\n"), base: { command: "dev" } });

  const clouds = new Map<string, StartedCloud>();
  let pipeline: Pipeline | undefined;
  let puller: { close(): Promise<void> } | undefined;
  const stop = async (): Promise<void> => {
    await puller?.close();
    await pipeline?.close();
    await Promise.all([...clouds.values()].map((c) => c.close()));
    await updateState(Object.fromEntries([...clouds.keys()].map((name) => [name, undefined])));
    await new Promise((resolve) => logFile.end(resolve));
  };

  const tty = args.tty && process.stdout.isTTY === true;
  const table = new StatusTable(
    (text) => process.stdout.write(text),
    tty,
    () => process.stdout.columns || Infinity,
  );
  try {
    for (const cloud of localClouds) {
      const port = args.ports[cloud.name] ?? cloud.defaultPort;
      try {
        clouds.set(cloud.name, await cloud.start({ host: args.host, port, seed }));
      } catch (err) {
        const inUse = (err as NodeJS.ErrnoException).code === "EADDRINUSE";
        throw new Error(`cannot start ${cloud.name}: ${inUse ? `port ${port} is in use` : String(err)}`);
      }
    }
    const info = Object.fromEntries([...clouds].map(([name, c]) => [name, c.info]));
    await updateState(info);
    pipeline = await startPipeline({
      clouds: info as LocalState,
      manifestsDir: args.manifests,
      host: args.host,
      auditPort: args.ports.forwarder ?? OWN_PORTS.forwarder,
      metricsPort: args.ports.metrics ?? OWN_PORTS.metrics,
      cloudFunctions: {
        gcpPort: args.ports["gcp-functions"] ?? OWN_PORTS["gcp-functions"],
        azurePort: args.ports["azure-functions"] ?? OWN_PORTS["azure-functions"],
      },
      reconcileEveryMs: args.reconcileEveryMs,
      visibilityTimeoutSeconds: args.visibilityTimeoutSeconds,
      fingerprintEnv,
      logger,
      onFunctionOutput: (_name, line) => logFile.write(line + "\n"),
      ...(example ? { extraWatch: example.paths } : {}),
      onOutcome: (o) => table.update(o),
    });
    const kubernetes = info.kubernetes as { kubeconfig: string } | undefined;
    if (example && kubernetes) {
      puller = await startPullerExample({
        example,
        kubeconfig: kubernetes.kubeconfig,
        vault: (info as LocalState).vault!,
        hashKey: loadFingerprintKey({ ...process.env, ...fingerprintEnv }),
        logger,
        lastWrite: pipeline.lastWrite,
        onOutcome: (o) => table.update(o),
      });
    }
  } catch (err) {
    const inUse = (err as NodeJS.ErrnoException).code === "EADDRINUSE";
    await stop();
    const message = inUse ? `a port is in use: ${(err as Error).message}` : (err as Error).message;
    return fail(`${message} (details in ${LOG_FILE})`);
  }

  for (const c of clouds.values()) console.log(c.hints.join("\n"));
  const stores = new Set(pipeline.entries.map((e) => e.store));
  const servedBy = (pusher: Pusher): string =>
    Object.entries(pipeline!.cloudFunctions?.stores ?? {})
      .filter(([, p]) => p === pusher)
      .map(([id]) => id)
      .join(", ") || "no store";
  const { gcp, azure } = pipeline.cloudFunctions ?? {};
  console.log(`Forwarder ${pipeline.auditAddress}  (Vault's socket audit device "pushsync" sends here)
  metrics http://${args.host}:${pipeline.metricsPort}/metrics, health /healthz
Queue    ${pipeline.queueUrl}  (FIFO; dead-letter queue ${pipeline.dlqUrl} after ${MAX_RECEIVE_COUNT} receives; visibility timeout ${args.visibilityTimeoutSeconds} s)
Functions, each cloud's own pushing to its stores:
  aws-lambda      push-worker (${pipeline.pushWorkers} processes, each long-polling the queue for up to 10 records a batch) for ${servedBy("push-worker")}
  gcp-function    ${gcp ? `${gcp.pushUrl} (webhook, signed)` : "not started"} for ${servedBy("gcp-function")}
  azure-function  ${azure ? `${azure.pushUrl} (webhook, signed)` : "not started"} for ${servedBy("azure-function")}
  reconciles      per cloud: the reconciler Lambda and the functions' reconcile endpoints (at start, then every ${args.reconcileEveryMs / 1000} s)
Manifests  ${args.manifests}: ${pipeline.entries.length} entries to ${stores.size} store(s)
Cluster  ${
    puller && example
      ? `${example.dir} applied: ${example.externalSecrets.size} ExternalSecret(s), written by the puller (this process, Vault's event stream)
  KUBECONFIG=${(clouds.get("kubernetes")?.info as { kubeconfig: string }).kubeconfig} kubectl get secret ${[...example.externalSecrets.values()].map((e) => e.target.split("/")[1]).join(" ")} -o yaml`
      : "no puller (--cluster none)"
  }
Logs     ${LOG_FILE}

All at once: ${exportLine(localEnv(Object.fromEntries([...clouds].map(([n, c]) => [n, c.info]))))}
Endpoints written to ${LOCAL_STATE_FILE}.`);
  for (const p of pipeline.problems) console.log(`warning: ${p}`);
  console.log("\npushsync dev: ready. Write to Vault and watch the table; Ctrl-C stops.\n");
  table.start(pipeline.entries);

  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  table.stop();
  console.log("\nstopping (a second Ctrl-C exits at once)");
  await stop();
  console.log("stopped");
  return 0;
}

function parse(argv: string[]): Args | number {
  const usage = usageError("dev", help);
  const parsed = parseOptions(
    {
      args: argv,
      options: {
        manifests: { type: "string", default: DEFAULT_MANIFESTS },
        seed: { type: "string" },
        cluster: { type: "string" },
        host: { type: "string", default: "127.0.0.1" },
        ...Object.fromEntries(PORT_NAMES.map((n) => [`port-${n}`, { type: "string" as const }])),
        "reconcile-every": { type: "string", default: "60s" },
        "visibility-timeout": { type: "string", default: "30s" },
        "no-tty": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    },
    usage,
    help,
  );
  if (typeof parsed === "number") return parsed;
  const values = parsed as Record<string, string | boolean | undefined>;
  const ports: Record<string, number> = {};
  for (const name of PORT_NAMES) {
    const text = values[`port-${name}`];
    if (typeof text !== "string") continue;
    const port = Number(text);
    if (!/^\d+$/.test(text) || port > 65535) return usage(`--port-${name}: not a port: ${text}`);
    ports[name] = port;
  }
  const duration = (flag: string, min: number, max: number): number | string => {
    const text = String(values[flag]);
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch (err) {
      return `--${flag}: ${(err as Error).message}`;
    }
    return ms >= min && ms <= max
      ? ms
      : `--${flag}: ${text} is not between ${min / 1000}s and ${max / 1000}s`;
  };
  const reconcileEveryMs = duration("reconcile-every", 1_000, 24 * 3_600_000);
  if (typeof reconcileEveryMs === "string") return usage(reconcileEveryMs);
  // SQS's range, in whole seconds.
  const visibilityMs = duration("visibility-timeout", 0, 43_200_000);
  if (typeof visibilityMs === "string") return usage(visibilityMs);
  return {
    manifests: String(values.manifests),
    ...(typeof values.seed === "string" ? { seed: values.seed } : {}),
    ...(typeof values.cluster === "string" ? { cluster: values.cluster } : {}),
    host: String(values.host),
    ports,
    reconcileEveryMs,
    visibilityTimeoutSeconds: Math.round(visibilityMs / 1000),
    tty: values["no-tty"] !== true,
  };
}
