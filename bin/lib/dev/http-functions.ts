/**
 * The GCP and Azure functions of `pushsync dev`, each cloud's server in its own child process
 * (http-function-host.ts), as functions.ts runs the Lambda functions: its own environment
 * (PUSHSYNC_STORES, PUSHSYNC_WEBHOOK_SECRET, NODE_EXTRA_CA_CERTS, which Node reads only at
 * start), its own module state, and its output collected line by line.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import readline from "node:readline";

export type HttpCloud = "gcp" | "azure";

export interface HttpFunctionsOptions {
  cloud: HttpCloud;
  host: string;
  /** 0 picks a free one. */
  port: number;
  env: Record<string, string | undefined>;
  /** Azure: the local Key Vault the functions push to, whatever the stores' vaultUrl. */
  keyVaultUrl?: string;
  /** Each line the functions write to stdout or stderr. */
  onOutput(line: string): void;
}

export interface HttpFunctions {
  cloud: HttpCloud;
  url: string;
  port: number;
  /** The webhook endpoint the forwarder posts to. */
  pushUrl: string;
  /** POST runs a full reconcile; a 2xx status when it succeeded. */
  reconcileUrl: string;
  /** Stops the server and ends the process. */
  close(): Promise<void>;
}

const HOST = fileURLToPath(new URL("./http-function-host.ts", import.meta.url));

type Reply = { ready: true; url: string; push: string; reconcile: string } | { error: string };

export function startHttpFunctions(options: HttpFunctionsOptions): Promise<HttpFunctions> {
  const argv = [
    options.cloud,
    options.host,
    String(options.port),
    ...(options.keyVaultUrl ? [options.keyVaultUrl] : []),
  ];
  const proc = fork(HOST, argv, {
    env: options.env,
    execArgv: ["--import", import.meta.resolve("tsx")],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  for (const stream of [proc.stdout!, proc.stderr!]) {
    readline.createInterface({ input: stream }).on("line", (line) => options.onOutput(line));
  }
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const close = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    if (proc.connected) proc.disconnect();
    await exited;
  };
  return new Promise((resolve, reject) => {
    const failed = (why: string): void => {
      reject(new Error(`${options.cloud} functions: ${why}`));
      void close();
    };
    proc.once("exit", (code, signal) => failed(`the process exited (${signal ?? `code ${code}`})`));
    proc.once("message", (reply: Reply) => {
      if ("error" in reply) return failed(reply.error);
      const port = Number(new URL(reply.url).port);
      resolve({
        cloud: options.cloud,
        url: reply.url,
        port,
        pushUrl: reply.push,
        reconcileUrl: reply.reconcile,
        close,
      });
    });
  });
}
