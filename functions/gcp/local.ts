/**
 * The three GCP functions served locally on one port, each through the Functions Framework's own
 * server (the one `functions-framework --target=<name>` runs: body parsing with the raw body kept
 * for signature checks, CloudEvent decoding, a thrown error answered 500), routed by path as
 * Cloud Functions URLs are:
 *
 *   POST     /pushsyncPush       the forwarder's webhook (PUSHSYNC_WEBHOOK_SECRET)
 *   POST     /pushsyncPubSub     a Pub/Sub CloudEvent (binary or structured mode)
 *   GET|POST /pushsyncReconcile  a full reconcile
 *
 *   const server = await startGcpFunctionsServer({ port: 0, env: { ...process.env, PUSHSYNC_VAULT_AUTH: "store" } });
 *   // forwarder: --webhook ${server.urls.push}
 *
 * The framework keeps registered functions in one process-wide table and builds its server from
 * a registered name, so each local server registers its handlers under names of its own; the
 * production names (functions/gcp/index.ts) stay untouched.
 */
import type http from "node:http";
import functions from "@google-cloud/functions-framework";
import { getTestServer } from "@google-cloud/functions-framework/testing";
import { listen, sendJson } from "../../infra/local/common/server.ts";
import type { Logger } from "../../shared/observability/logger.ts";
import { createGcpFunctions, type GcpFunctions } from "./handlers.ts";

export interface GcpFunctionsServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080 (the Functions Framework's); 0 picks a free port. */
  port?: number;
  /** The functions' environment; default process.env. */
  env?: Record<string, string | undefined>;
  logger?: Logger;
}

export interface GcpFunctionsServer {
  url: string;
  port: number;
  urls: { push: string; pubsub: string; reconcile: string };
  functions: GcpFunctions;
  close(): Promise<void>;
}

let serverCount = 0;

export async function startGcpFunctionsServer(
  options: GcpFunctionsServerOptions = {},
): Promise<GcpFunctionsServer> {
  const gcp = createGcpFunctions({ env: options.env, ...(options.logger ? { logger: options.logger } : {}) });
  const suffix = `local-${++serverCount}`;
  const framework = (name: string, register: (id: string) => void): [string, http.Server] => {
    register(`${name}-${suffix}`);
    return [`/${name}`, getTestServer(`${name}-${suffix}`)];
  };
  const routes = new Map([
    framework("pushsyncPush", (id) => functions.http(id, gcp.push)),
    framework("pushsyncPubSub", (id) => functions.cloudEvent(id, gcp.pubsub)),
    framework("pushsyncReconcile", (id) => functions.http(id, gcp.reconcile)),
  ]);
  const listening = await listen(
    (req, res) => {
      const path = (req.url ?? "/").split("?")[0]!;
      const target = routes.get(path);
      if (target) target.emit("request", req, res);
      else sendJson(res, 404, { error: `no function at ${path}; try ${[...routes.keys()].join(", ")}` });
    },
    { host: options.host, port: options.port ?? 8080 },
  );
  return {
    url: listening.url,
    port: listening.port,
    urls: {
      push: `${listening.url}/pushsyncPush`,
      pubsub: `${listening.url}/pushsyncPubSub`,
      reconcile: `${listening.url}/pushsyncReconcile`,
    },
    functions: gcp,
    async close() {
      await listening.close();
      await gcp.host.close();
    },
  };
}
