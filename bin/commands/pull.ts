/**
 * `pushsync pull`: the in-cluster ExternalSecret puller (functions/cluster/puller.ts). Runs
 * until SIGINT or SIGTERM, then hands its Lease back. Logs are JSON lines on stderr; they carry
 * names, paths and counts, never values.
 */
import { readFileSync } from "node:fs";
import { KubeClient } from "../../functions/cluster/kube.ts";
import { startPuller, type PullerOptions } from "../../functions/cluster/puller.ts";
import { loadFingerprintKey } from "../../shared/engine/fingerprint.ts";
import type { Logger } from "../../shared/observability/logger.ts";
import { parseDuration } from "../../shared/spec/index.ts";
import { authFromEnv } from "../../shared/vault/env.ts";
import { loggedCommand, parseOptions, untilStopped, usageError } from "../lib/command.ts";
import { hostPort } from "./forward.ts";

const help = `pushsync pull [options]

Turns the cluster's ExternalSecrets (external-secrets.io v1, or v1beta1 where only that is
served) into Kubernetes Secrets, as External Secrets Operator does: SecretStores and
ClusterSecretStores for Vault, AWS Secrets Manager, GCP Secret Manager and Azure Key Vault;
refreshPolicy and refreshInterval, creationPolicy, deletionPolicy, templates, dataFrom with
rewrites, status conditions and Events. With --vault-events or --webhook, a change in Vault
reaches the Secrets that read it within a second. Replicas elect a leader through a Lease;
only the leader writes.

Options:
  --kubeconfig PATH        kubeconfig (default KUBECONFIG, ~/.kube/config, else the pod's service account)
  --namespace NS           namespace of the Lease (default POD_NAMESPACE, else the kubeconfig's, else default)
  --lease-name NAME        default pushsync-puller
  --identity ID            Lease holder identity (default POD_NAME, else the host name)
  --lease-duration D       default 15s   (client-go's defaults; durations like 15s, 1m)
  --renew-deadline D       default 10s
  --retry-period D         default 2s
  --listen HOST:PORT       /metrics, /healthz, /readyz and the webhook (default 0.0.0.0:8080; "none")
  --concurrency N          reconciles in parallel (default 4)
  --api-version V          v1 or v1beta1 (default: what the cluster serves, v1 first)
  --vault-events           subscribe to Vault's event stream: VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE,
                           VAULT_CACERT (a token allowed to read sys/events/subscribe/kv*)
  --webhook                accept the forwarder's signed webhooks at POST /vault-events; key from
                           PUSHSYNC_WEBHOOK_SECRET (followers answer 503)
  --label-leader-pod       the leader labels its Pod (POD_NAMESPACE/POD_NAME) pushsync.io/leader=true,
                           for a Service that sends the webhooks to it
  -h, --help               show this help

Data-hash key (the keyed HMAC in the reconcile.external-secrets.io/data-hash annotation):
PUSHSYNC_FINGERPRINT_KEY or PUSHSYNC_FINGERPRINT_KEY_FILE (required).

Store settings come from the stores; Vault stores ignore VAULT_* variables. For aws, gcpsm and
azurekv stores the environment wins over the store, as for "pushsync sync". Secret references of
the stores are read from the referenced Kubernetes Secrets.`;

interface Args {
  kubeconfig?: string;
  namespace?: string;
  leaseName: string;
  identity?: string;
  leaseDurationSeconds: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  listen?: { host: string; port: number };
  concurrency: number;
  apiVersion?: "v1" | "v1beta1";
  vaultEvents: boolean;
  webhook: boolean;
  labelLeaderPod: boolean;
}

export default loggedCommand("pull", parse, run);

