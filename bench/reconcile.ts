/**
 * Reconcile benchmark: pushsync's engine against a polling baseline, both pushing N Vault
 * secrets to the local clouds with an injected latency on every cloud call.
 *
 *   npm run bench:reconcile -- [--n 10000] [--stores aws,gcp,azure] [--latency-ms 20] [--concurrency 16]
 *
 * The baseline does, per entry and per reconcile, what polling operators do: read the value
 * from Vault, describe the remote secret, read its value, compare, and write when different
 * (create when absent), with the same official SDK clients the providers use. Azure's GetSecret
 * returns the value with the properties, so there describe and read are one call.
 *
 * Each implementation runs on fresh clouds through three phases: the first sync, a steady-state
 * reconcile with nothing changed, and a reconcile after 1% of the Vault secrets changed.
 * Calls are counted by the local clouds. The local clouds have no quotas: the engine runs with
 * its providers' quotas raised so that it is not slowed by its own rate limiting.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import type { TokenCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { startLocalAws } from "../infra/local/aws/index.ts";
import { startLocalAzure } from "../infra/local/azure/index.ts";
import type { RequestCounter } from "../infra/local/common/server.ts";
import { startLocalGcp } from "../infra/local/gcp/server.ts";
import { startLocalVault } from "../infra/local/vault/index.ts";
import { createEngine, mapLimit, type PushEntry } from "../shared/engine/index.ts";
import { createAwsSecretsManagerProvider } from "../shared/providers/aws-secrets-manager/index.ts";
import { createAzureKeyVaultProvider } from "../shared/providers/azure-key-vault/index.ts";
import { createGcpSecretManagerProvider } from "../shared/providers/gcp-secret-manager/index.ts";
import type { SecretStoreProvider } from "../shared/providers/types.ts";
import { createVaultSource, tokenAuth } from "../shared/vault/index.ts";
import { localGcpClient } from "../infra/local/gcp/client.ts";

type Store = "aws" | "gcp" | "azure";
const STORES: Store[] = ["aws", "gcp", "azure"];
/** Calls that write a value, by store. */
const VALUE_WRITES: Record<Store, string[]> = {
  aws: ["CreateSecret", "PutSecretValue"],
  gcp: ["AddSecretVersion"],
  azure: ["SetSecret"],
};
const RAISED_QUOTA = 1_000_000;
const credentials = { accessKeyId: "bench", secretAccessKey: "bench" };
const azureToken: TokenCredential = {
  getToken: async () => ({ token: "bench", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

// As the CLI does: the SDK's notice that its 2027 releases need Node 22 is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "10000" },
    stores: { type: "string", default: "aws" },
    "latency-ms": { type: "string", default: "20" },
    concurrency: { type: "string", default: "16" },
  },
});
const N = Number(values.n);
const LATENCY_MS = Number(values["latency-ms"]);
const CONCURRENCY = Number(values.concurrency);
const stores = values.stores.split(",").map((s) => s.trim()) as Store[];
if (!Number.isInteger(N) || N < 100 || N % 100 !== 0 || stores.some((s) => !STORES.includes(s))) {
  console.error(
    "usage: bench/reconcile.ts [--n N, a multiple of 100] [--stores aws,gcp,azure] [--latency-ms 20] [--concurrency 16]",
  );
  process.exit(2);
}

const vaultPath = (i: number) => `bench/s${i}`;
/** Remote keys every store accepts ("bench/s1"; GCP maps it to bench__s1, Azure to bench--s1). */
const remoteKey = vaultPath;
const gcpId = (i: number) => `bench-s${i}`;

/** Fresh local clouds, Vault seeded with N secrets; latency on the destination clouds only. */
async function startStack() {
  const vault = await startLocalVault({ port: 0 });
  for (let i = 0; i < N; i++) await vault.writeKv("secret", vaultPath(i), { value: `initial-${i}` });
  const aws = stores.includes("aws") ? await startLocalAws({ port: 0 }) : undefined;
  const gcp = stores.includes("gcp") ? await startLocalGcp({ port: 0 }) : undefined;
  const caDir = mkdtempSync(path.join(tmpdir(), "pushsync-bench-"));
  const azure = stores.includes("azure") ? await startLocalAzure({ port: 0, httpPort: 0, caDir }) : undefined;
  const counters: Partial<Record<Store, RequestCounter>> = {};
  for (const [name, cloud] of [
    ["aws", aws],
    ["gcp", gcp],
    ["azure", azure],
  ] as const) {
    if (!cloud) continue;
    cloud.faults.latencyMs = LATENCY_MS;
    counters[name] = cloud.requests;
  }
  const source = createVaultSource({ address: vault.url, auth: tokenAuth({ token: vault.rootToken }) });
  return {
    vault,
    source,
    aws,
    gcp,
    azure,
    counters,
    async changeOnePercent() {
      for (let i = 0; i < N; i += 100) await vault.writeKv("secret", vaultPath(i), { value: `changed-${i}` });
    },
    close: async () => {
      await source.close();
      await Promise.all([vault.close(), aws?.close(), gcp?.close(), azure?.close()]);
      rmSync(caDir, { recursive: true, force: true });
    },
  };
}
type Stack = Awaited<ReturnType<typeof startStack>>;

