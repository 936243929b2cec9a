/**
 * The token lifecycle. A token is obtained on first use, renewed at two thirds of its TTL
 * (renew-self while Vault grants a full TTL, otherwise a new login), replaced when it has
 * expired, and replaced once more when Vault answers 403. The background renewal timer is
 * unref'd so it never keeps a process alive; every call also checks the token's age
 * itself, because a frozen serverless function misses its timers.
 */
import { registerSecretValue, type Logger } from "../observability/logger.ts";
import type { VaultAuth, VaultLogin, VaultLoginClient } from "./auth/types.ts";
import type { VaultHttp } from "./http.ts";
import { VaultInvalidError, VaultPermissionDeniedError } from "./types.ts";

/** Below this, a refresh is not scheduled any sooner. */
const MIN_REFRESH_DELAY_MS = 250;

interface HeldToken {
  token: string;
  renewable: boolean;
  /** TTL granted at login; a renewal granting less means the max TTL is near. */
  loginTtlSeconds: number;
  /** Infinity for tokens that never expire. */
  refreshAt: number;
  expiresAt: number;
}

export class TokenSession {
  private current: HeldToken | undefined;
  private inflight: Promise<HeldToken> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly loginClient: VaultLoginClient;

  constructor(
    private readonly auth: VaultAuth,
    private readonly http: VaultHttp,
    private readonly logger: Logger,
  ) {
    this.loginClient = {
      login: async (mount, body) => {
        const path = `auth/${mount}/login`;
        return authOf(await http.call({ method: "POST", path, body }), path);
      },
      lookupSelf: async (token) => {
        const path = "auth/token/lookup-self";
        return lookupOf(await http.call({ method: "GET", path, token }), token, path);
      },
    };
  }

  /** Runs `call` with a valid token; after a 403, logs in again once and retries once. */
  async run<T>(call: (token: string) => Promise<T>): Promise<T> {
    const token = await this.token();
    try {
      return await call(token);
    } catch (err) {
      if (!(err instanceof VaultPermissionDeniedError)) throw err;
      this.logger.info("vault answered 403; logging in again before one retry", { method: this.auth.method });
      return call(await this.relogin(token));
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async token(): Promise<string> {
    const held = this.current;
    const now = Date.now();
    if (!held || now >= held.expiresAt) return (await this.once(() => this.login())).token;
    if (now < held.refreshAt) return held.token;
    try {
      return (await this.once(() => this.refresh(held))).token;
    } catch (err) {
      this.logger.warn("vault token refresh failed; the current token is still valid", { err });
      return held.token;
    }
  }

  private async relogin(stale: string): Promise<string> {
    if (this.inflight) await this.inflight.catch(() => undefined);
    if (this.current && this.current.token !== stale) return this.current.token;
    return (await this.once(() => this.login())).token;
  }

  /** Concurrent callers share one login or renewal. */
  private once(work: () => Promise<HeldToken>): Promise<HeldToken> {
    this.inflight ??= work().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async login(): Promise<HeldToken> {
    const got = await this.auth.login(this.loginClient);
    registerSecretValue(got.token);
    this.logger.info("vault login", {
      method: this.auth.method,
      ttlSeconds: got.ttlSeconds,
      renewable: got.renewable,
    });
    return this.hold(got, got.ttlSeconds);
  }

  private async refresh(held: HeldToken): Promise<HeldToken> {
    if (held.renewable) {
      try {
        const path = "auth/token/renew-self";
        const renewed = authOf(
          await this.http.call({ method: "POST", path, token: held.token, body: {} }),
          path,
        );
        if (renewed.ttlSeconds >= held.loginTtlSeconds) {
          this.logger.debug("vault token renewed", {
            method: this.auth.method,
            ttlSeconds: renewed.ttlSeconds,
          });
          return this.hold(renewed, held.loginTtlSeconds);
        }
        // Capped by the token's max TTL: a new login gives a full TTL again.
      } catch (err) {
        if (!(err instanceof VaultPermissionDeniedError)) throw err;
        // Revoked or expired meanwhile: log in again.
      }
    }
    return this.login();
  }

  private hold(got: VaultLogin, loginTtlSeconds: number): HeldToken {
    const now = Date.now();
    const ttlMs = got.ttlSeconds * 1000;
    const held: HeldToken = {
      token: got.token,
      renewable: got.renewable,
      loginTtlSeconds,
      refreshAt: ttlMs > 0 ? now + (ttlMs * 2) / 3 : Infinity,
      expiresAt: ttlMs > 0 ? now + ttlMs : Infinity,
    };
    this.current = held;
    this.schedule(held.refreshAt);
    return held;
  }

  private schedule(at: number): void {
    clearTimeout(this.timer);
    if (this.closed || !Number.isFinite(at)) return;
    const delay = Math.max(at - Date.now(), MIN_REFRESH_DELAY_MS);
    this.timer = setTimeout(() => this.refreshInBackground(), delay);
    this.timer.unref();
  }

  private refreshInBackground(): void {
    const held = this.current;
    if (!held) return;
    this.once(() => this.refresh(held)).catch((err: unknown) => {
      this.logger.warn("vault token refresh failed; will try again", { method: this.auth.method, err });
      // Try again halfway to expiry; past it, the next call logs in.
      const now = Date.now();
      if (this.current === held && held.expiresAt - now > MIN_REFRESH_DELAY_MS) {
        this.schedule(now + (held.expiresAt - now) / 2);
      }
    });
  }
}

function authOf(body: unknown, path: string): VaultLogin {
  const auth = (body as { auth?: Record<string, unknown> } | undefined)?.auth;
  const token = auth?.client_token;
  if (typeof token !== "string" || token === "") {
    throw new VaultInvalidError(`Vault POST ${path}: the answer carries no token`);
  }
  return {
    token,
    ttlSeconds: typeof auth?.lease_duration === "number" ? auth.lease_duration : 0,
    renewable: auth?.renewable === true,
  };
}

function lookupOf(body: unknown, token: string, path: string): VaultLogin {
  const data = (body as { data?: Record<string, unknown> } | undefined)?.data;
  if (!data) throw new VaultInvalidError(`Vault GET ${path}: the answer carries no data`);
  return {
    token,
    ttlSeconds: typeof data.ttl === "number" ? data.ttl : 0,
    renewable: data.renewable === true,
  };
}
