/**
 * infra/azure/package.ts run for real into a temporary directory; then the bundle is loaded in a
 * separate Node process with @azure/functions from node_modules, as the Functions worker loads
 * the app, and its registered push handler pushes a signed webhook's secret to the local Key
 * Vault. That process trusts the local CA through NODE_EXTRA_CA_CERTS, as any Node process can.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeEvent, startStack, webhookRequest, type Stack } from "./helpers.ts";

const root = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);
let s: Stack;
let work: string;
let out: string;

beforeAll(async () => {
  s = await startStack();
  work = mkdtempSync(join(tmpdir(), "pushsync-azure-package-"));
  out = join(work, "pkg");
  await run(
    process.execPath,
    ["--import", "tsx", "infra/azure/package.ts", out, s.env.PUSHSYNC_MANIFESTS_DIR!],
    {
      cwd: root,
      timeout: 60_000,
    },
  );
});
afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await s?.close();
});

describe("the Azure Functions package", () => {
  it("holds the bundle, host.json with the queue retry limit, a package.json naming only @azure/functions", () => {
    expect(readdirSync(out).sort()).toEqual(["host.json", "index.js", "manifests", "package.json"]);
    const host = JSON.parse(readFileSync(join(out, "host.json"), "utf8")) as {
      extensions: { queues: { maxDequeueCount: number } };
      extensionBundle: { id: string };
    };
    expect(host.extensions.queues.maxDequeueCount).toBe(5);
    expect(host.extensionBundle.id).toBe("Microsoft.Azure.Functions.ExtensionBundle");
    const pkg = JSON.parse(readFileSync(join(out, "package.json"), "utf8")) as {
      main: string;
      dependencies: object;
    };
    expect(pkg.main).toBe("index.js");
    expect(Object.keys(pkg.dependencies)).toEqual(["@azure/functions"]);
  });

  it("loads as the worker loads it, and its push handler pushes a signed webhook's secret", async () => {
    symlinkSync(join(root, "node_modules"), join(out, "node_modules"));
    const caFile = join(work, "ca.pem");
    writeFileSync(caFile, s.azure.caCertPem);
    const version = await s.vault.writeKv("secret", "az/a", { password: "pw-az-bundle-a" });
    const req = webhookRequest([changeEvent("az/a", version)]);
    const script = `const { pushsync } = require("./index.js");
const { HttpRequest, InvocationContext } = require("@azure/functions");
const request = new HttpRequest({ method: "POST", url: "http://localhost/api/pushsyncPush",
  headers: JSON.parse(process.env.HEADERS), body: { string: process.env.BODY } });
pushsync.push(request, new InvocationContext({ logHandler: () => {} }))
  .then((answer) => console.log("answer " + JSON.stringify(answer)))
  .finally(() => pushsync.host.close());`;
    const child = spawn(process.execPath, ["-e", script], {
      cwd: out,
      env: {
        PATH: process.env.PATH ?? "",
        ...s.env,
        PUSHSYNC_MANIFESTS_DIR: "manifests",
        PUSHSYNC_LOG_LEVEL: "warn",
        NODE_EXTRA_CA_CERTS: caFile,
        BODY: req.body,
        HEADERS: JSON.stringify(req.headers),
      },
    });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
    const answer = JSON.parse(/answer (.*)/.exec(stdout)![1]!) as { status: number; jsonBody: object };
    expect(answer).toMatchObject({ status: 200, jsonBody: { events: 1, failed: 0 } });
    expect(JSON.parse((await s.keyVaultValue("az-a"))!)).toEqual({ password: "pw-az-bundle-a" });
    expect(s.vault.requests.get("azure.login")).toBe(1);
  });
});