/** A provider that reports raised quotas, so the engine's token buckets never wait. */
function unthrottled(p: SecretStoreProvider): SecretStoreProvider {
  const quotas = { read: RAISED_QUOTA, write: RAISED_QUOTA, list: RAISED_QUOTA };
  return new Proxy(p, { get: (target, key) => (key === "quotas" ? quotas : Reflect.get(target, key)) });
}

function pushsync(stack: Stack): () => Promise<void> {
  const providers = new Map<string, SecretStoreProvider>();
  if (stack.aws)
    providers.set(
      "aws",
      createAwsSecretsManagerProvider({
        storeName: "aws",
        region: "us-east-1",
        endpoint: stack.aws.url,
        credentials,
      }),
    );
  if (stack.gcp)
    providers.set(
      "gcp",
      createGcpSecretManagerProvider({ storeName: "gcp", projectId: "bench", emulatorHost: stack.gcp.host }),
    );
  if (stack.azure)
    providers.set(
      "azure",
      createAzureKeyVaultProvider({
        storeName: "azure",
        vaultUrl: stack.azure.url,
        ca: stack.azure.caCertPem,
        credential: azureToken,
      }),
    );
  const engine = createEngine({
    vault: stack.source,
    providers: new Map([...providers].map(([k, p]) => [k, unthrottled(p)])),
    fingerprintKey: "bench-fingerprint-key-0123456789",
    concurrency: CONCURRENCY,
    vaultConcurrency: CONCURRENCY,
  });
  const entries: PushEntry[] = stores.flatMap((store) =>
    Array.from({ length: N }, (_x, i) => ({
      pushSecret: "bench/push",
      store,
      remoteKey: remoteKey(i),
      source: { vaultStore: "vault", parts: [{ location: { mount: "secret", path: vaultPath(i) } }] },
      secretKey: "value",
      conversionStrategy: "None" as const,
      metadata: {},
      updatePolicy: "Replace" as const,
      deletionPolicy: "None" as const,
      adopt: false,
    })),
  );
  return async () => {
    const report = await engine.reconcile(entries);
    if (report.totals.error > 0) {
      const first = report.entries.find((e) => e.error)!;
      throw new Error(
        `${report.totals.error} entries failed, e.g. ${first.remoteKey}: ${first.error!.message}`,
      );
    }
  };
}

const status = (err: unknown): unknown =>
  (err as { statusCode?: unknown; code?: unknown }).statusCode ?? (err as { code?: unknown }).code;

/** Polling: per entry read Vault, describe, read the value, compare, write when different. */
function baseline(stack: Stack): () => Promise<void> {
  const sync: ((i: number, desired: string) => Promise<void>)[] = [];
  if (stack.aws) {
    const sm = new SecretsManagerClient({ region: "us-east-1", endpoint: stack.aws.url, credentials });
    sync.push(async (i, desired) => {
      const name = remoteKey(i);
      try {
        await sm.send(new DescribeSecretCommand({ SecretId: name }));
      } catch (err) {
        if ((err as Error).name !== "ResourceNotFoundException") throw err;
        await sm.send(new CreateSecretCommand({ Name: name, SecretString: desired }));
        return;
      }
      const current = await sm.send(new GetSecretValueCommand({ SecretId: name }));
      if (current.SecretString !== desired)
        await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: desired }));
    });
  }
  if (stack.gcp) {
    const sm = localGcpClient(stack.gcp.host);
    const parent = "projects/bench";
    sync.push(async (i, desired) => {
      const name = `${parent}/secrets/${gcpId(i)}`;
      const add = () => sm.addSecretVersion({ parent: name, payload: { data: Buffer.from(desired) } });
      try {
        await sm.getSecret({ name });
      } catch (err) {
        if (status(err) !== 5) throw err; // NOT_FOUND
        await sm.createSecret({ parent, secretId: gcpId(i), secret: { replication: { automatic: {} } } });
        await add();
        return;
      }
      const [version] = await sm.accessSecretVersion({ name: `${name}/versions/latest` });
      if (Buffer.from(version.payload?.data ?? "").toString() !== desired) await add();
    });
  }
  if (stack.azure) {
    const kv = new SecretClient(stack.azure.url, azureToken, {
      disableChallengeResourceVerification: true,
      tlsOptions: { ca: stack.azure.caCertPem },
    });
    sync.push(async (i, desired) => {
      const name = `bench--s${i}`;
      let current: string | undefined;
      try {
        current = (await kv.getSecret(name)).value;
      } catch (err) {
        if (status(err) !== 404) throw err;
      }
      if (current !== desired) await kv.setSecret(name, desired);
    });
  }
  return async () => {
    await Promise.all(
      sync.map((one) =>
        mapLimit(
          Array.from({ length: N }, (_x, i) => i),
          CONCURRENCY,
          async (i) =>
            one(i, String((await stack.source.read({ mount: "secret", path: vaultPath(i) })).data.value)),
        ),
      ),
    );
  };
}

