/**
 * The main job of pushsync, on the local clouds, as deployed on AWS:
 *
 *   Vault write → socket audit device "pushsync" → forwarder (shared/forwarder, in this process)
 *     → FIFO queue pushsync-events.fifo (dead-letter queue after 5 receives)
 *     → SQS runner (sqs-runner.ts, the event source mapping) → push-worker function
 *   and the reconciler function once at start, then every `reconcileEveryMs`.
 *
 * The functions are the real handlers of functions/aws/, each in its own process (functions.ts)
 * with the Lambda configuration pointed at the local clouds: the stores' own auth with the
 * local Vault's root token (PUSHSYNC_VAULT_AUTH=store), every store the manifests name (hub
 * mode), the fingerprint key the CLI uses, and log level debug so that every entry's outcome,
 * "unchanged" included, reaches `onOutcome`.
 *
 * With `cloudFunctions`, each cloud's own function pushes to that cloud's stores (PUSHSYNC_STORES):
 * the push worker to the AWS stores, and the GCP and Azure functions (http-functions.ts, each
 * cloud's server in its own process) to theirs, behind two webhook sinks of the forwarder, each
 * sent only the changes that PushSecrets to its stores read (pathsForStores) and signed with a
 * key made at start (PUSHSYNC_WEBHOOK_SECRET). Reconciles are per cloud too: the reconciler Lambda
 * for the AWS stores and each function's reconcile endpoint for its own. The Azure functions push
 * to the local Key Vault whatever the stores' vaultUrl says.
 *
 * With `events: false` only the reconciler runs (no audit device, forwarder, queue or runner):
 * the polling model, for the latency benchmark's baseline.
 */
import path from "node:path";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SQSClient,
  type QueueAttributeName,
} from "@aws-sdk/client-sqs";
import type { SqsBatchResponse } from "../../../functions/aws/lambda.ts";
import {
  entriesFromPushes,
  type EntryError,
  type Outcome,
  type PushEntry,
} from "../../../shared/engine/index.ts";
import { randomBytes } from "node:crypto";
import { PathIndex, type WatchedPath } from "../../../shared/events/index-paths.ts";
import type { EventSink } from "../../../shared/events/sink.ts";
import { createSqsSink } from "../../../shared/events/sqs.ts";
import type { VaultChangeEvent } from "../../../shared/events/types.ts";
import { createWebhookSink } from "../../../shared/events/webhook.ts";
import { startForwarder, type Forwarder } from "../../../shared/forwarder/forwarder.ts";
import { pathsForStores, watchFromManifests } from "../../../shared/forwarder/watch.ts";
import type { Logger } from "../../../shared/observability/logger.ts";
import { STORES_ENV } from "../../../shared/runtime/config.ts";
import { WEBHOOK_SECRET_ENV } from "../../../shared/runtime/webhook.ts";
import {
  describeResource,
  formatDiagnostic,
  loadManifests,
  resolvePushSecrets,
} from "../../../shared/spec/index.ts";
import { VaultHttp } from "../../../shared/vault/http.ts";
import { localEnv, type LocalState } from "../local-state.ts";
import { startFunction, type FunctionName } from "./functions.ts";
import { startHttpFunctions, type HttpCloud, type HttpFunctions } from "./http-functions.ts";
import { startSqsRunner } from "./sqs-runner.ts";

export const QUEUE_NAME = "pushsync-events";
const PUSHER_OF_PROVIDER: Record<string, Pusher> = {
  "aws-secrets-manager": "push-worker",
  "gcp-secret-manager": "gcp-function",
  "azure-key-vault": "azure-function",
};
export const MAX_RECEIVE_COUNT = 5;
const AUDIT_DEVICE = "pushsync";

/** Who logged an outcome: a Lambda function, a GCP or Azure function, or the cluster's puller. */
export type Pusher = FunctionName | "gcp-function" | "azure-function" | "puller";

