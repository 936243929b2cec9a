/**
 * The latency benchmark's readers, in a process of their own (bench/latency.ts forks it) so
 * that the SDK work of polling does not take CPU from the event loop that serves the local
 * clouds and the forwarder it measures.
 *
 *   parent → child   first the Config, then { id, key, seq, since, timeoutMs }
 *   child → parent   { id, ms }: ms from `since` until every store holds `seq` or a later value
 *                    under `key` (the value is JSON with a "seq" field); ms undefined on timeout
 *
 * Times are epoch milliseconds with sub-millisecond precision (timeOrigin + now), which both
 * processes share. Each destination is read with its official SDK, only for the key asked
 * about: every 5 ms at first, less often as the wait grows (pollDelayMs), with at most MAX_READS
 * reads in flight in all.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { TokenCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { localGcpClient } from "../infra/local/gcp/client.ts";

export interface ReaderConfig {
  aws?: { endpoint: string; region: string };
  gcp?: { host: string; project: string };
  azure?: { url: string; caPem: string };
}

export interface ReadRequest {
  id: number;
  key: string;
  seq: number;
  since: number;
  timeoutMs: number;
}

const MAX_READS = 8;
const pollDelayMs = (waitedMs: number) => (waitedMs < 100 ? 5 : waitedMs < 1_000 ? 20 : 100);
const now = () => performance.timeOrigin + performance.now();

type Read = (key: string) => Promise<string | undefined>;

function readers(config: ReaderConfig): Read[] {
  const out: Read[] = [];
  if (config.aws) {
    const sm = new SecretsManagerClient({
      region: config.aws.region,
      endpoint: config.aws.endpoint,
      credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
    });
    out.push(async (key) => {
      try {
        return (await sm.send(new GetSecretValueCommand({ SecretId: key }))).SecretString;
      } catch (err) {
        if ((err as Error).name === "ResourceNotFoundException") return undefined;
        throw err;
      }
    });
  }
  if (config.gcp) {
    const sm = localGcpClient(config.gcp.host);
    const project = config.gcp.project;
    out.push(async (key) => {
      try {
        const [version] = await sm.accessSecretVersion({
          name: `projects/${project}/secrets/${key}/versions/latest`,
        });
        return Buffer.from(version.payload?.data ?? "").toString();
      } catch (err) {
        if ((err as { code?: unknown }).code === 5) return undefined; // NOT_FOUND
        throw err;
      }
    });
  }
  if (config.azure) {
    const token: TokenCredential = {
      getToken: async () => ({ token: "bench", expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    const kv = new SecretClient(config.azure.url, token, {
      disableChallengeResourceVerification: true,
      tlsOptions: { ca: config.azure.caPem },
    });
    out.push(async (key) => {
      try {
        return (await kv.getSecret(key)).value;
      } catch (err) {
        if ((err as { statusCode?: unknown }).statusCode === 404) return undefined;
        throw err;
      }
    });
  }
  return out;
}

let inFlight = 0;
const waiting: (() => void)[] = [];
async function bounded<T>(read: () => Promise<T>): Promise<T> {
  while (inFlight >= MAX_READS) await new Promise<void>((resolve) => waiting.push(resolve));
  inFlight++;
  try {
    return await read();
  } finally {
    inFlight--;
    waiting.shift()?.();
  }
}

async function readable(stores: Read[], r: ReadRequest): Promise<number | undefined> {
  const seen = await Promise.all(
    stores.map(async (read) => {
      while (now() - r.since < r.timeoutMs) {
        const text = await bounded(() => read(r.key));
        const at = now();
        if (text !== undefined && Number((JSON.parse(text) as { seq?: string }).seq) >= r.seq) return at;
        await sleep(pollDelayMs(at - r.since));
      }
      return undefined;
    }),
  );
  return seen.some((t) => t === undefined) ? undefined : Math.max(...(seen as number[])) - r.since;
}

if (process.send) {
  let stores: Read[] | undefined;
  process.on("disconnect", () => process.exit(0));
  process.on("message", (m: ReaderConfig | ReadRequest) => {
    if (!stores) {
      stores = readers(m as ReaderConfig);
      process.send!({ ready: true });
      return;
    }
    const r = m as ReadRequest;
    void readable(stores, r).then((ms) => process.send!({ id: r.id, ms }));
  });
}
