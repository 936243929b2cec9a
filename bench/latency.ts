/**
 * Latency benchmark: how long a Vault write takes to be readable from every destination, through
 * the stack `pushsync dev` runs (bin/lib/dev/pipeline.ts: socket audit device → forwarder → SQS
 * FIFO → the real push-worker Lambda handler in its own process), against a polling baseline.
 *
 *   npm run bench:latency -- [--writes 1000] [--rate 50] [--paths 50] [--stores aws,gcp,azure]
 *                            [--burst 100] [--poll-interval 10s] [--poll-writes 50] [--push-workers 2]
 *
 * Phases, on one set of local clouds in this process (no latency injected):
 * 1. event-driven: `--writes` writes at `--rate` per second, round-robin over `--paths` Vault
 *    paths, each pushed by a generated PushSecret to every store of `--stores`, by
 *    `--push-workers` push worker processes (each fed by its own SQS runner, as Lambda runs
 *    batches concurrently). For each write, the latency is from the Vault write returning to its
 *    value (or a later one of that path) being readable from every destination, read with the
 *    official SDKs (GetSecretValue, accessSecretVersion, getSecret) by bench/latency-reader.ts in
 *    a process of its own: polling only the written path, tightly at first, with a bound on the
 *    reads in flight, so that it does not load the stack it measures.
 * 2. burst: `--burst` writes to one path as fast as possible; pushes (created or updated push
 *    outcomes of the push worker) against writes.
 * 3. polling baseline, what ESO does: no events; a full reconcile (the reconciler handler) every
 *    `--poll-interval` (ESO's refreshInterval, 1h by default, scaled down here). `--poll-writes`
 *    writes spread evenly over two intervals, so they land at every phase of the timer; the
 *    expected latency is about interval/2.
 * Goal, checked (exit code 1 when it fails or a write is never readable): event-driven p99 under
 * 250 ms.
 *
 * The functions run with the providers' real quotas: GCP's (a push needs reads at 2/s) bounds
 * the rate at which secrets reach GCP to about one per second, so runs with gcp need a low --rate.
 */
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startPipeline, type Pipeline, type PushOutcome } from "../bin/lib/dev/pipeline.ts";
import type { LocalState } from "../bin/lib/local-state.ts";
import { startLocalAws } from "../infra/local/aws/index.ts";
import { startLocalAzure } from "../infra/local/azure/index.ts";
import { startLocalGcp } from "../infra/local/gcp/server.ts";
import { startLocalVault } from "../infra/local/vault/index.ts";
import { silentLogger } from "../shared/observability/logger.ts";
import { parseDuration } from "../shared/spec/duration.ts";
import type { ReaderConfig, ReadRequest } from "./latency-reader.ts";

type Store = "aws" | "gcp" | "azure";
// Node 20 is this project's runtime; the SDK's notice about Node 22 is not under test.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const STORES: Store[] = ["aws", "gcp", "azure"];
const GOAL_P99_MS = 250;
const GCP_PROJECT = "bench";
const LOG_FILE = path.join(".pushsync", "bench-latency.log");
/** Epoch ms with sub-ms precision: the reader process shares this clock. */
const now = () => performance.timeOrigin + performance.now();

const { values } = parseArgs({
  options: {
    writes: { type: "string", default: "1000" },
    rate: { type: "string", default: "50" },
    paths: { type: "string", default: "50" },
    stores: { type: "string", default: "aws" },
    burst: { type: "string", default: "100" },
    "poll-interval": { type: "string", default: "10s" },
    "poll-writes": { type: "string", default: "50" },
    "push-workers": { type: "string", default: "2" },
  },
});
const WRITES = Number(values.writes);
const RATE = Number(values.rate);
const PATHS = Number(values.paths);
const BURST = Number(values.burst);
const POLL_WRITES = Number(values["poll-writes"]);
const PUSH_WORKERS = Number(values["push-workers"]);
const stores = values.stores.split(",").map((s) => s.trim()) as Store[];
let POLL_INTERVAL_MS = NaN;
try {
  POLL_INTERVAL_MS = parseDuration(values["poll-interval"]);
} catch {
  // Reported with the usage below.
}
const positive = (n: number) => Number.isInteger(n) && n > 0;
if (
  ![WRITES, PATHS, BURST, POLL_WRITES, PUSH_WORKERS].every(positive) ||
  !(RATE > 0) ||
  !(POLL_INTERVAL_MS >= 1000) ||
  stores.length === 0 ||
  stores.some((s) => !STORES.includes(s))
) {
  console.error(
    "usage: bench/latency.ts [--writes 1000] [--rate 50] [--paths 50] [--stores aws,gcp,azure] [--burst 100] [--poll-interval 10s (at least 1s)] [--poll-writes 50] [--push-workers 2]",
  );
  process.exit(2);
}

