/**
 * `pushsync forward`: runs beside Vault and turns its change notifications for the secrets the
 * manifests read into messages on an SQS queue and/or signed webhook calls (see
 * shared/forwarder/forwarder.ts). Logs are JSON lines on stderr; they carry paths and counts,
 * never values.
 */
import type { WatchedPath } from "../../shared/events/index-paths.ts";
import type { EventSink } from "../../shared/events/sink.ts";
import { createSqsSink } from "../../shared/events/sqs.ts";
import { PathIndex } from "../../shared/events/index-paths.ts";
import { trimSlashes, type VaultChangeEvent } from "../../shared/events/types.ts";
import { createWebhookSink } from "../../shared/events/webhook.ts";
import { startForwarder, type Forwarder, type ForwarderOptions } from "../../shared/forwarder/forwarder.ts";
import { pathsForStores, watchFromManifests } from "../../shared/forwarder/watch.ts";
import type { Logger } from "../../shared/observability/logger.ts";
import { formatDiagnostic, loadManifests, resolvePushSecrets } from "../../shared/spec/index.ts";
import { authFromEnv } from "../../shared/vault/env.ts";
import { VaultHttp } from "../../shared/vault/http.ts";
import { loggedCommand, parseOptions, untilStopped, usageError } from "../lib/command.ts";
import { localEnv, readLocalState } from "../lib/local-state.ts";

const help = `pushsync forward [options]

Forwards Vault's change notifications for the secrets the manifests read (PushSecret sources and
ExternalSecret keys) to an SQS queue and/or webhooks, one event per changed secret. Runs until
SIGINT or SIGTERM, then publishes what is queued for up to 5 s (a second signal exits at once).

Sources (any combination; the TCP listener is on unless --audit-listen none):
  --audit-listen HOST:PORT  listener for Vault's socket audit device (default 127.0.0.1:9090;
                            port 0 picks a free one; the bound address is logged)
  --audit-socket PATH       listener on a Unix socket for a socket device with socket_type "unix"
  --audit-file PATH         follow the log of a file audit device
  --events                  subscribe to Vault's event stream: VAULT_ADDR, VAULT_TOKEN,
                            VAULT_NAMESPACE, VAULT_CACERT

Sinks (at least one):
  --sqs-queue-url URL       SQS queue (FIFO when the URL ends in .fifo). Endpoint, region and
                            credentials as the AWS SDK reads them (AWS_ENDPOINT_URL_SQS, AWS_REGION, ...)
  --webhook URL[#stores=A,B]  POST signed batches here (repeatable); key from PUSHSYNC_WEBHOOK_SECRET.
                            With #stores=, only changes read by PushSecrets pushing to one of those
                            stores ("namespace/name", or "name" for a ClusterSecretStore) go to this
                            endpoint, e.g. https://gcp-fn.example/pushsyncPush#stores=prod/gcp

Options:
  --manifests DIR           manifest files or directories, read recursively (repeatable; default manifests)
  --metrics-listen HOST:PORT  /metrics and /healthz (default 127.0.0.1:9102; "none" turns it off)
  --buffer-size N           distinct secrets queued per sink (default 10000)
  --overflow POLICY         drop-oldest (default) or drop-newest when the buffer is full
  --enable-audit-device     enable the socket audit device "pushsync" in Vault (VAULT_ADDR,
                            VAULT_TOKEN), pointing at this listener, and remove it at exit. A
                            convenience for local use: Vault refuses requests when no audit
                            device can log them, so in production enable the device yourself,
                            next to a file device
  --local                   use the local clouds started by "pushsync local" (.pushsync/local.json)
  -h, --help                show this help`;

const AUDIT_DEVICE = "pushsync";

interface Args {
  manifests: string[];
  auditListen?: { host: string; port: number };
  auditSocket?: string;
  auditFile?: string;
  events: boolean;
  sqsQueueUrl?: string;
  /** Endpoints, each with the stores it serves (undefined: every change). */
  webhooks: { url: string; stores?: Set<string> }[];
  metricsListen?: { host: string; port: number };
  bufferSize?: number;
  overflow?: "drop-oldest" | "drop-newest";
  enableAuditDevice: boolean;
  local: boolean;
}

