/**
 * What every local cloud (Vault, AWS, GCP, Azure, Kubernetes) shares: an HTTP(S) server on
 * 127.0.0.1, request counts per operation (for benchmarks) and fault injection (latency,
 * throttling, 5xx) for reliability tests.
 */
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";

export interface InjectedFault {
  /** Operation name as the server counts it (e.g. "PutSecretValue"); omit to match every operation. */
  operation?: string;
  /** HTTP status to answer with, e.g. 429, 500, 503. */
  status: number;
  /** How many matching requests fail; omit for "until cleared". */
  times?: number;
  /** Seconds to send in Retry-After, when the cloud uses it. */
  retryAfterSeconds?: number;
}

export class Faults {
  /** Added before every response. */
  latencyMs = 0;
  private pending: InjectedFault[] = [];

  inject(fault: InjectedFault): void {
    this.pending.push({ ...fault });
  }

  clear(): void {
    this.pending = [];
    this.latencyMs = 0;
  }

  /** Returns the fault that applies to this request, consuming one use of it. */
  take(operation: string): InjectedFault | undefined {
    const i = this.pending.findIndex((f) => f.operation === undefined || f.operation === operation);
    if (i < 0) return undefined;
    const f = this.pending[i]!;
    if (f.times !== undefined) {
      f.times -= 1;
      if (f.times <= 0) this.pending.splice(i, 1);
    }
    return f;
  }

  async delay(): Promise<void> {
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
  }
}

/** Requests per operation, kept by every local cloud. */
export { Counters as RequestCounter } from "../../../shared/observability/counters.ts";

export interface ListenOptions {
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  /** PEM key and certificate for HTTPS. */
  tls?: { key: string; cert: string };
}

export interface Listening {
  server: http.Server | https.Server;
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function listen(handler: http.RequestListener, options: ListenOptions = {}): Promise<Listening> {
  const host = options.host ?? "127.0.0.1";
  const server = options.tls ? https.createServer(options.tls, handler) : http.createServer(handler);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls ? "https" : "http";
  return {
    server,
    host,
    port,
    url: `${scheme}://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function readBody(req: http.IncomingMessage, limitBytes = 10 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limitBytes) throw new Error(`request body over ${limitBytes} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
