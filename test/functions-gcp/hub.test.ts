/**
 * One forwarder feeding several endpoints, each serving some stores: `pushsync forward --webhook
 * URL#stores=...` spawned as a user runs it, against the local Vault's event stream. The GCP
 * endpoint is the local Cloud Functions server (serving PUSHSYNC_STORES=default/gcp), the others
 * are receivers recording what they are sent.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGcpFunctionsServer, type GcpFunctionsServer } from "../../functions/gcp/local.ts";
import { listen, readBody, type Listening } from "../../infra/local/common/server.ts";
import type { VaultChangeEvent } from "../../shared/events/types.ts";
import { verifyWebhook } from "../../shared/events/webhook.ts";
import { silentLogger } from "../../shared/observability/logger.ts";
import { azureStore } from "../support/manifests.ts";
import { startStack, WEBHOOK_SECRET, type Stack } from "./helpers.ts";
import { until } from "../support/until.ts";

const root = path.join(import.meta.dirname, "..", "..");
const CANARY = "pw-hub-canary-5e1f";

interface Receiver {
  url: string;
  paths: string[];
  listening: Listening;
}

async function receiver(): Promise<Receiver> {
  const paths: string[] = [];
  const listening = await listen(async (req, res) => {
    const body = await readBody(req);
    if (!verifyWebhook({ secret: WEBHOOK_SECRET, body, headers: req.headers }).ok) {
      res.writeHead(401).end();
      return;
    }
    paths.push(...(JSON.parse(body.toString()) as { events: VaultChangeEvent[] }).events.map((e) => e.path));
    res.writeHead(204).end();
  });
  return { url: listening.url, paths, listening };
}

function forward(args: string[], env: Record<string, string>) {
  const cwd = mkdtempSync(path.join(tmpdir(), "pushsync-hub-"));
  const proc = spawn(process.execPath, [path.join(root, "bin", "pushsync.mjs"), "forward", ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: cwd, ...env },
  });
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("close", resolve));
  return {
    proc,
    stderr: () => stderr,
    exited: exited.finally(() => rmSync(cwd, { recursive: true, force: true })),
  };
}

let s: Stack;
let gcp: GcpFunctionsServer;
let azure: Receiver;
let all: Receiver;

beforeAll(async () => {
  s = await startStack();
  writeFileSync(
    path.join(s.manifestsDir, "hub.yaml"),
    `${azureStore("https://pushsync.vault.azure.net")}---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata: { name: hub-z, namespace: default }
spec:
  secretStoreRefs:
    - { name: vault, kind: ClusterSecretStore }
    - { name: azure, kind: SecretStore }
  selector: { secret: { name: app/z } }
  data:
    - match: { remoteRef: { remoteKey: hub-z } }
`,
  );
  gcp = await startGcpFunctionsServer({
    port: 0,
    env: { ...s.env, PUSHSYNC_STORES: "default/gcp" },
    logger: silentLogger,
  });
  azure = await receiver();
  all = await receiver();
});
afterAll(async () => {
  await azure?.listening.close();
  await all?.listening.close();
  await gcp?.close();
  await s?.close();
});

describe("pushsync forward with per-endpoint stores", () => {
  it("sends each endpoint only the changes its stores' PushSecrets read", async () => {
    const child = forward(
      [
        ...["--manifests", s.manifestsDir, "--events", "--audit-listen", "none", "--metrics-listen", "none"],
        ...["--webhook", `${gcp.urls.push}#stores=default/gcp`],
        ...["--webhook", `${azure.url}#stores=default/azure,elsewhere/unknown`],
        ...["--webhook", all.url],
      ],
      { VAULT_ADDR: s.vault.url, VAULT_TOKEN: s.vault.rootToken, PUSHSYNC_WEBHOOK_SECRET: WEBHOOK_SECRET },
    );
    try {
      await until(() => child.stderr().includes('"msg":"vault events connected'), 15_000, "the event stream");
      await s.vault.writeKv("secret", "app/a", { password: CANARY });
      await s.vault.writeKv("secret", "app/z", { password: "pw-hub-z" });
      await until(() => all.paths.length === 2 && azure.paths.length === 1, 15_000, "both deliveries");
      for (let i = 0; i < 100 && (await s.gcpValue("app-a")) === undefined; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(all.paths.sort()).toEqual(["app/a", "app/z"]);
      expect(azure.paths).toEqual(["app/z"]);
      expect(JSON.parse((await s.gcpValue("app-a"))!)).toEqual({ password: CANARY });
      expect(gcp.functions.host.webhook().rejected.total()).toBe(0);
    } finally {
      child.proc.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
    const lines = child
      .stderr()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.msg === "webhook sink").map((l) => l.stores)).toEqual([
      ["default/gcp"],
      ["default/azure", "elsewhere/unknown"],
      undefined,
    ]);
    expect(lines.find((l) => l.msg === "webhook names a store no PushSecret pushes to")).toMatchObject({
      sink: "webhook-2",
      store: "elsewhere/unknown",
    });
    expect(child.stderr()).not.toContain(CANARY);
  }, 40_000);

  it("refuses a fragment that is not a store list", async () => {
    const child = forward(["--manifests", s.manifestsDir, "--webhook", "http://127.0.0.1:1/hook#nope"], {
      PUSHSYNC_WEBHOOK_SECRET: WEBHOOK_SECRET,
    });
    expect(await child.exited).toBe(2);
    expect(child.stderr().split("\n")[0]).toBe(
      'pushsync forward: --webhook http://127.0.0.1:1/hook#nope: the part after "#" must be stores=<store>[,<store>...]',
    );
  });
});
