/**
 * The Lambda functions of functions/aws/, each run in its own child process (function-host.ts)
 * as Lambda runs each function in its own execution environment: its own environment variables
 * (NODE_EXTRA_CA_CERTS included, which Node reads only at start), its own module state (the
 * runtime created on the first invocation and reused), invocations one at a time, and its
 * stdout and stderr collected line by line. A process that dies is started again on the next
 * invocation, as Lambda starts a new environment.
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import readline from "node:readline";

export type FunctionName = "push-worker" | "reconciler";

export interface LocalFunctionOptions {
  name: FunctionName;
  env: Record<string, string | undefined>;
  /** Each line the function writes to stdout or stderr. */
  onOutput(line: string): void;
}

export interface LocalFunction {
  readonly name: FunctionName;
  /** Runs the handler with `event`; rejects when it throws or its process dies. */
  invoke(event: unknown, requestId?: string): Promise<unknown>;
  /** Ends the process (an invocation in progress is lost). */
  close(): Promise<void>;
}

const HOST = fileURLToPath(new URL("./function-host.ts", import.meta.url));

type Reply = { ready: true } | { id: number; result: unknown } | { id: number; error: string };

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** Starts the function's process and resolves once its handler is loaded. */
export async function startFunction(options: LocalFunctionOptions): Promise<LocalFunction> {
  let child: Promise<ChildProcess> | undefined;
  let nextId = 0;
  const pending = new Map<number, Pending>();

  const spawnHost = (): Promise<ChildProcess> =>
    new Promise((resolve, reject) => {
      const proc = fork(HOST, [options.name], {
        env: options.env,
        execArgv: ["--import", import.meta.resolve("tsx")],
        stdio: ["ignore", "pipe", "pipe", "ipc"],
      });
      for (const stream of [proc.stdout!, proc.stderr!]) {
        readline.createInterface({ input: stream }).on("line", (line) => options.onOutput(line));
      }
      proc.on("message", (reply: Reply) => {
        if ("ready" in reply) return resolve(proc);
        const waiter = pending.get(reply.id);
        pending.delete(reply.id);
        if ("error" in reply) waiter?.reject(new Error(`${options.name}: ${reply.error}`));
        else waiter?.resolve(reply.result);
      });
      proc.on("exit", (code, signal) => {
        const err = new Error(`${options.name}: the function's process exited (${signal ?? `code ${code}`})`);
        reject(err);
        for (const waiter of pending.values()) waiter.reject(err);
        pending.clear();
        child = undefined;
      });
    });

  const running = (): Promise<ChildProcess> => {
    child ??= spawnHost();
    return child;
  };
  await running();

  return {
    name: options.name,
    async invoke(event, requestId = randomUUID()) {
      const proc = await running();
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        proc.send({ id, requestId, event });
      });
    },
    async close() {
      const proc = await child?.catch(() => undefined);
      child = undefined;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.disconnect();
      await exited;
    },
  };
}