const pathOf = (i: number) => `bench/p${i}`;
const BURST_PATH = "bench/burst";
/** Remote keys every store accepts as they are. */
const remoteKeyOf = (vaultPath: string) => vaultPath.replace("/", "-");

// --- the stack ----------------------------------------------------------------------------------

const scratch = mkdtempSync(path.join(tmpdir(), "pushsync-bench-latency-"));
const vault = await startLocalVault({ port: 0, strictAudit: false });
const aws = await startLocalAws({ port: 0 });
const gcp = stores.includes("gcp") ? await startLocalGcp({ port: 0 }) : undefined;
const azure = stores.includes("azure")
  ? await startLocalAzure({ port: 0, httpPort: 0, caDir: scratch })
  : undefined;
const clouds: LocalState = {
  vault: { address: vault.url, token: vault.rootToken },
  aws: { endpoint: aws.url, region: aws.region, accessKeyId: "bench", secretAccessKey: "bench" },
  ...(gcp ? { gcp: { emulatorHost: gcp.host, projectId: GCP_PROJECT } } : {}),
  ...(azure ? { azure: { vaultUrl: azure.url, httpUrl: azure.httpUrl, caPath: azure.caPath } } : {}),
};

const allPaths = [...Array.from({ length: PATHS }, (_x, i) => pathOf(i)), BURST_PATH];
const manifestsDir = path.join(scratch, "manifests");
mkdirSync(manifestsDir);
writeFileSync(path.join(manifestsDir, "manifests.yaml"), manifests());

