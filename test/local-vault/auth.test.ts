import nodeVault from "node-vault";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalVault, type LocalVault } from "../../infra/local/vault/index.ts";
import { api, ENVELOPE_KEYS, unsignedJwt, type JsonBody } from "./helpers.ts";

const as = (token: string) => ({ "X-Vault-Token": token });

describe("local Vault: tokens and logins", () => {
  let vault: LocalVault;

  beforeAll(async () => {
    vault = await startLocalVault({ port: 0 });
  });
  afterAll(async () => {
    await vault.close();
  });

  it("describes the root token on lookup-self", async () => {
    const r = await api(vault, "GET", "auth/token/lookup-self");
    expect(Object.keys(r.body)).toEqual(ENVELOPE_KEYS);
    expect(r.body.mount_type).toBe("token");
    expect(r.body.data).toMatchObject({
      id: "root",
      display_name: "root",
      policies: ["root"],
      path: "auth/token/root",
      ttl: 0,
      expire_time: null,
      orphan: true,
      renewable: false,
      type: "service",
    });
  });

  it("creates child tokens, renews them within their max TTL and revokes children with the parent", async () => {
    const created = await api(vault, "POST", "auth/token/create", {
      policies: ["app"],
      ttl: "60s",
      explicit_max_ttl: "90s",
      meta: { team: "a" },
    });
    expect(created.status).toBe(200);
    expect(created.body.data).toBeNull();
    const auth = created.body.auth;
    expect(auth).toMatchObject({
      policies: ["app", "default"],
      token_policies: ["app", "default"],
      metadata: { team: "a" },
      lease_duration: 60,
      renewable: true,
      token_type: "service",
      orphan: false,
    });
    expect(auth.client_token).toMatch(/^hvs\.[A-Za-z0-9]{24}$/);

    const lookup = await api(vault, "GET", "auth/token/lookup-self", undefined, as(auth.client_token));
    expect(lookup.body.data).toMatchObject({
      display_name: "token",
      creation_ttl: 60,
      explicit_max_ttl: 90,
      meta: { team: "a" },
    });
    expect(lookup.body.data.ttl).toBeGreaterThan(55);

    const renewed = await api(
      vault,
      "POST",
      "auth/token/renew-self",
      { increment: "600s" },
      as(auth.client_token),
    );
    expect(renewed.status).toBe(200);
    expect(renewed.body.auth.lease_duration).toBeGreaterThan(80);
    expect(renewed.body.auth.lease_duration).toBeLessThanOrEqual(90);

    const child = await api(vault, "POST", "auth/token/create", { ttl: "1h" }, as(auth.client_token));
    expect(child.body.auth.policies).toEqual(["app", "default"]);
    expect((await api(vault, "POST", "auth/token/revoke-self", {}, as(auth.client_token))).status).toBe(204);
    const orphaned = await api(
      vault,
      "GET",
      "auth/token/lookup-self",
      undefined,
      as(child.body.auth.client_token),
    );
    expect(orphaned.status).toBe(403);
  });

  it("refuses renewing a non-renewable token and rejects an expired one with 403", async () => {
    const fixed = await vault.createToken({ ttl: "1h", renewable: false });
    const renew = await api(vault, "POST", "auth/token/renew-self", {}, as(fixed));
    expect(renew.status).toBe(400);
    expect(renew.body).toEqual({ errors: ["lease is not renewable"] });

    const short = await vault.createToken({ ttl: 1 });
    expect((await api(vault, "GET", "auth/token/lookup-self", undefined, as(short))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_100));
    const expired = await api(vault, "GET", "secret/data/x", undefined, as(short));
    expect(expired.status).toBe(403);
    expect(expired.body).toEqual({ errors: ["permission denied"] });
  });

  it("restricts tokens carrying a defined policy to its paths", async () => {
    vault.definePolicy("app-only", ["secret/data/app/*"]);
    const token = await vault.createToken({ policies: ["app-only"] });
    await vault.writeKv("secret", "app/db", { a: "1" });
    await vault.writeKv("secret", "other/db", { a: "1" });
    expect((await api(vault, "GET", "secret/data/app/db", undefined, as(token))).status).toBe(200);
    const denied = await api(vault, "GET", "secret/data/other/db", undefined, as(token));
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({ errors: ["1 error occurred:\n\t* permission denied\n\n"] });
    expect((await api(vault, "GET", "auth/token/lookup-self", undefined, as(token))).status).toBe(200);
  });

  it("logs in with AppRole set up over the API, on a custom mount path", async () => {
    expect((await api(vault, "POST", "sys/auth/machines", { type: "approle" })).status).toBe(204);
    const auths = await api(vault, "GET", "sys/auth");
    expect(auths.body.data["machines/"]).toMatchObject({ type: "approle" });
    expect(auths.body.data["token/"]).toMatchObject({ type: "token" });
    await api(vault, "POST", "auth/machines/role/pusher", {
      token_policies: "push",
      token_ttl: "20m",
      secret_id_num_uses: 1,
    });
    const roleId = (await api(vault, "GET", "auth/machines/role/pusher/role-id")).body.data.role_id;
    const secret = await api(vault, "POST", "auth/machines/role/pusher/secret-id", {});
    expect(secret.body.data).toMatchObject({ secret_id_num_uses: 1, secret_id_ttl: 0 });

    const login = await fetch(`${vault.url}/v1/auth/machines/login`, {
      method: "POST",
      body: JSON.stringify({ role_id: roleId, secret_id: secret.body.data.secret_id }),
    });
    const body = (await login.json()) as JsonBody;
    expect(login.status).toBe(200);
    expect(body.mount_type).toBe("approle");
    expect(body.auth).toMatchObject({
      policies: ["default", "push"],
      metadata: { role_name: "pusher" },
      lease_duration: 1200,
      renewable: true,
      orphan: true,
    });
    const me = await api(vault, "GET", "auth/token/lookup-self", undefined, as(body.auth.client_token));
    expect(me.body.data).toMatchObject({ display_name: "machines", path: "auth/machines/login" });

    // The secret ID had one use.
    const reuse = await api(vault, "POST", "auth/machines/login", {
      role_id: roleId,
      secret_id: secret.body.data.secret_id,
    });
    expect(reuse.status).toBe(400);
    expect(reuse.body).toEqual({ errors: ["invalid role or secret ID"] });
  });

  it("logs in with AppRole through node-vault and the seeding helper", async () => {
    const { roleId, secretId } = await vault.addAppRole({ name: "reader", policies: ["read"] });
    const client = nodeVault({ endpoint: vault.url });
    const res = await client.approleLogin({ role_id: roleId, secret_id: secretId });
    expect(res.auth.policies).toEqual(["default", "read"]);
    expect(client.token).toBe(res.auth.client_token);
    expect((await client.tokenLookupSelf()).data.display_name).toBe("approle");
  });

  it("logs in with Kubernetes service account JWTs matching the role, unsigned", async () => {
    await vault.addKubernetesRole({
      name: "eso",
      serviceAccountNames: ["external-secrets"],
      serviceAccountNamespaces: ["eso-*"],
      policies: ["eso"],
    });
    const projected = (ns: string, name: string) =>
      unsignedJwt({
        iss: "https://kubernetes.default.svc.cluster.local",
        sub: `system:serviceaccount:${ns}:${name}`,
        exp: Math.floor(Date.now() / 1000) + 600,
        "kubernetes.io": { namespace: ns, serviceaccount: { name, uid: "uid-1" } },
      });
    const ok = await api(vault, "POST", "auth/kubernetes/login", {
      role: "eso",
      jwt: projected("eso-system", "external-secrets"),
    });
    expect(ok.status).toBe(200);
    expect(ok.body.auth.metadata).toEqual({
      role: "eso",
      service_account_name: "external-secrets",
      service_account_namespace: "eso-system",
      service_account_secret_name: "",
      service_account_uid: "uid-1",
    });
    const me = await api(vault, "GET", "auth/token/lookup-self", undefined, as(ok.body.auth.client_token));
    expect(me.body.data.display_name).toBe("kubernetes-eso-system-external-secrets");

    const legacy = unsignedJwt({
      "kubernetes.io/serviceaccount/namespace": "eso-b",
      "kubernetes.io/serviceaccount/service-account.name": "external-secrets",
    });
    expect((await api(vault, "POST", "auth/kubernetes/login", { role: "eso", jwt: legacy })).status).toBe(
      200,
    );

    const wrongName = await api(vault, "POST", "auth/kubernetes/login", {
      role: "eso",
      jwt: projected("eso-system", "x"),
    });
    expect(wrongName.status).toBe(403);
    expect(wrongName.body).toEqual({ errors: ["service account name not authorized"] });
    const wrongNs = await api(vault, "POST", "auth/kubernetes/login", {
      role: "eso",
      jwt: projected("default", "external-secrets"),
    });
    expect(wrongNs.body).toEqual({ errors: ["namespace not authorized"] });
    const noRole = await api(vault, "POST", "auth/kubernetes/login", {
      role: "nope",
      jwt: projected("eso-a", "external-secrets"),
    });
    expect(noRole.body).toEqual({ errors: ['invalid role name "nope"'] });
  });

  it("logs in with JWTs checked against audiences, subject, bound claims and expiry", async () => {
    await vault.addJwtRole({
      name: "ci",
      boundAudiences: ["vault"],
      boundClaims: { repository: ["org/*"] },
      claimMappings: { repository: "repo" },
      policies: ["ci"],
    });
    await api(vault, "POST", "auth/jwt/role/ci", { bound_claims_type: "glob" });
    const jwt = (claims: Record<string, unknown>) =>
      unsignedJwt({
        sub: "repo:org/app",
        aud: "vault",
        repository: "org/app",
        exp: Math.floor(Date.now() / 1000) + 300,
        ...claims,
      });

    const ok = await api(vault, "POST", "auth/jwt/login", { role: "ci", jwt: jwt({}) });
    expect(ok.status).toBe(200);
    expect(ok.body.auth).toMatchObject({
      policies: ["ci", "default"],
      metadata: { role: "ci", repo: "org/app" },
    });
    const me = await api(vault, "GET", "auth/token/lookup-self", undefined, as(ok.body.auth.client_token));
    expect(me.body.data.display_name).toBe("jwt-repo:org/app");

    const cases: [Record<string, unknown>, string][] = [
      [{ aud: "other" }, "error validating claims: validation failed, invalid audience claim (aud)"],
      [{ repository: "evil/app" }, 'claim "repository" does not match any associated bound claim values'],
      [
        { exp: Math.floor(Date.now() / 1000) - 3600 },
        "error validating claims: validation failed, token is expired (exp)",
      ],
    ];
    for (const [claims, message] of cases) {
      const r = await api(vault, "POST", "auth/jwt/login", { role: "ci", jwt: jwt(claims) });
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ errors: [message] });
    }
    await api(vault, "POST", "auth/jwt/role/oidc-only", { user_claim: "sub" });
    const oidc = await api(vault, "POST", "auth/jwt/login", { role: "oidc-only", jwt: jwt({}) });
    expect(oidc.body).toEqual({ errors: ["role with oidc role_type is not allowed"] });
  });
});

