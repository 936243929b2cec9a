/**
 * A small Kubernetes REST client: JSON requests and watch streams over node:http(s).
 *
 * Connection settings and credentials come from a kubeconfig (or the pod's service account) as
 * @kubernetes/client-node reads them: CA, client certificates, bearer tokens and token files
 * (re-read at every request, so projected service-account tokens may rotate; client
 * certificates are read once). Connections are kept open between requests. A cluster served
 * over plain http (a local API server) needs no TLS settings.
 *
 * Failures are KubeApiError with the HTTP status and the Status object's `reason`. Their
 * messages name the verb and path, never a request body.
 */
import http from "node:http";
import https from "node:https";
import { createInterface } from "node:readline";
import { KubeConfig } from "@kubernetes/client-node";
import { PushsyncError, type ErrorCode } from "../../shared/errors/index.ts";
import { redact } from "../../shared/observability/logger.ts";

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface KubeList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export class KubeApiError extends PushsyncError {
  override name = "KubeApiError";
  constructor(
    /** HTTP status (0 when no answer came). */
    readonly status: number,
    /** The Status object's reason ("NotFound", "Conflict", "Expired", ...), or "" */
    readonly reason: string,
    message: string,
    retryAfterMs?: number,
  ) {
    super(codeOf(status), message, status === 0 || status === 429 || status >= 500, retryAfterMs);
  }
}

function codeOf(status: number): ErrorCode {
  if (status === 404) return "NotFound";
  if (status === 409) return "Conflict";
  if (status === 401 || status === 403) return "PermissionDenied";
  if (status === 429) return "Throttled";
  if (status === 0 || status >= 500) return "Unavailable";
  return "Invalid";
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.status === 409;

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Default application/json; merge patches use application/merge-patch+json. */
  contentType?: string;
  signal?: AbortSignal;
}

export interface KubeClientOptions {
  /** Per request (not for watches). Default 30 s. */
  timeoutMs?: number;
}

export class KubeClient {
  readonly server: string;
  private agent: http.Agent | undefined;
  private readonly timeoutMs: number;

  constructor(
    private readonly config: KubeConfig,
    options: KubeClientOptions = {},
  ) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new PushsyncError("Invalid", "the kubeconfig has no current cluster");
    this.server = cluster.server.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 30_000;
    // TLS verification means nothing on a plain http connection; client-node refuses to build
    // an agent for one unless it is told to skip it.
    if (this.server.startsWith("http:")) {
      config.clusters = config.clusters.map((c) => (c === cluster ? { ...c, skipTLSVerify: true } : c));
    }
  }

  /** From a kubeconfig file; without one, KUBECONFIG, ~/.kube/config or the in-cluster service account. */
  static load(kubeconfigPath?: string, options: KubeClientOptions = {}): KubeClient {
    const config = new KubeConfig();
    if (kubeconfigPath) config.loadFromFile(kubeconfigPath);
    else config.loadFromDefault();
    return new KubeClient(config, options);
  }

  /** The namespace of the current context (the pod's own namespace in a cluster), if set. */
  currentNamespace(): string | undefined {
    return this.config.getContextObject(this.config.getCurrentContext())?.namespace;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, options, this.timeoutMs);
    const text = await readAll(res);
    if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) {
      return (text === "" ? undefined : JSON.parse(text)) as T;
    }
    throw apiError(method, path, res, text);
  }

  /**
   * Streams a watch: calls `onEvent` for every line until the server ends the stream (resolves)
   * or the request fails (rejects with KubeApiError). `signal` aborts it (resolves).
   */
  async watch<T>(
    path: string,
    query: RequestOptions["query"],
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    let res: http.IncomingMessage;
    try {
      res = await this.send("GET", path, { query: { ...query, watch: true }, signal }, 0);
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    if (res.statusCode !== 200) throw apiError("WATCH", path, res, await readAll(res));
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (line.trim() === "") continue;
        let event: WatchEvent<T>;
        try {
          event = JSON.parse(line) as WatchEvent<T>;
        } catch {
          throw new KubeApiError(0, "", `WATCH ${path}: the stream carried a line that is not JSON`);
        }
        onEvent(event);
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof KubeApiError) throw err;
      throw new KubeApiError(0, "", `WATCH ${path}: stream failed (${(err as Error).message})`);
    } finally {
      res.destroy();
    }
  }

  close(): void {
    this.agent?.destroy();
  }

  /**
   * One agent for the client's life, keeping connections open (client-node's agents do not):
   * the TLS settings the kubeconfig gave, or client-node's own agent behind a proxy.
   */
  private keepAliveAgent(url: URL, auth: https.RequestOptions): http.Agent {
    if (this.config.getCurrentCluster()?.proxyUrl) return auth.agent as http.Agent;
    if (url.protocol === "http:") return new http.Agent({ keepAlive: true });
    return new https.Agent({
      keepAlive: true,
      ...(auth.ca ? { ca: auth.ca } : {}),
      ...(auth.cert ? { cert: auth.cert } : {}),
      ...(auth.key ? { key: auth.key } : {}),
      ...(auth.rejectUnauthorized !== undefined ? { rejectUnauthorized: auth.rejectUnauthorized } : {}),
      ...(auth.servername ? { servername: auth.servername } : {}),
    });
  }

  private async send(
    method: string,
    path: string,
    options: RequestOptions,
    timeoutMs: number,
  ): Promise<http.IncomingMessage> {
    const auth: https.RequestOptions = {};
    await this.config.applyToHTTPSOptions(auth);
    const url = new URL(this.server + path);
    this.agent ??= this.keepAliveAgent(url, auth);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {
      accept: "application/json",
      ...(auth.headers as Record<string, string> | undefined),
      ...(body !== undefined
        ? {
            "content-type": options.contentType ?? "application/json",
            "content-length": String(Buffer.byteLength(body)),
          }
        : {}),
    };
    const request = url.protocol === "https:" ? https.request : http.request;
    const where = `${method} ${path}`;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers,
          agent: this.agent,
          ...(auth.auth ? { auth: auth.auth } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        },
        resolve,
      );
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      }
      req.on("error", (err) =>
        reject(options.signal?.aborted ? err : new KubeApiError(0, "", `${where}: ${redact(err.message)}`)),
      );
      req.end(body);
    });
  }
}

async function readAll(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function apiError(method: string, path: string, res: http.IncomingMessage, text: string): KubeApiError {
  const status = res.statusCode ?? 0;
  let reason = "";
  let detail = "";
  try {
    const parsed = JSON.parse(text) as { reason?: unknown; message?: unknown };
    if (typeof parsed.reason === "string") reason = parsed.reason;
    if (typeof parsed.message === "string") detail = `: ${redact(parsed.message)}`;
  } catch {
    // Not a Status object: the status code says enough.
  }
  const retryAfter = Number(res.headers["retry-after"]);
  return new KubeApiError(
    status,
    reason,
    `${method} ${path} answered ${status}${reason ? ` ${reason}` : ""}${detail}`,
    Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined,
  );
}