/** One entry's outcome, as a function logged it ("push outcome"), with the latency when known. */
export interface PushOutcome {
  function: Pusher;
  pushSecret?: string;
  store: string;
  remoteKey: string;
  property?: string;
  outcome: Outcome;
  /** The table's state, when not the outcome's (the puller's rows: the Ready condition). */
  state?: string;
  /** Vault source(s) as "mount/path@version", comma separated. */
  vault?: string;
  error?: EntryError;
  /** When the function logged it, ms since the epoch. */
  at: number;
  /** Event-driven pushes only: from the newest Vault write (audit entry time) of its sources to `at`. */
  latencyMs?: number;
}

export interface PipelineOptions {
  /** The running local clouds; Vault and AWS are required. */
  clouds: LocalState;
  manifestsDir: string;
  host: string;
  /** Port of the forwarder's audit listener (0: a free one). */
  auditPort: number;
  /** Port of the forwarder's /metrics and /healthz (0: a free one); none when undefined. */
  metricsPort?: number;
  /** Default true; false runs the reconciler alone. */
  events?: boolean;
  /**
   * Each cloud's own function for its stores, the GCP and Azure ones listening on these ports (0:
   * a free one); default: the push worker pushes to every store (hub mode). Needs `events`.
   */
  cloudFunctions?: { gcpPort: number; azurePort: number };
  /** More Vault locations for the forwarder to watch (the cluster's ExternalSecrets), for `lastWrite`. */
  extraWatch?: WatchedPath[];
  /**
   * Push worker processes, each fed by its own SQS runner. Default 2: Lambda runs batches of
   * different message groups at the same time, and with one process the next batch waits for
   * the previous push to finish.
   */
  pushWorkers?: number;
  reconcileEveryMs: number;
  visibilityTimeoutSeconds: number;
  /** PUSHSYNC_FINGERPRINT_KEY or PUSHSYNC_FINGERPRINT_KEY_FILE for the functions. */
  fingerprintEnv: Record<string, string>;
  /** The forwarder's and the runner's log. */
  logger: Logger;
  /** Every line the functions write (JSON log records, EMF metrics). */
  onFunctionOutput(name: Pusher, line: string): void;
  onOutcome(outcome: PushOutcome): void;
}

export interface Pipeline {
  entries: PushEntry[];
  /** Push worker processes running (0 without events). */
  pushWorkers: number;
  /** Manifest errors and warnings, one line each. */
  problems: string[];
  queueUrl?: string;
  dlqUrl?: string;
  /** The forwarder's audit listener, "host:port". */
  auditAddress?: string;
  metricsPort?: number;
  /** With `cloudFunctions`: the GCP and Azure functions, and the stores each function serves. */
  cloudFunctions?: Record<HttpCloud, HttpFunctions | undefined> & { stores: Record<string, Pusher> };
  /** The newest write to "mount/path" the forwarder saw: its version and audit time (ms). */
  lastWrite(location: string): { version?: number; at: number } | undefined;
  /** Resolves when the reconcile in progress (or a new one) has finished. */
  reconcile(): Promise<void>;
  close(): Promise<void>;
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { clouds, logger: log } = options;
  if (!clouds.vault || !clouds.aws) throw new Error("the pipeline needs the local Vault and AWS");
  const manifestsDir = path.resolve(options.manifestsDir);
  const loaded = await loadManifests([manifestsDir]);
  const { pushes } = resolvePushSecrets(loaded.manifests);
  const built = entriesFromPushes(pushes);
  const watch = watchFromManifests(loaded.manifests);
  watch.paths.push(...(options.extraWatch ?? []));
  const problems = [
    ...loaded.errors.map(formatDiagnostic),
    ...built.errors,
    ...loaded.warnings.map(formatDiagnostic),
    ...watch.warnings,
    ...loaded.manifests.stores.flatMap((store) => {
      if (options.cloudFunctions) return [];
      // The functions reach Key Vault at the store's vaultUrl: on another port it is not the local one.
      const url = store.spec.provider.azurekv?.vaultUrl;
      const local = clouds.azure?.vaultUrl;
      return url && local && new URL(url).origin !== new URL(local).origin
        ? [
            `${describeResource(store)}: vaultUrl ${url} is not the local Key Vault (${local}); its pushes fail`,
          ]
        : [];
    }),
  ];