/** Last sequence number written per path; the value holds it, so a destination tells how far it is. */
const lastSeq = new Map<string, number>();
async function write(vaultPath: string): Promise<{ seq: number; returnedAt: number }> {
  const seq = (lastSeq.get(vaultPath) ?? 0) + 1;
  lastSeq.set(vaultPath, seq);
  const res = await fetch(`${vault.url}/v1/secret/data/${vaultPath}`, {
    method: "POST",
    headers: { "X-Vault-Token": vault.rootToken },
    body: JSON.stringify({ data: { seq: String(seq), value: randomBytes(16).toString("hex") } }),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`Vault write to ${vaultPath}: status ${res.status}`);
  return { seq, returnedAt: now() };
}
for (const p of allPaths) await write(p);

mkdirSync(path.dirname(LOG_FILE), { recursive: true });
const log = createWriteStream(LOG_FILE, { flags: "w" });
/** Pushes (created or updated) by function and remote key; errors by function. */
const pushes = new Map<string, number>();
const errors = new Map<string, number>();
const pushKey = (fn: string, store: string, remoteKey: string) => `${fn} ${store} ${remoteKey}`;
/** The push worker's own view: from the audit entry's time to the push outcome (as `pushsync dev` shows it). */
const pushLatencies: number[] = [];
const onOutcome = (o: PushOutcome) => {
  if (o.function === "push-worker" && o.latencyMs !== undefined) pushLatencies.push(o.latencyMs);
  if (o.outcome === "created" || o.outcome === "updated") {
    const k = pushKey(o.function, o.store, o.remoteKey);
    pushes.set(k, (pushes.get(k) ?? 0) + 1);
  }
  if (o.outcome === "error") errors.set(o.function, (errors.get(o.function) ?? 0) + 1);
};
const pipelineOptions = {
  clouds,
  manifestsDir,
  host: "127.0.0.1",
  auditPort: 0,
  visibilityTimeoutSeconds: 30,
  fingerprintEnv: { PUSHSYNC_FINGERPRINT_KEY: randomBytes(32).toString("hex") },
  logger: silentLogger,
  onFunctionOutput: (_name: string, line: string) => void log.write(line + "\n"),
  onOutcome,
};

// --- reading the destinations (bench/latency-reader.ts, in its own process) ----------------------

const reader = fork(fileURLToPath(new URL("./latency-reader.ts", import.meta.url)), [], {
  execArgv: ["--import", import.meta.resolve("tsx")],
});
const replies = new Map<number, (ms: number | undefined) => void>();
reader.on("message", (m: { ready?: true; id?: number; ms?: number }) => {
  if (m.id !== undefined) replies.get(m.id)?.(m.ms);
  replies.delete(m.id ?? -1);
});
const config: ReaderConfig = {
  ...(stores.includes("aws") ? { aws: { endpoint: aws.url, region: aws.region } } : {}),
  ...(gcp ? { gcp: { host: gcp.host, project: GCP_PROJECT } } : {}),
  ...(azure ? { azure: { url: azure.url, caPem: azure.caCertPem } } : {}),
};
await new Promise<void>((resolve) => {
  reader.once("message", () => resolve());
  reader.send(config);
});
let nextRead = 0;
/** Ms from `since` until every store holds `seq` (or later) of the path; undefined on timeout. */
function readable(
  vaultPath: string,
  seq: number,
  since: number,
  timeoutMs: number,
): Promise<number | undefined> {
  const id = ++nextRead;
  return new Promise((resolve) => {
    replies.set(id, resolve);
    reader.send({ id, key: remoteKeyOf(vaultPath), seq, since, timeoutMs } satisfies ReadRequest);
  });
}

// --- measuring ------------------------------------------------------------------------------------

interface Measured {
  latencies: number[];
  lost: number;
  wallMs: number;
}

/** `count` writes, round-robin over the paths, `spacingMs` apart; each watched until readable. */
async function measure(count: number, spacingMs: number, timeoutMs: number): Promise<Measured> {
  const started = performance.now();
  const watched: Promise<number | undefined>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = started + i * spacingMs - performance.now();
    if (wait > 0) await sleep(wait);
    const vaultPath = pathOf(i % PATHS);
    const { seq, returnedAt } = await write(vaultPath);
    watched.push(readable(vaultPath, seq, returnedAt, timeoutMs));
  }
  const results = await Promise.all(watched);
  const latencies = results.filter((r): r is number => r !== undefined).sort((a, b) => a - b);
  return { latencies, lost: results.length - latencies.length, wallMs: performance.now() - started };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const ms = (n: number) => (n >= 1_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`);
function percentiles(m: Measured): string {
  const s = m.latencies;
  return `p50 ${ms(pct(s, 50))}  p95 ${ms(pct(s, 95))}  p99 ${ms(pct(s, 99))}  max ${ms(s[s.length - 1] ?? NaN)}`;
}
function pushCounts(fn: string, keys: string[]): string {
  return stores
    .map((store) => {
      const n = keys.reduce((sum, k) => sum + (pushes.get(pushKey(fn, `default/${store}`, k)) ?? 0), 0);
      return `${store} ${n}`;
    })
    .join(", ");
}

console.log(`pushsync latency benchmark
stores: ${stores.join(", ")}; ${PATHS} Vault paths, each pushed by its own PushSecret to every store
no latency injected; latency = Vault write returned → new value readable from every destination
(read in a separate process with the official SDKs, for the written path only: every 5 ms for
100 ms, then every 20 ms for a second, then every 100 ms; at most 8 reads in flight)
`);

let pipeline: Pipeline | undefined;
const goals: [string, boolean][] = [];
try {
  pipeline = await startPipeline({
    ...pipelineOptions,
    pushWorkers: PUSH_WORKERS,
    reconcileEveryMs: 24 * 3_600_000,
  });
  pushes.clear();

  const events = await measure(WRITES, 1000 / RATE, 30_000);
  const pushed = { latencies: pushLatencies.splice(0).sort((a, b) => a - b), lost: 0, wallMs: 0 };
  console.log(`event-driven: Vault audit device → forwarder → SQS FIFO → ${PUSH_WORKERS} push worker process(es)
  ${WRITES} writes at ${RATE}/s over ${PATHS} paths, all readable after ${ms(events.wallMs)}: ${((WRITES - events.lost) / (events.wallMs / 1000)).toFixed(1)} events/s
  latency  ${percentiles(events)}${events.lost ? `  (${events.lost} never readable)` : ""}
  (the push worker's log: audit entry time → push done, per entry: ${percentiles(pushed)})
  pushes   ${pushCounts("push-worker", allPaths.slice(0, PATHS).map(remoteKeyOf))} for ${WRITES} writes`);

  const burstStart = performance.now();
  let last = { seq: 0, returnedAt: 0 };
  for (let i = 0; i < BURST; i++) last = await write(BURST_PATH);
  const burstMs = performance.now() - burstStart;
  const burstLatency = await readable(BURST_PATH, last.seq, last.returnedAt, 30_000);
  // Pushes still queued for the burst (older records of it) would land after its last value.
  await sleep(1_000);
  console.log(`burst: ${BURST} writes to secret/${BURST_PATH} in ${ms(burstMs)}
  pushes   ${pushCounts("push-worker", [remoteKeyOf(BURST_PATH)])} for ${BURST} writes; the last write readable after ${burstLatency === undefined ? "never" : ms(burstLatency)}
`);
  await pipeline.close();

  pipeline = await startPipeline({ ...pipelineOptions, events: false, reconcileEveryMs: POLL_INTERVAL_MS });
  pushes.clear();
  const baseline = await measure(
    POLL_WRITES,
    (2 * POLL_INTERVAL_MS) / POLL_WRITES,
    POLL_INTERVAL_MS + 30_000,
  );
  console.log(`polling baseline: a full reconcile every refreshInterval, as ESO does (ESO's default 1h: expected latency about 30 min)
  refreshInterval scaled to ${ms(POLL_INTERVAL_MS)}: expected latency about ${ms(POLL_INTERVAL_MS / 2)}
  ${POLL_WRITES} writes spread over ${ms(2 * POLL_INTERVAL_MS)}
  latency  ${percentiles(baseline)}${baseline.lost ? `  (${baseline.lost} never readable)` : ""}
  pushes   ${pushCounts("reconciler", allPaths.slice(0, PATHS).map(remoteKeyOf))} for ${POLL_WRITES} writes
`);

  const ratio = (p: number) => (pct(baseline.latencies, p) / pct(events.latencies, p)).toFixed(0);
  console.log(`baseline / event-driven: p50 ${ratio(50)}x, p99 ${ratio(99)}x`);
  if (errors.size > 0)
    console.log(`push errors (see ${LOG_FILE}): ${[...errors].map(([fn, n]) => `${fn} ${n}`).join(", ")}`);
  const p99 = pct(events.latencies, 99);
  goals.push(
    [`event-driven p99 under ${GOAL_P99_MS} ms (no injected latency): ${ms(p99)}`, p99 < GOAL_P99_MS],
    [
      `every write readable from every store`,
      events.lost + baseline.lost === 0 && burstLatency !== undefined,
    ],
  );
} finally {
  await pipeline?.close();
  await Promise.all([vault.close(), aws.close(), gcp?.close(), azure?.close()]);
  await new Promise((resolve) => log.end(resolve));
  reader.disconnect();
  rmSync(scratch, { recursive: true, force: true });
}
console.log("");
for (const [goal, ok] of goals) console.log(`${ok ? "PASS" : "FAIL"}  ${goal}`);
process.exitCode = goals.length > 0 && goals.every(([, ok]) => ok) ? 0 : 1;

function manifests(): string {
  const storeDocs: Record<Store, string> = {
    aws: `aws: { service: SecretsManager, region: ${aws.region} }`,
    gcp: `gcpsm: { projectID: ${GCP_PROJECT} }`,
    azure: `azurekv: { vaultUrl: "${azure?.url}", authType: ManagedIdentity }`,
  };
  const docs = [
    `apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: { name: vault }
spec:
  provider:
    vault: { server: "${vault.url}", path: secret, version: v2 }`,
    ...stores.map(
      (s) => `apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: { name: ${s}, namespace: default }
spec:
  provider:
    ${storeDocs[s]}`,
    ),
    ...allPaths.map(
      (p) => `apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: ${remoteKeyOf(p)}, namespace: default }
spec:
  secretStoreRefs: [{ name: vault, kind: ClusterSecretStore }, ${stores.map((s) => `{ name: ${s} }`).join(", ")}]
  selector: { secret: { name: ${p} } }
  data:
    - match: { remoteRef: { remoteKey: ${remoteKeyOf(p)} } }`,
    ),
  ];
  return docs.join("\n---\n") + "\n";
}