async function run(args: Args, log: Logger): Promise<number> {
  const client = KubeClient.load(args.kubeconfig);
  const options: PullerOptions = {
    client,
    leaseNamespace: args.namespace ?? process.env.POD_NAMESPACE ?? client.currentNamespace() ?? "default",
    leaseName: args.leaseName,
    leaderElection: {
      leaseDurationSeconds: args.leaseDurationSeconds,
      renewDeadlineMs: args.renewDeadlineMs,
      retryPeriodMs: args.retryPeriodMs,
    },
    hashKey: loadFingerprintKey(process.env),
    concurrency: args.concurrency,
    logger: log,
    ...(args.identity ? { identity: args.identity } : {}),
    ...(args.apiVersion ? { apiVersion: args.apiVersion } : {}),
    ...(args.listen ? { listen: args.listen } : {}),
  };
  if (args.vaultEvents) {
    const token = process.env.VAULT_TOKEN?.trim();
    if (!token) throw new Error("--vault-events needs VAULT_TOKEN");
    const conn = authFromEnv(process.env);
    options.vaultEvents = {
      address: conn.address,
      token,
      ...(conn.namespace ? { namespace: conn.namespace } : {}),
      ...(conn.caBundle ? { ca: conn.caBundle } : {}),
    };
  }
  if (args.webhook) options.webhookSecret = process.env.PUSHSYNC_WEBHOOK_SECRET!;
  if (args.labelLeaderPod) {
    const { POD_NAMESPACE: namespace, POD_NAME: name } = process.env;
    if (!namespace || !name) throw new Error("--label-leader-pod needs POD_NAMESPACE and POD_NAME");
    options.leaderPod = { namespace, name };
  }

  const puller = await startPuller(options);
  if (puller.port !== undefined)
    log.info(`listening on ${args.listen!.host}:${puller.port}`, { port: puller.port });
  await untilStopped();
  log.info("stopping");
  await puller.close();
  client.close();
  return 0;
}

function parse(argv: string[]): Args | number {
  const usage = usageError("pull", help);
  const values = parseOptions(
    {
      args: argv,
      options: {
        kubeconfig: { type: "string" },
        namespace: { type: "string" },
        "lease-name": { type: "string", default: "pushsync-puller" },
        identity: { type: "string" },
        "lease-duration": { type: "string", default: "15s" },
        "renew-deadline": { type: "string", default: "10s" },
        "retry-period": { type: "string", default: "2s" },
        listen: { type: "string", default: "0.0.0.0:8080" },
        concurrency: { type: "string", default: "4" },
        "api-version": { type: "string" },
        "vault-events": { type: "boolean", default: false },
        webhook: { type: "boolean", default: false },
        "label-leader-pod": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    },
    usage,
    help,
  );
  if (typeof values === "number") return values;
  const durations: Record<string, number> = {};
  for (const name of ["lease-duration", "renew-deadline", "retry-period"] as const) {
    try {
      durations[name] = parseDuration(values[name]);
    } catch (err) {
      return usage(`--${name}: ${(err as Error).message}`);
    }
  }
  const leaseMs = durations["lease-duration"]!;
  if (leaseMs % 1000 !== 0 || leaseMs < 1000) return usage("--lease-duration must be whole seconds");
  if (!(durations["retry-period"]! < durations["renew-deadline"]! && durations["renew-deadline"]! < leaseMs))
    return usage("need --retry-period < --renew-deadline < --lease-duration");
  const listen = hostPort(values.listen);
  if (typeof listen === "string") return usage(`--listen: ${listen}`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    return usage("--concurrency must be a positive integer");
  const apiVersion = values["api-version"];
  if (apiVersion !== undefined && apiVersion !== "v1" && apiVersion !== "v1beta1")
    return usage("--api-version must be v1 or v1beta1");
  if (values.webhook && !process.env.PUSHSYNC_WEBHOOK_SECRET)
    return usage("--webhook needs the signing key in PUSHSYNC_WEBHOOK_SECRET");
  if (values.kubeconfig !== undefined) {
    try {
      readFileSync(values.kubeconfig);
    } catch (err) {
      return usage(`--kubeconfig: cannot read ${values.kubeconfig} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  return {
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
    leaseName: values["lease-name"],
    ...(values.identity !== undefined ? { identity: values.identity } : {}),
    leaseDurationSeconds: leaseMs / 1000,
    renewDeadlineMs: durations["renew-deadline"]!,
    retryPeriodMs: durations["retry-period"]!,
    ...(listen ? { listen } : {}),
    concurrency,
    ...(apiVersion ? { apiVersion } : {}),
    vaultEvents: values["vault-events"],
    webhook: values.webhook,
    labelLeaderPod: values["label-leader-pod"],
  };
}