  // Newest change event seen per "mount/path", for latencies.
  const written = new Map<string, { version?: number; at: number }>();
  const noteWrites = (events: VaultChangeEvent[]): void => {
    for (const { mount, path: at, version, time } of events) {
      const key = `${mount}/${at}`;
      if ((written.get(key)?.version ?? -1) <= (version ?? Infinity))
        written.set(key, { ...(version !== undefined ? { version } : {}), at: Date.parse(time) });
    }
  };
  // The sink as it is, noting the writes it is given on the way.
  const noting = (sink: EventSink): EventSink => ({
    name: sink.name,
    ...(sink.maxBatchSize !== undefined ? { maxBatchSize: sink.maxBatchSize } : {}),
    publish: (events) => (noteWrites(events), sink.publish(events)),
    ...(sink.close ? { close: () => sink.close!() } : {}),
  });
  // Destination store id → the function pushing to it when each cloud has its own.
  const pusherOf: Record<string, Pusher> = {};
  for (const d of pushes.flatMap((p) => p.destinations))
    pusherOf[d.id] = PUSHER_OF_PROVIDER[d.provider] ?? "push-worker";
  const storesOf = (pusher: Pusher): string =>
    Object.keys(pusherOf)
      .filter((id) => pusherOf[id] === pusher)
      .join(",");
  const functionEnv = {
    ...process.env,
    ...localEnv(clouds),
    ...options.fingerprintEnv,
    PUSHSYNC_VAULT_AUTH: "store",
    PUSHSYNC_MANIFESTS_DIR: manifestsDir,
    PUSHSYNC_LOG_LEVEL: "debug",
  };
  const onOutput = (name: Pusher) => (line: string) => {
    options.onFunctionOutput(name, line);
    const outcome = parseOutcome(name, line);
    if (!outcome) return;
    if (name !== "reconciler") {
      const writes = (outcome.vault ?? "").split(",").map((s) => written.get(s.slice(0, s.lastIndexOf("@"))));
      const newest = Math.max(...writes.map((w) => w?.at ?? -Infinity));
      if (newest > -Infinity) outcome.latencyMs = outcome.at - newest;
    }
    options.onOutcome(outcome);
  };

