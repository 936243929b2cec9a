import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen } from "../../infra/local/common/server.ts";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { isRetryable } from "../../shared/errors/index.ts";
import {
  appRoleAuth,
  createVaultSource,
  tokenAuth,
  VaultDeletedError,
  VaultError,
  VaultInvalidError,
  VaultNotFoundError,
  VaultPermissionDeniedError,
  VaultUnavailableError,
  type VaultSource,
  type VaultSourceOptions,
} from "../../shared/vault/index.ts";
import { captureLogger } from "./helpers.ts";

// Values that must never leave the data path.
const CANARY = "canary-7d41c2e9-value";
const ROOT_TOKEN = "hvs.canary-root-token-5b2e";
const SECRET_ID = "canary-secret-id-91fa";

const { logger, lines } = captureLogger();
const errors: unknown[] = [];
const open: VaultSource[] = [];
let vault: LocalVault;
let source: VaultSource;

function sourceWith(extra: Partial<VaultSourceOptions> = {}): VaultSource {
  const s = createVaultSource({
    address: vault.url,
    auth: tokenAuth({ token: ROOT_TOKEN }),
    kvVersions: { secret: 2 },
    logger,
    ...extra,
  });
  open.push(s);
  return s;
}

/** The error a call fails with, kept for the canary check. */
async function failure(call: Promise<unknown>): Promise<VaultError> {
  const err = await call.then(
    () => expect.fail("the call succeeded"),
    (e: unknown) => e,
  );
  errors.push(err);
  expect(err).toBeInstanceOf(VaultError);
  return err as VaultError;
}

const app = { mount: "secret", path: "app/canary" };

beforeAll(async () => {
  vault = await startLocalVault({ port: 0, rootToken: ROOT_TOKEN });
  await vault.writeKv("secret", "app/canary", { password: CANARY });
  await vault.writeKv("secret", "app/canary", { password: `${CANARY}-2`, note: CANARY });
  source = sourceWith();
});

afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  await vault.close();
});

describe("typed errors", () => {
  it("a sealed Vault is Unavailable (retryable) until unsealed", async () => {
    expect((await source.read(app)).data.password).toBe(`${CANARY}-2`);
    vault.seal();
    try {
      const err = await failure(source.read(app));
      expect(err).toBeInstanceOf(VaultUnavailableError);
      expect(err.code).toBe("Unavailable");
      expect(isRetryable(err)).toBe(true);
      expect(err.message).toBe("Vault GET secret/data/app/canary: HTTP 503 (Vault is sealed)");
    } finally {
      vault.unseal();
    }
    expect((await source.read(app)).version).toBe(2);
  });

  it("an injected 500 and a 429 are Unavailable; the next call succeeds", async () => {
    vault.faults.inject({ operation: "kv2.read", status: 500, times: 1 });
    const err = await failure(source.read(app));
    expect(err).toBeInstanceOf(VaultUnavailableError);
    expect(err.message).toBe("Vault GET secret/data/app/canary: HTTP 500 (internal error)");
    vault.faults.inject({ operation: "kv2.list", status: 429, times: 1 });
    expect(await failure(source.list({ mount: "secret", path: "app" }))).toBeInstanceOf(
      VaultUnavailableError,
    );
    expect((await source.read(app)).version).toBe(2);
  });

  it("a call with no answer within the timeout is Unavailable", async () => {
    const quick = sourceWith({ timeoutMs: 150 });
    await quick.read(app); // logged in before the server slows down
    vault.faults.latencyMs = 600;
    try {
      const started = Date.now();
      const err = await failure(quick.read(app));
      expect(Date.now() - started).toBeLessThan(500);
      expect(err).toBeInstanceOf(VaultUnavailableError);
      expect(err.message).toBe("Vault GET secret/data/app/canary: no answer within 150 ms");
    } finally {
      vault.faults.clear();
    }
  });

  it("a refused connection is Unavailable", async () => {
    const closed = await listen((_req, res) => res.end());
    await closed.close();
    const nowhere = createVaultSource({
      address: closed.url,
      auth: tokenAuth({ token: ROOT_TOKEN }),
      logger,
    });
    const err = await failure(nowhere.read(app));
    expect(err).toBeInstanceOf(VaultUnavailableError);
    expect(err.message).toBe("Vault GET auth/token/lookup-self: request failed (ECONNREFUSED)");
    await nowhere.close();
  });

  it("a rejected login (400) is Invalid, a denied path PermissionDenied, a missing path NotFound", async () => {
    const { roleId } = await vault.addAppRole({ name: "canary" });
    const badLogin = sourceWith({ auth: appRoleAuth({ roleId, secretId: SECRET_ID }) });
    const invalid = await failure(badLogin.read(app));
    expect(invalid).toBeInstanceOf(VaultInvalidError);
    expect(invalid.message).toBe("Vault POST auth/approle/login: HTTP 400 (invalid role or secret ID)");

    vault.definePolicy("elsewhere", ["secret/data/elsewhere/*"]);
    const limited = sourceWith({
      auth: tokenAuth({ token: await vault.createToken({ policies: ["elsewhere"] }) }),
    });
    expect(await failure(limited.read(app))).toBeInstanceOf(VaultPermissionDeniedError);
    expect(await failure(source.read({ mount: "secret", path: "app/none" }))).toBeInstanceOf(
      VaultNotFoundError,
    );
  });

  it("deleted and destroyed versions are Deleted", async () => {
    await vault.request("POST", "secret/delete/app/canary", { versions: [2] });
    await vault.request("POST", "secret/destroy/app/canary", { versions: [1] });
    expect(await failure(source.read(app))).toBeInstanceOf(VaultDeletedError);
    const destroyed = await failure(source.read(app, { version: 1 }));
    expect((destroyed as VaultDeletedError).metadata.destroyed).toBe(true);
  });
});

describe("canary", () => {
  it("no secret value, token or secret_id appears in any error or log line", () => {
    expect(errors.length).toBeGreaterThanOrEqual(9);
    expect(lines.length).toBeGreaterThan(0);
    const texts = [
      ...lines,
      ...errors.map((e) => {
        const err = e as Error;
        return `${String(err)}\n${err.stack ?? ""}\n${JSON.stringify(err)}\n${JSON.stringify({ ...err })}`;
      }),
    ];
    for (const needle of [CANARY, ROOT_TOKEN, SECRET_ID]) {
      expect(texts.filter((t) => t.includes(needle))).toEqual([]);
    }
  });
});