interface Phase {
  name: string;
  wallMs: number;
  calls: Partial<Record<Store, Record<string, number>>>;
  vaultRequests: number;
}

async function runPhases(make: (stack: Stack) => () => Promise<void>): Promise<Phase[]> {
  const stack = await startStack();
  const reconcile = make(stack);
  const phases: Phase[] = [];
  const measure = async (name: string) => {
    for (const c of [stack.vault.requests, ...Object.values(stack.counters)]) c.reset();
    const started = performance.now();
    await reconcile();
    const wallMs = performance.now() - started;
    const calls = Object.fromEntries(Object.entries(stack.counters).map(([s, c]) => [s, c.snapshot()]));
    phases.push({ name, wallMs, calls, vaultRequests: stack.vault.requests.total() });
  };
  try {
    await measure("first sync");
    await measure("steady state");
    await stack.changeOnePercent();
    await measure("1% changed");
  } finally {
    await stack.close();
  }
  return phases;
}

const total = (ops: Record<string, number> = {}) => Object.values(ops).reduce((a, b) => a + b, 0);
const valueWrites = (store: Store, ops: Record<string, number> = {}) =>
  VALUE_WRITES[store].reduce((n, op) => n + (ops[op] ?? 0), 0);
const fmtOps = (ops: Record<string, number> = {}) =>
  Object.entries(ops)
    .map(([op, n]) => `${op} ${n}`)
    .join(", ");

console.log(`pushsync reconcile benchmark
N = ${N} Vault secrets, pushed to: ${stores.join(", ")}
latency ${LATENCY_MS} ms added to every call of the destination clouds (none on the local Vault)
concurrency ${CONCURRENCY} per store for both (pushsync's Vault reads: ${CONCURRENCY} over all stores); pushsync quotas raised to ${RAISED_QUOTA}/s per class (the local clouds have none)
`);
const results: Record<string, Phase[]> = {};
for (const [name, make] of [
  ["pushsync", pushsync],
  ["baseline", baseline],
] as const) {
  results[name] = await runPhases(make);
  for (const p of results[name]) {
    console.log(
      `${name.padEnd(8)}  ${p.name.padEnd(12)}  ${(p.wallMs / 1000).toFixed(1).padStart(6)} s  Vault requests ${p.vaultRequests}`,
    );
    for (const s of stores)
      console.log(`${"".padEnd(24)}${s.padEnd(5)} ${total(p.calls[s])} calls: ${fmtOps(p.calls[s])}`);
  }
  console.log("");
}

const [ps, base] = [results.pushsync!, results.baseline!];
const goals: [string, boolean][] = [];
/** Prints the steady-state calls of pushsync over the baseline's, and adds the 1% goal. */
const steadyGoal = (line: string, goal: string, steady: number, baseSteady: number) => {
  const ratio = steady / baseSteady;
  console.log(
    `${line}: steady-state calls pushsync/baseline = ${steady}/${baseSteady} = ${(ratio * 100).toFixed(3)}%`,
  );
  goals.push([`${goal}: steady-state provider calls at most 1% of the baseline's`, ratio <= 0.01]);
};
for (const s of stores) {
  steadyGoal(s, s, total(ps[1]!.calls[s]), total(base[1]!.calls[s]));
  goals.push(
    [
      `${s}: first sync writes exactly N = ${N} values (wrote ${valueWrites(s, ps[0]!.calls[s])})`,
      valueWrites(s, ps[0]!.calls[s]) === N,
    ],
    [
      `${s}: 1% changed writes exactly N/100 = ${N / 100} values (wrote ${valueWrites(s, ps[2]!.calls[s])})`,
      valueWrites(s, ps[2]!.calls[s]) === N / 100,
    ],
  );
}
const allStores = (phase: Phase) => stores.reduce((n, s) => n + total(phase.calls[s]), 0);
steadyGoal("all stores", "across the stores", allStores(ps[1]!), allStores(base[1]!));
console.log("");
for (const [goal, ok] of goals) console.log(`${ok ? "PASS" : "FAIL"}  ${goal}`);
process.exitCode = goals.every(([, ok]) => ok) ? 0 : 1;