  // Stopped in the reverse order of starting; close() runs once.
  const closers: (() => Promise<void>)[] = [];
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      for (const c of closers.reverse()) {
        await c().catch((err: unknown) => log.warn("stopping: a step failed", { err }));
      }
    })());
  try {
    const events = options.events !== false;
    const perCloud = events ? options.cloudFunctions : undefined;
    const webhookSecret = randomBytes(32).toString("hex");
    const envOf = (pusher: Pusher) =>
      perCloud
        ? {
            ...functionEnv,
            [STORES_ENV]: storesOf(pusher === "reconciler" ? "push-worker" : pusher),
            [WEBHOOK_SECRET_ENV]: webhookSecret,
          }
        : functionEnv;
    const start = (name: FunctionName) => startFunction({ name, env: envOf(name), onOutput: onOutput(name) });
    // In per-cloud mode a cloud without stores gets no function: PUSHSYNC_STORES empty means every store.
    const serves = (pusher: Pusher): boolean => !perCloud || storesOf(pusher) !== "";
    const [reconciler, ...pushWorkers] = await Promise.all([
      start("reconciler"),
      ...Array.from({ length: events && serves("push-worker") ? (options.pushWorkers ?? 2) : 0 }, () =>
        start("push-worker"),
      ),
    ]);
    closers.push(...[reconciler!, ...pushWorkers].map((f) => () => f.close()));
    const httpFunctions: Partial<Record<HttpCloud, HttpFunctions>> = {};
    if (perCloud) {
      const servers: [HttpCloud, Pusher, number][] = [
        ["gcp", "gcp-function", perCloud.gcpPort],
        ["azure", "azure-function", perCloud.azurePort],
      ];
      const started = await Promise.allSettled(
        servers
          .filter(([, pusher]) => serves(pusher))
          .map(async ([cloud, pusher, port]) => {
            const fn = await startHttpFunctions({
              cloud,
              host: options.host,
              port,
              env: envOf(pusher),
              ...(cloud === "azure" && clouds.azure ? { keyVaultUrl: clouds.azure.vaultUrl } : {}),
              onOutput: onOutput(pusher),
            });
            httpFunctions[cloud] = fn;
            closers.push(() => fn.close());
          }),
      );
      for (const s of started) if (s.status === "rejected") throw s.reason;
    }

    // The reconciler Lambda, and each GCP or Azure function's reconcile endpoint.
    const reconcilers: [string, () => Promise<unknown>][] = [];
    if (serves("push-worker")) reconcilers.push(["reconciler", () => reconciler!.invoke({})]);
    for (const fn of Object.values(httpFunctions)) {
      reconcilers.push([
        `${fn.cloud} functions`,
        async () => {
          const res = await fetch(fn.reconcileUrl, { method: "POST" });
          await res.arrayBuffer();
          if (!res.ok) throw new Error(`${fn.reconcileUrl} answered ${res.status}`);
        },
      ]);
    }
    let reconciling: Promise<void> | undefined;
    const reconcile = (): Promise<void> => {
      reconciling ??= Promise.all(
        reconcilers.map(([name, run]) =>
          run().then(
            () => undefined,
            (err: unknown) => log.warn("reconcile failed", { function: name, err }),
          ),
        ),
      )
        .then(() => undefined)
        .finally(() => (reconciling = undefined));
      return reconciling;
    };
    closers.push(async () => {
      await reconciling;
    });

    const pipeline: Pipeline = {
      entries: built.entries,
      pushWorkers: pushWorkers.length,
      problems,
      reconcile,
      close,
      lastWrite: (location) => written.get(location),
      ...(perCloud
        ? { cloudFunctions: { gcp: httpFunctions.gcp, azure: httpFunctions.azure, stores: pusherOf } }
        : {}),
    };
    if (events) {
      // Loads the push workers' runtimes now, as provisioned concurrency would.
      await Promise.all(pushWorkers.map((f) => f.invoke({ Records: [] })));
      const aws = clouds.aws;
      const sqs = new SQSClient({
        endpoint: aws.endpoint,
        region: aws.region,
        credentials: { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey },
      });
      closers.push(async () => sqs.destroy());
      const queue = await createQueues(sqs, options.visibilityTimeoutSeconds);
      pipeline.queueUrl = queue.url;
      pipeline.dlqUrl = queue.dlqUrl;

      const sinks = [createSqsSink({ queueUrl: queue.url, client: sqs, logger: log })];
      for (const [cloud, pusher] of [
        ["gcp", "gcp-function"],
        ["azure", "azure-function"],
      ] as const) {
        const fn = httpFunctions[cloud];
        if (!fn) continue;
        const index = new PathIndex(pathsForStores(loaded.manifests, new Set(storesOf(pusher).split(","))));
        sinks.push(
          createWebhookSink({
            name: `webhook-${cloud}`,
            url: fn.pushUrl,
            secret: webhookSecret,
            accept: (event) => index.matches(event),
            logger: log,
          }),
        );
      }
      const forwarder = await startForwarder({
        watch,
        sinks: sinks.map(noting),
        auditListen: { host: options.host, port: options.auditPort },
        ...(options.metricsPort !== undefined
          ? { metricsListen: { host: options.host, port: options.metricsPort } }
          : {}),
        logger: log,
      });
      closers.push(async () => void (await forwarder.stop(5_000)));
      pipeline.auditAddress = `${options.host}:${forwarder.auditPort}`;
      if (forwarder.metricsPort !== undefined) pipeline.metricsPort = forwarder.metricsPort;
      // Removed before the forwarder stops: Vault must not dial a listener that is gone.
      closers.push(await enableAuditDevice(clouds.vault, forwarder, options.host, log));

      // One runner per push worker process: as many batches in flight as Lambda would run.
      for (const pushWorker of pushWorkers) {
        const runner = startSqsRunner({
          client: sqs,
          queueUrl: queue.url,
          queueArn: queue.arn,
          region: aws.region,
          handler: async (event, context) =>
            (await pushWorker.invoke(event, context.awsRequestId)) as SqsBatchResponse,
          logger: log,
        });
        closers.push(() => runner.stop());
      }
    }

    await reconcile();
    const timer = setInterval(() => void reconcile(), options.reconcileEveryMs);
    closers.push(async () => clearInterval(timer));
    return pipeline;
  } catch (err) {
    await close();
    throw err;
  }
}