export default loggedCommand("forward", parse, run);

async function run(args: Args, log: Logger): Promise<number> {
  if (args.local) {
    // The AWS SDK takes its endpoint, region and credentials from the environment.
    Object.assign(process.env, localEnv(await readLocalState()));
  }
  const loaded = await loadManifests(args.manifests);
  for (const d of loaded.errors)
    log.warn("manifest error: resource left out", { problem: formatDiagnostic(d) });
  const watch = watchFromManifests(loaded.manifests);
  for (const w of watch.warnings) log.warn("not watched", { problem: w });
  if (watch.paths.length === 0) {
    log.error("no Vault location to watch in the manifests", { manifests: args.manifests });
    return 1;
  }
  log.info("watching", { locations: watch.paths.length, mounts: watch.mounts });

  const vaultEnv = args.events || args.enableAuditDevice ? vaultSettings() : undefined;
  const sinks: EventSink[] = [];
  if (args.sqsQueueUrl) sinks.push(createSqsSink({ queueUrl: args.sqsQueueUrl, logger: log }));
  args.webhooks.forEach(({ url, stores }, i) => {
    const name = `webhook-${i + 1}`;
    const target = new URL(url);
    let accept: ((event: VaultChangeEvent) => boolean) | undefined;
    if (stores) {
      const index = new PathIndex(pathsForStores(loaded.manifests, stores));
      accept = (event) => index.matches(event);
      const pushedTo = new Set(
        resolvePushSecrets(loaded.manifests).pushes.flatMap((p) => p.destinations.map((d) => d.id)),
      );
      for (const store of stores)
        if (!pushedTo.has(store))
          log.warn("webhook names a store no PushSecret pushes to", { sink: name, store });
    }
    const secret = process.env.PUSHSYNC_WEBHOOK_SECRET!;
    sinks.push(createWebhookSink({ name, url, secret, logger: log, ...(accept ? { accept } : {}) }));
    log.info("webhook sink", {
      sink: name,
      endpoint: `${target.origin}${target.pathname}`,
      ...(stores ? { stores: [...stores] } : {}),
    });
  });

  const options: ForwarderOptions = {
    watch,
    sinks,
    logger: log,
    ...(args.auditListen ? { auditListen: args.auditListen } : {}),
    ...(args.auditSocket ? { auditSocketPath: args.auditSocket } : {}),
    ...(args.auditFile ? { auditFile: args.auditFile } : {}),
    ...(args.metricsListen ? { metricsListen: args.metricsListen } : {}),
    ...(args.bufferSize !== undefined ? { bufferSize: args.bufferSize } : {}),
    ...(args.overflow ? { overflow: args.overflow } : {}),
  };
  if (args.events && vaultEnv) {
    options.events = {
      address: vaultEnv.address,
      token: vaultEnv.token,
      ...(vaultEnv.namespace ? { namespace: vaultEnv.namespace } : {}),
      namespaces: namespacesBelow(vaultEnv.namespace ?? "", watch.paths, log),
      ...(vaultEnv.caBundle ? { ca: vaultEnv.caBundle } : {}),
    };
  }
  const forwarder = await startForwarder(options);
  if (args.metricsListen)
    log.info(`metrics on ${args.metricsListen.host}:${forwarder.metricsPort}`, {
      port: forwarder.metricsPort,
    });

  let device: AuditDevice | undefined;
  if (args.enableAuditDevice && vaultEnv) {
    try {
      device = await enableAuditDevice(vaultEnv, args, forwarder, log);
    } catch (err) {
      log.error("cannot enable the audit device", { err });
      await forwarder.stop(0);
      return 1;
    }
  }

  await untilStopped();
  log.info("stopping");
  // The device goes first: Vault must stop writing to a listener that is about to close.
  await device?.disable().catch((err: unknown) => log.warn("cannot disable the audit device", { err }));
  await forwarder.stop(5_000);
  return 0;
}

