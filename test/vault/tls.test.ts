import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generate } from "selfsigned";
import { listen, type Listening } from "../../infra/local/common/server.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import {
  createVaultSource,
  tokenAuth,
  VaultError,
  VaultInvalidError,
  type VaultSourceOptions,
} from "../../shared/vault/index.ts";
import { captureLogger, rejectionOf } from "./helpers.ts";

let vault: LocalVault;
/** TLS in front of the local Vault: server certificate only. */
let tlsProxy: Listening;
/** The same, requiring a client certificate signed by `clientCa`. */
let mtlsProxy: Listening;
let serverCa: string;
let client: { cert: string; key: string };
let strangerClient: { cert: string; key: string };

/** Forwards each request to the local Vault, as a TLS-terminating load balancer would. */
const forward: http.RequestListener = (req, res) => {
  const upstream = http.request(
    `${vault.url}${req.url ?? "/"}`,
    { method: req.method, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on("error", () => res.destroy());
  req.pipe(upstream);
};

const altNames = [{ name: "subjectAltName" as const, altNames: [{ type: 7 as const, ip: "127.0.0.1" }] }];

beforeAll(async () => {
  vault = await startLocalVault({ port: 0 });
  await vault.writeKv("secret", "tls/app", { k: "v" });
  const server = await generate([{ name: "commonName", value: "vault.local" }], {
    algorithm: "sha256",
    keyType: "ec",
    extensions: [{ name: "basicConstraints", cA: true }, ...altNames],
    clientCertificate: { cn: "pushsync" },
  });
  serverCa = server.cert;
  client = { cert: server.clientcert!, key: server.clientprivate! };
  const stranger = await generate([{ name: "commonName", value: "stranger" }], {
    algorithm: "sha256",
    keyType: "ec",
    extensions: [{ name: "basicConstraints", cA: true }],
    clientCertificate: { cn: "stranger" },
  });
  strangerClient = { cert: stranger.clientcert!, key: stranger.clientprivate! };
  tlsProxy = await listen(forward, { tls: { key: server.private, cert: server.cert } });
  const mtls = {
    key: server.private,
    cert: server.cert,
    ca: server.cert,
    requestCert: true,
    rejectUnauthorized: true,
  };
  mtlsProxy = await listen(forward, { tls: mtls });
});

afterAll(async () => {
  await tlsProxy.close();
  await mtlsProxy.close();
  await vault.close();
});

async function readThrough(options: Partial<VaultSourceOptions>): Promise<unknown> {
  const source = createVaultSource({
    address: tlsProxy.url,
    auth: tokenAuth({ token: vault.rootToken }),
    kvVersions: { secret: 2 },
    ...options,
  });
  try {
    return (await source.read({ mount: "secret", path: "tls/app" })).data;
  } finally {
    await source.close();
  }
}

describe("TLS", () => {
  it("verifies the server: an unknown CA fails, the CA bundle succeeds", async () => {
    const err = await rejectionOf(readThrough({}));
    expect(err).toBeInstanceOf(VaultInvalidError);
    expect(err.message).toMatch(
      /^Vault GET auth\/token\/lookup-self: TLS handshake failed \((SELF_SIGNED|DEPTH_ZERO)/,
    );
    expect(await readThrough({ caBundle: serverCa })).toEqual({ k: "v" });
  });

  it("ignores the VAULT_* variables that node-vault itself would read", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      VAULT_SKIP_VERIFY: "1",
      VAULT_PREFIX: "/elsewhere",
      VAULT_NAMESPACE: "nowhere",
    });
    try {
      expect(await rejectionOf(readThrough({}))).toBeInstanceOf(VaultInvalidError);
      expect(await readThrough({ caBundle: serverCa })).toEqual({ k: "v" });
    } finally {
      for (const key of ["VAULT_SKIP_VERIFY", "VAULT_PREFIX", "VAULT_NAMESPACE"]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });

  it("checks the server's name against the address", async () => {
    const byName = tlsProxy.url.replace("127.0.0.1", "localhost");
    const err = await rejectionOf(readThrough({ address: byName, caBundle: serverCa }));
    expect(err).toBeInstanceOf(VaultInvalidError);
    expect(err.message).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
  });

  it("skips verification only when told to, and says so in a warning", async () => {
    const { logger, lines } = captureLogger();
    expect(await readThrough({ insecureSkipVerify: true, logger })).toEqual({ k: "v" });
    const warnings = lines
      .map((l) => JSON.parse(l) as { level: string; msg: string })
      .filter((r) => r.level === "warn");
    expect(warnings.map((w) => w.msg)).toEqual(["TLS verification of the Vault server is turned off"]);

    const quiet = captureLogger();
    expect(await readThrough({ caBundle: serverCa, logger: quiet.logger })).toEqual({ k: "v" });
    expect(quiet.lines.filter((l) => l.includes('"level":"warn"'))).toEqual([]);
  });

  it("presents a client certificate when the listener requires one", async () => {
    const address = mtlsProxy.url;
    expect(await readThrough({ address, caBundle: serverCa, clientCert: client })).toEqual({ k: "v" });
    const without = await rejectionOf(readThrough({ address, caBundle: serverCa }));
    expect(without).toBeInstanceOf(VaultInvalidError);
    expect(without.message).toContain("CERTIFICATE_REQUIRED");
    const wrong = await rejectionOf(readThrough({ address, caBundle: serverCa, clientCert: strangerClient }));
    // The listener drops the connection after the handshake: seen as ECONNRESET, or as a TLS alert.
    expect(wrong).toBeInstanceOf(VaultError);
    expect(wrong.message).toMatch(/^Vault GET auth\/token\/lookup-self: (request|TLS handshake) failed/);
  });
});