describe("local Vault: namespaces", () => {
  let vault: LocalVault;

  beforeAll(async () => {
    vault = await startLocalVault({ port: 0, namespaces: true });
    await vault.createNamespace("team-a/app");
  });
  afterAll(async () => {
    await vault.close();
  });

  it("keeps separate mounts per namespace, reached by header or path prefix", async () => {
    const ns = { "X-Vault-Namespace": "team-a" };
    const created = await api(vault, "LIST", "sys/namespaces");
    expect(created.body.data.keys).toEqual(["team-a/"]);
    expect(created.body.data.key_info["team-a/"]).toMatchObject({
      path: "team-a/",
      id: expect.stringMatching(/^\w{5}$/),
    });
    expect(
      (await api(vault, "POST", "sys/mounts/kv", { type: "kv", options: { version: "2" } }, ns)).status,
    ).toBe(204);
    await api(vault, "POST", "kv/data/db", { data: { v: "team-a" } }, ns);

    expect((await api(vault, "GET", "team-a/kv/data/db")).body.data.data).toEqual({ v: "team-a" });
    expect((await api(vault, "GET", "kv/data/db")).status).toBe(404);
    expect((await api(vault, "GET", "secret/data/db", undefined, ns)).status).toBe(404);
    // Nested namespaces: header and path combine.
    await api(vault, "POST", "app/sys/mounts/kv", { type: "kv-v2" }, ns);
    await vault.writeKv("kv", "deep", { v: "app" }, { namespace: "team-a/app" });
    expect((await api(vault, "GET", "team-a/app/kv/data/deep")).body.data.data).toEqual({ v: "app" });
  });

  it("scopes tokens to the namespace they were created in and its children", async () => {
    const teamToken = await vault.createToken({ namespace: "team-a" });
    expect(teamToken).toMatch(/^hvs\.\w{24}\.\w{5}$/);
    const lookup = await api(vault, "GET", "auth/token/lookup-self", undefined, {
      "X-Vault-Token": teamToken,
      "X-Vault-Namespace": "team-a",
    });
    expect(lookup.body.data.namespace_path).toBe("team-a/");
    const headers = (namespace: string) => ({ "X-Vault-Token": teamToken, "X-Vault-Namespace": namespace });
    expect((await api(vault, "GET", "kv/data/db", undefined, headers("team-a"))).status).toBe(200);
    expect((await api(vault, "GET", "kv/data/deep", undefined, headers("team-a/app"))).status).toBe(200);
    const outside = await api(vault, "GET", "secret/data/x", undefined, { "X-Vault-Token": teamToken });
    expect(outside.status).toBe(403);
    expect(outside.body).toEqual({ errors: ["permission denied"] });
    // A root namespace token works below it.
    expect((await api(vault, "GET", "team-a/kv/data/db")).status).toBe(200);
  });
});
