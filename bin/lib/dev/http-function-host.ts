/**
 * One cloud's HTTP functions for `pushsync dev` (see http-functions.ts): a child process that
 * serves the real GCP Cloud Functions (functions/gcp/local.ts, through the Functions Framework)
 * or the real Azure Functions handlers (functions/azure/local.ts) with the environment its parent
 * gave it, as each platform runs the functions in an instance of its own. What they log goes to
 * stdout and stderr, which the parent reads line by line.
 *
 *   argv: <gcp|azure> <host> <port> [<local Key Vault URL>]
 *   child → parent   { ready: true, url, push, reconcile } once listening ({ error } when it cannot start)
 *
 * The Azure functions reach the local Key Vault at the URL given, whatever the stores' vaultUrl
 * (functions/azure/local.ts); its CA comes from NODE_EXTRA_CA_CERTS.
 *
 * The process ignores SIGINT (the parent decides when functions stop) and closes its server and
 * exits when its parent disconnects.
 */

const [cloud, host, portText, keyVaultUrl] = process.argv.slice(2);
if ((cloud !== "gcp" && cloud !== "azure") || !host || !portText || !process.send) {
  console.error("http-function-host: usage <gcp|azure> <host> <port>, with an IPC channel");
  process.exit(2);
}
process.on("SIGINT", () => undefined);

const options = { host, port: Number(portText), env: process.env };
try {
  const server =
    cloud === "gcp"
      ? await (await import("../../../functions/gcp/local.ts")).startGcpFunctionsServer(options)
      : await (
          await import("../../../functions/azure/local.ts")
        ).startAzureFunctionsServer({
          ...options,
          ...(keyVaultUrl ? { azure: { vaultUrl: keyVaultUrl } } : {}),
        });
  process.on("disconnect", () => {
    void server.close().finally(() => process.exit(0));
  });
  process.send({ ready: true, url: server.url, push: server.urls.push, reconcile: server.urls.reconcile });
} catch (err) {
  process.send({ error: `${(err as NodeJS.ErrnoException).code ?? ""} ${(err as Error).message}`.trim() });
  process.disconnect();
}
