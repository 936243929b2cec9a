import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import {
  appRoleAuth,
  createVaultSource,
  jwtAuth,
  kubernetesAuth,
  tokenAuth,
  VaultInvalidError,
  VaultPermissionDeniedError,
  type VaultAuth,
  type VaultSource,
} from "../../shared/vault/index.ts";
import { captureLogger, rejectionOf, sleep, unsignedJwt } from "./helpers.ts";

let vault: LocalVault;
let dir: string;
const open: VaultSource[] = [];

beforeAll(async () => {
  vault = await startLocalVault({ port: 0 });
  dir = mkdtempSync(join(tmpdir(), "pushsync-vault-auth-"));
  await vault.writeKv("secret", "app/config", { mode: "blue" });
});

afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  await vault.close();
  rmSync(dir, { recursive: true, force: true });
});

function sourceWith(auth: VaultAuth, logger = captureLogger().logger): VaultSource {
  const s = createVaultSource({ address: vault.url, auth, kvVersions: { secret: 2 }, logger });
  open.push(s);
  return s;
}

const readApp = (s: VaultSource): Promise<unknown> =>
  s.read({ mount: "secret", path: "app/config" }).then((r) => r.data);

function serviceAccountJwt(namespace: string, name: string): string {
  return unsignedJwt({
    iss: "https://kubernetes.default.svc.cluster.local",
    sub: `system:serviceaccount:${namespace}:${name}`,
    aud: ["vault"],
    exp: Math.floor(Date.now() / 1000) + 3600,
    "kubernetes.io": { namespace, serviceaccount: { name, uid: "6c1d2a5e-0000-4000-8000-000000000001" } },
  });
}

describe("auth methods", () => {
  it("token: from a string, and from a file re-read at every login", async () => {
    expect(await readApp(sourceWith(tokenAuth({ token: vault.rootToken })))).toEqual({ mode: "blue" });

    const file = join(dir, "vault-token");
    writeFileSync(file, `${await vault.createToken({ ttl: 3600 })}\n`);
    expect(await readApp(sourceWith(tokenAuth({ file })))).toEqual({ mode: "blue" });

    expect(() => tokenAuth({ token: " " })).toThrow(VaultInvalidError);
    const bad = sourceWith(tokenAuth({ token: "hvs.not-a-token" }));
    await expect(readApp(bad)).rejects.toBeInstanceOf(VaultPermissionDeniedError);
  });

  it("AppRole: default and custom mount; a wrong secret_id is Invalid and not quoted", async () => {
    const role = await vault.addAppRole({ name: "pushsync" });
    const logins = vault.requests.get("approle.login");
    expect(await readApp(sourceWith(appRoleAuth(role)))).toEqual({ mode: "blue" });
    expect(vault.requests.get("approle.login")).toBe(logins + 1);

    const ci = await vault.addAppRole({ name: "ci", mount: "approle-ci" });
    expect(await readApp(sourceWith(appRoleAuth({ ...ci, mount: "/approle-ci/" })))).toEqual({
      mode: "blue",
    });

    const wrongSecret = "5e1b0c2a-wrong-secret-id-0001";
    const err = await rejectionOf(
      readApp(sourceWith(appRoleAuth({ roleId: role.roleId, secretId: wrongSecret }))),
    );
    expect(err).toBeInstanceOf(VaultInvalidError);
    expect(err.message).toContain("auth/approle/login");
    expect(err.message).toContain("400");
    expect(err.message).not.toContain(wrongSecret);
  });

  it("Kubernetes: the service-account token file is read at every login; unbound accounts are denied", async () => {
    await vault.addKubernetesRole({
      name: "pushsync",
      mount: "k8s-east",
      serviceAccountNames: ["pushsync"],
      serviceAccountNamespaces: ["ops"],
      audience: "vault",
    });
    const tokenFile = join(dir, "sa-token");
    writeFileSync(tokenFile, serviceAccountJwt("ops", "pushsync"));
    const auth = kubernetesAuth({ role: "pushsync", mount: "k8s-east", tokenFile });
    expect(await readApp(sourceWith(auth))).toEqual({ mode: "blue" });

    writeFileSync(tokenFile, serviceAccountJwt("ops", "intruder"));
    const err = await rejectionOf(readApp(sourceWith(auth)));
    expect(err).toBeInstanceOf(VaultPermissionDeniedError);
    expect(err.message).toContain("auth/k8s-east/login");

    const missing = kubernetesAuth({ role: "pushsync", mount: "k8s-east", tokenFile: join(dir, "absent") });
    await expect(readApp(sourceWith(missing))).rejects.toThrow(
      /service-account token file .*absent \(ENOENT\)/,
    );
  });

  it("JWT: from a string or a file, on the default mount", async () => {
    await vault.addJwtRole({ name: "ci", boundAudiences: ["pushsync"], boundSubject: "repo:org/app" });
    const jwt = unsignedJwt({
      iss: "https://ci.example",
      sub: "repo:org/app",
      aud: "pushsync",
      exp: Math.floor(Date.now() / 1000) + 600,
    });
    expect(await readApp(sourceWith(jwtAuth({ role: "ci", jwt })))).toEqual({ mode: "blue" });
    const jwtFile = join(dir, "ci.jwt");
    writeFileSync(jwtFile, jwt);
    expect(await readApp(sourceWith(jwtAuth({ role: "ci", jwtFile })))).toEqual({ mode: "blue" });
    expect(() => jwtAuth({ role: "ci" })).toThrow(/exactly one of jwt and jwtFile/);
    expect(() => jwtAuth({ role: "ci", jwt, jwtFile })).toThrow(/exactly one of jwt and jwtFile/);
  });
});

