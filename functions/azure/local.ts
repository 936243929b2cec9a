/**
 * The three Azure functions served locally without the Functions host: a small HTTP adapter that
 * builds the package's own HttpRequest and InvocationContext for each call and runs the handler.
 *
 *   POST /api/pushsyncPush                   the HTTP trigger (the forwarder's webhook)
 *   POST /admin/functions/pushsyncQueue      body {"input": "<queue message>"}: one queue-trigger
 *                                            invocation, dequeueCount from "dequeueCount" (default 1)
 *   POST /admin/functions/pushsyncReconcile  one timer invocation
 *
 * The admin paths are the ones the Functions host offers to run non-HTTP functions by hand. The
 * host answers 202 at once; this adapter answers when the invocation ends: 202 when it returned,
 * 500 with the error's message when it threw (what makes the host retry a queue message).
 * Invocation logs are written to stderr as JSON lines.
 *
 *   const server = await startAzureFunctionsServer({ port: 0, env, azure: { ca: caPem } });
 *   // forwarder: --webhook ${server.urls.push}
 */
import { randomUUID } from "node:crypto";
import type http from "node:http";
// The package is a bundled CommonJS module: Node's ES module loader finds no named exports in it.
import azureFunctions, { type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { listen, readBody, sendJson } from "../../infra/local/common/server.ts";
import type { Logger } from "../../shared/observability/logger.ts";
import { createAzureFunctions, type AzureFunctions, type AzureFunctionsOptions } from "./handlers.ts";

export interface AzureFunctionsServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 7071 (the Functions host's); 0 picks a free port. */
  port?: number;
  /** The functions' environment; default process.env. */
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** The local Key Vault's URL and CA. */
  azure?: AzureFunctionsOptions["azure"];
}

export interface AzureFunctionsServer {
  url: string;
  port: number;
  urls: { push: string; queue: string; reconcile: string };
  functions: AzureFunctions;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 2 * 1024 * 1024;
const { HttpRequest } = azureFunctions;

function context(functionName: string, triggerMetadata?: Record<string, unknown>): InvocationContext {
  return new azureFunctions.InvocationContext({
    invocationId: randomUUID(),
    functionName,
    ...(triggerMetadata ? { triggerMetadata } : {}),
    logHandler: (_level, ...args) => void process.stderr.write(`${args.map(String).join(" ")}\n`),
  });
}

export async function startAzureFunctionsServer(
  options: AzureFunctionsServerOptions = {},
): Promise<AzureFunctionsServer> {
  const azure = createAzureFunctions({
    env: options.env,
    azure: options.azure,
    ...(options.logger ? { logger: options.logger } : {}),
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, base: string): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    const body = await readBody(req, MAX_BODY_BYTES);
    if (path === "/api/pushsyncPush") {
      const request = new HttpRequest({
        method: req.method ?? "GET",
        url: `${base}${req.url ?? "/"}`,
        headers: Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")]),
        ),
        body: { bytes: body },
      });
      const answer: HttpResponseInit = await azure.push(request, context("pushsyncPush"));
      const headers = Object.fromEntries(new Headers(answer.headers));
      return sendJson(res, answer.status ?? 200, answer.jsonBody, headers);
    }
    if (req.method !== "POST") return sendJson(res, 405, { error: "POST only" }, { allow: "POST" });
    let input: { input?: unknown; dequeueCount?: number } = {};
    try {
      if (body.length > 0) input = JSON.parse(body.toString()) as typeof input;
    } catch {
      return sendJson(res, 400, { error: 'the body must be JSON: {"input": ...}' });
    }
    try {
      if (path === "/admin/functions/pushsyncQueue") {
        const meta = { id: randomUUID(), dequeueCount: input.dequeueCount ?? 1 };
        await azure.queue(input.input ?? "", context("pushsyncQueue", meta));
      } else if (path === "/admin/functions/pushsyncReconcile") {
        const now = new Date().toISOString();
        const timer = {
          isPastDue: false,
          schedule: { adjustForDST: false },
          scheduleStatus: { last: now, next: now, lastUpdated: now },
        };
        await azure.reconcile(timer, context("pushsyncReconcile"));
      } else {
        return sendJson(res, 404, { error: `no function at ${path}` });
      }
    } catch (err) {
      return sendJson(res, 500, { error: err instanceof Error ? err.message : "the function failed" });
    }
    res.writeHead(202).end();
  }

  let base = "";
  const listening = await listen(
    (req, res) => {
      handle(req, res, base).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : "error" });
      });
    },
    { host: options.host, port: options.port ?? 7071 },
  );
  base = listening.url;
  return {
    url: listening.url,
    port: listening.port,
    urls: {
      push: `${listening.url}/api/pushsyncPush`,
      queue: `${listening.url}/admin/functions/pushsyncQueue`,
      reconcile: `${listening.url}/admin/functions/pushsyncReconcile`,
    },
    functions: azure,
    async close() {
      await listening.close();
      await azure.host.close();
    },
  };
}