/** The FIFO queue "<name>.fifo" and its dead-letter queue, as serverless.yml declares them. */
export async function createQueues(
  sqs: SQSClient,
  visibilityTimeoutSeconds: number,
  name = QUEUE_NAME,
): Promise<{ url: string; arn: string; dlqUrl: string }> {
  const arnOf = async (url: string): Promise<string> => {
    const names: QueueAttributeName[] = ["QueueArn"];
    const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }));
    return out.Attributes!.QueueArn!;
  };
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}-dlq.fifo`,
      Attributes: { FifoQueue: "true", MessageRetentionPeriod: "1209600" },
    }),
  );
  const main = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}.fifo`,
      Attributes: {
        FifoQueue: "true",
        ContentBasedDeduplication: "false",
        VisibilityTimeout: String(visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: await arnOf(dlq.QueueUrl!),
          maxReceiveCount: MAX_RECEIVE_COUNT,
        }),
      },
    }),
  );
  return { url: main.QueueUrl!, arn: await arnOf(main.QueueUrl!), dlqUrl: dlq.QueueUrl! };
}

/** Points Vault's socket audit device "pushsync" at the forwarder; returns its removal. */
async function enableAuditDevice(
  vault: NonNullable<LocalState["vault"]>,
  forwarder: Forwarder,
  host: string,
  log: Logger,
): Promise<() => Promise<void>> {
  const http = new VaultHttp({ address: vault.address, timeoutMs: 10_000 });
  const address = `${host.includes(":") ? `[${host}]` : host}:${forwarder.auditPort}`;
  try {
    await http.call({
      method: "POST",
      path: `sys/audit/${AUDIT_DEVICE}`,
      token: vault.token,
      body: {
        type: "socket",
        description: "pushsync dev",
        options: { address, socket_type: "tcp", format: "json" },
      },
    });
  } catch (err) {
    http.close();
    throw err;
  }
  log.info("audit device enabled", { device: AUDIT_DEVICE, address });
  return async () => {
    try {
      await http.call({ method: "DELETE", path: `sys/audit/${AUDIT_DEVICE}`, token: vault.token });
      log.info("audit device disabled", { device: AUDIT_DEVICE });
    } finally {
      http.close();
    }
  };
}

/**
 * A "push outcome" log record of a function, or undefined for any other line. The GCP functions
 * log the record's message as `message` (Cloud Logging's field), the others as `msg`.
 */
function parseOutcome(name: Pusher, line: string): PushOutcome | undefined {
  if (!line.startsWith("{")) return undefined;
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (
    (r.msg ?? r.message) !== "push outcome" ||
    typeof r.store !== "string" ||
    typeof r.remoteKey !== "string"
  )
    return undefined;
  return {
    function: name,
    ...(typeof r.pushSecret === "string" ? { pushSecret: r.pushSecret } : {}),
    store: r.store,
    remoteKey: r.remoteKey,
    ...(typeof r.property === "string" ? { property: r.property } : {}),
    outcome: r.outcome as Outcome,
    ...(typeof r.vault === "string" ? { vault: r.vault } : {}),
    ...(r.error !== undefined ? { error: r.error as EntryError } : {}),
    at: typeof r.time === "string" ? Date.parse(r.time) : Date.now(),
  };
}