describe("token lifecycle", () => {
  it("renews at two thirds of the TTL, and logs in again when the max TTL caps a renewal", async () => {
    const role = await vault.addAppRole({ name: "short", ttl: 3 });
    await vault.request("POST", "auth/approle/role/short", { token_max_ttl: 6 });
    const logins = (): number => vault.requests.get("approle.login");
    const renewals = (): number => vault.requests.get("token.renew-self");
    const [l0, r0] = [logins(), renewals()];
    const source = sourceWith(appRoleAuth(role));

    await readApp(source); // t=0: login with a 3 s TTL; renewal due at 2 s
    await sleep(2_500);
    expect([logins() - l0, renewals() - r0]).toEqual([1, 1]); // renewed until 5 s; next due at 4 s
    await readApp(source);
    await sleep(2_300);
    // At 4 s the renewal was capped by the 6 s max TTL (2 s left): logged in again.
    expect([logins() - l0, renewals() - r0]).toEqual([2, 2]);
    expect(await readApp(source)).toEqual({ mode: "blue" });
  });

  it("replaces a non-renewable token at two thirds of its TTL by logging in again (a rewritten token file)", async () => {
    const file = join(dir, "agent-sink-token");
    writeFileSync(file, await vault.createToken({ ttl: 1, renewable: false }));
    const source = sourceWith(tokenAuth({ file }));
    await readApp(source);
    writeFileSync(file, await vault.createToken({ ttl: 600 }));
    const [lookups, renewals, reads] = ["token.lookup-self", "token.renew-self", "kv2.read"].map((op) =>
      vault.requests.get(op),
    );
    await sleep(1_100); // past the first token's expiry
    expect(vault.requests.get("token.lookup-self") - lookups!).toBe(1);
    expect(vault.requests.get("token.renew-self") - renewals!).toBe(0);
    expect(await readApp(source)).toEqual({ mode: "blue" });
    expect(vault.requests.get("kv2.read") - reads!).toBe(1);
  });

  it("logs in again before a call when the token expired (here: its renewals failed)", async () => {
    const role = await vault.addAppRole({ name: "expiring", ttl: 1 });
    const { logger, lines } = captureLogger();
    const source = sourceWith(appRoleAuth(role), logger);
    const [logins, reads] = [vault.requests.get("approle.login"), vault.requests.get("kv2.read")];
    await readApp(source);
    vault.faults.inject({ operation: "token.renew-self", status: 503 });
    await sleep(1_300);
    vault.faults.clear();
    expect(lines.some((l) => l.includes("vault token refresh failed"))).toBe(true);

    expect(await readApp(source)).toEqual({ mode: "blue" });
    expect(vault.requests.get("approle.login") - logins).toBe(2);
    // The expired token was replaced before the call, not after a 403.
    expect(vault.requests.get("kv2.read") - reads).toBe(2);
  });

  it("after a 403, logs in once more (re-reading a token file) and retries once", async () => {
    const file = join(dir, "rotating-token");
    const first = await vault.createToken({ ttl: 3600 });
    writeFileSync(file, first);
    const source = sourceWith(tokenAuth({ file }));
    await readApp(source);

    check(await vault.request("POST", "auth/token/revoke", { token: first }));
    writeFileSync(file, await vault.createToken({ ttl: 3600 }));
    const reads = vault.requests.get("kv2.read");
    expect(await readApp(source)).toEqual({ mode: "blue" });
    expect(vault.requests.get("kv2.read") - reads).toBe(2);
  });

  it("a path the token may not read fails with PermissionDenied after one re-login and one retry", async () => {
    vault.definePolicy("app-only", ["secret/data/app/*"]);
    await vault.writeKv("secret", "other/x", { k: "v" });
    const role = await vault.addAppRole({ name: "app-only", policies: ["app-only"] });
    const source = sourceWith(appRoleAuth(role));
    expect(await readApp(source)).toEqual({ mode: "blue" });

    const [logins, reads] = [vault.requests.get("approle.login"), vault.requests.get("kv2.read")];
    const err = await rejectionOf(source.read({ mount: "secret", path: "other/x" }));
    expect(err).toBeInstanceOf(VaultPermissionDeniedError);
    expect(err.message).toBe("Vault GET secret/data/other/x: HTTP 403 (permission denied)");
    expect(vault.requests.get("approle.login") - logins).toBe(1);
    expect(vault.requests.get("kv2.read") - reads).toBe(2);
  });

  it("concurrent calls that all get 403 share one re-login", async () => {
    const file = join(dir, "shared-token");
    const first = await vault.createToken({ ttl: 3600 });
    writeFileSync(file, first);
    const source = sourceWith(tokenAuth({ file }));
    await readApp(source);
    check(await vault.request("POST", "auth/token/revoke", { token: first }));
    writeFileSync(file, await vault.createToken({ ttl: 3600 }));

    const lookups = vault.requests.get("token.lookup-self");
    const results = await Promise.all(Array.from({ length: 6 }, () => readApp(source)));
    expect(results).toEqual(Array.from({ length: 6 }, () => ({ mode: "blue" })));
    expect(vault.requests.get("token.lookup-self") - lookups).toBe(1);
  });
});

function check(reply: { status: number }): void {
  expect(reply.status).toBeLessThan(300);
}