function parse(argv: string[]): Args | number {
  const usage = usageError("forward", help);
  const values = parseOptions(
    {
      args: argv,
      options: {
        manifests: { type: "string", multiple: true },
        "audit-listen": { type: "string", default: "127.0.0.1:9090" },
        "audit-socket": { type: "string" },
        "audit-file": { type: "string" },
        events: { type: "boolean", default: false },
        "sqs-queue-url": { type: "string" },
        webhook: { type: "string", multiple: true },
        "metrics-listen": { type: "string", default: "127.0.0.1:9102" },
        "buffer-size": { type: "string" },
        overflow: { type: "string" },
        "enable-audit-device": { type: "boolean", default: false },
        local: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    },
    usage,
    help,
  );
  if (typeof values === "number") return values;
  const auditListen = hostPort(values["audit-listen"]);
  if (typeof auditListen === "string") return usage(`--audit-listen: ${auditListen}`);
  const metricsListen = hostPort(values["metrics-listen"]);
  if (typeof metricsListen === "string") return usage(`--metrics-listen: ${metricsListen}`);
  const bufferSize = values["buffer-size"] === undefined ? undefined : Number(values["buffer-size"]);
  if (bufferSize !== undefined && !(Number.isInteger(bufferSize) && bufferSize > 0))
    return usage("--buffer-size must be a positive integer");
  const overflow = values.overflow;
  if (overflow !== undefined && overflow !== "drop-oldest" && overflow !== "drop-newest")
    return usage("--overflow must be drop-oldest or drop-newest");
  const webhooks: Args["webhooks"] = [];
  for (const spec of values.webhook ?? []) {
    const webhook = webhookSpec(spec);
    if (typeof webhook === "string") return usage(`--webhook ${spec}: ${webhook}`);
    webhooks.push(webhook);
  }
  if (!values["sqs-queue-url"] && webhooks.length === 0)
    return usage("give --sqs-queue-url and/or --webhook");
  for (const url of [values["sqs-queue-url"], ...webhooks.map((w) => w.url)]) {
    if (url !== undefined && !URL.canParse(url)) return usage(`not a URL: ${url}`);
  }
  if (webhooks.length > 0 && !process.env.PUSHSYNC_WEBHOOK_SECRET)
    return usage("--webhook needs the signing key in PUSHSYNC_WEBHOOK_SECRET");
  if (!auditListen && !values["audit-socket"] && !values["audit-file"] && !values.events)
    return usage("no source: give --audit-listen, --audit-socket, --audit-file or --events");
  if (values["enable-audit-device"] && !auditListen && !values["audit-socket"])
    return usage("--enable-audit-device needs --audit-listen or --audit-socket");
  return {
    manifests: values.manifests ?? ["manifests"],
    ...(auditListen ? { auditListen } : {}),
    ...(values["audit-socket"] ? { auditSocket: values["audit-socket"] } : {}),
    ...(values["audit-file"] ? { auditFile: values["audit-file"] } : {}),
    events: values.events,
    ...(values["sqs-queue-url"] ? { sqsQueueUrl: values["sqs-queue-url"] } : {}),
    webhooks,
    ...(metricsListen ? { metricsListen } : {}),
    ...(bufferSize !== undefined ? { bufferSize } : {}),
    ...(overflow ? { overflow } : {}),
    enableAuditDevice: values["enable-audit-device"],
    local: values.local,
  };
}

/** "URL" or "URL#stores=a,b" (a fragment is never sent, so it can carry the filter), or what is wrong. */
function webhookSpec(spec: string): { url: string; stores?: Set<string> } | string {
  const hash = spec.indexOf("#");
  if (hash < 0) return { url: spec };
  const filter = /^stores=(.+)$/.exec(spec.slice(hash + 1));
  const stores = new Set(
    (filter?.[1] ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  );
  if (stores.size === 0) return 'the part after "#" must be stores=<store>[,<store>...]';
  return { url: spec.slice(0, hash), stores };
}

/** "host:port" ("[::1]:9090" for IPv6), or undefined for "none", or what is wrong. */
export function hostPort(text: string): { host: string; port: number } | undefined | string {
  if (text === "none") return undefined;
  const colon = text.lastIndexOf(":");
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const port = Number(text.slice(colon + 1));
  if (colon <= 0 || host === "" || !/^\d+$/.test(text.slice(colon + 1)) || port > 65535)
    return `expected HOST:PORT, got "${text}"`;
  return { host, port };
}

interface VaultSettings {
  address: string;
  token: string;
  namespace?: string;
  caBundle?: string;
  http: ConstructorParameters<typeof VaultHttp>[0];
}

function vaultSettings(): VaultSettings {
  const token = process.env.VAULT_TOKEN?.trim();
  if (!token) throw new Error("--events and --enable-audit-device need VAULT_TOKEN");
  const { auth: _auth, ...conn } = authFromEnv(process.env);
  return {
    address: conn.address,
    token,
    ...(conn.namespace ? { namespace: conn.namespace } : {}),
    ...(conn.caBundle ? { caBundle: conn.caBundle } : {}),
    // Audit devices live in the root namespace.
    http: { ...conn, namespace: undefined, timeoutMs: 10_000 },
  };
}

/**
 * The event stream of VAULT_NAMESPACE carries only that namespace's events; the namespaces of
 * the watched stores below it are asked for too (Vault's `namespaces` parameter, relative).
 */
function namespacesBelow(base: string, paths: WatchedPath[], log: Logger): string[] {
  const root = trimSlashes(base);
  const below = new Set<string>();
  for (const ns of new Set(paths.map((p) => trimSlashes(p.namespace ?? "")))) {
    if (ns === root) continue;
    if (root === "" || ns.startsWith(`${root}/`)) below.add(root === "" ? ns : ns.slice(root.length + 1));
    else log.warn("namespace outside VAULT_NAMESPACE: its events are not received", { namespace: ns });
  }
  return [...below];
}

interface AuditDevice {
  disable(): Promise<void>;
}

/** Enables (or re-points) the socket audit device "pushsync" at this forwarder's listener. */
async function enableAuditDevice(
  vault: VaultSettings,
  args: Args,
  forwarder: Forwarder,
  log: Logger,
): Promise<AuditDevice> {
  const http = new VaultHttp(vault.http);
  const token = vault.token;
  const tcp = args.auditListen;
  // Vault dials this address; a listener on every interface is reached through loopback.
  const host = tcp && (tcp.host === "0.0.0.0" || tcp.host === "::") ? "127.0.0.1" : tcp?.host;
  const options = tcp
    ? {
        address: host!.includes(":") ? `[${host}]:${forwarder.auditPort}` : `${host}:${forwarder.auditPort}`,
        socket_type: "tcp",
      }
    : { address: args.auditSocket!, socket_type: "unix" };
  try {
    const listed = (await http.call({ method: "GET", path: "sys/audit", token })) as Record<string, unknown>;
    const devices = (listed.data ?? listed) as Record<
      string,
      { type?: string; options?: Record<string, string> }
    >;
    const existing = devices[`${AUDIT_DEVICE}/`];
    if (existing) {
      log.info("replacing the audit device", { device: AUDIT_DEVICE, address: existing.options?.address });
      await http.call({ method: "DELETE", path: `sys/audit/${AUDIT_DEVICE}`, token });
    }
    await http.call({
      method: "POST",
      path: `sys/audit/${AUDIT_DEVICE}`,
      token,
      body: { type: "socket", description: "pushsync forward", options: { ...options, format: "json" } },
    });
  } catch (err) {
    http.close();
    throw err;
  }
  log.info("audit device enabled", { device: AUDIT_DEVICE, ...options });
  return {
    async disable() {
      try {
        await http.call({ method: "DELETE", path: `sys/audit/${AUDIT_DEVICE}`, token });
        log.info("audit device disabled", { device: AUDIT_DEVICE });
      } finally {
        http.close();
      }
    },
  };
}
