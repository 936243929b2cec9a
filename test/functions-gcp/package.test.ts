/**
 * infra/gcp/package.ts run for real into a temporary directory; then the bundle is loaded in a
 * separate Node process the way the Functions Framework loads a deployed function (its package
 * from node_modules, the bundle as `main`), serves pushsyncPush, and pushes a signed webhook's
 * secret to the local GCP.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeEvent, startStack, webhookRequest, type Stack } from "./helpers.ts";

const root = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);
let s: Stack;
let out: string;

beforeAll(async () => {
  s = await startStack();
  out = join(mkdtempSync(join(tmpdir(), "pushsync-gcp-package-")), "pkg");
  await run(process.execPath, ["--import", "tsx", "infra/gcp/package.ts", out, s.manifestsDir], {
    cwd: root,
    timeout: 60_000,
  });
});
afterAll(async () => {
  rmSync(join(out, ".."), { recursive: true, force: true });
  await s?.close();
});

describe("the Cloud Functions package", () => {
  it("holds the bundle, a package.json naming only the Functions Framework, and the manifests", () => {
    expect(readdirSync(out).sort()).toEqual(["index.js", "manifests", "package.json"]);
    const pkg = JSON.parse(readFileSync(join(out, "package.json"), "utf8")) as Record<string, unknown>;
    const ours = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(pkg).toMatchObject({
      main: "index.js",
      dependencies: {
        "@google-cloud/functions-framework": ours.dependencies["@google-cloud/functions-framework"],
      },
    });
    expect(Object.keys(pkg.dependencies as object)).toHaveLength(1);
    expect(readdirSync(join(out, "manifests")).sort()).toEqual(["pushes.yaml", "stores.yaml"]);
    // The framework stays outside the bundle: the invoker and the code must share its registry.
    expect(readFileSync(join(out, "index.js"), "utf8")).toContain(
      'require("@google-cloud/functions-framework")',
    );
  });

  it("loads as the framework loads it and pushes a signed webhook's secret", async () => {
    // What the platform's build installs from package.json, here the repository's own modules.
    if (!existsSync(join(out, "node_modules")))
      symlinkSync(join(root, "node_modules"), join(out, "node_modules"));
    const script = `require("./index.js");
const { getTestServer } = require("@google-cloud/functions-framework/testing");
const server = getTestServer("pushsyncPush").listen(0, "127.0.0.1", () => console.log("port " + server.address().port));`;
    const child = spawn(process.execPath, ["-e", script], {
      cwd: out,
      env: {
        PATH: process.env.PATH ?? "",
        ...s.env,
        PUSHSYNC_MANIFESTS_DIR: "manifests",
        PUSHSYNC_LOG_LEVEL: "warn",
      },
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let stdout = "";
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString();
          const m = /port (\d+)/.exec(stdout);
          if (m) resolve(Number(m[1]));
        });
        child.on("exit", (code) => reject(new Error(`the bundle exited with ${code}`)));
      });
      const version = await s.vault.writeKv("secret", "app/a", { password: "pw-gcp-bundle-a" });
      const req = webhookRequest([changeEvent("app/a", version)]);
      const res = await fetch(`http://127.0.0.1:${port}/`, {
        method: "POST",
        body: req.body,
        headers: req.headers,
      });
      expect(res.status).toBe(200);
      expect(JSON.parse((await s.gcpValue("app-a"))!)).toEqual({ password: "pw-gcp-bundle-a" });
      expect(s.vault.requests.get("gcp.login")).toBe(1);
    } finally {
      child.kill();
    }
  });
});
