import { describe, expect, it } from "vitest";
import { normalizeVaultPath, parseDuration, type VaultProvider } from "../../shared/spec/index.ts";

const store = (path: string | undefined, version: "v1" | "v2" = "v2"): VaultProvider => ({
  server: "http://127.0.0.1:8200",
  path,
  version,
});

describe("normalizeVaultPath", () => {
  it.each([
    // store path, version, key, mount, path
    ["secret", "v2", "prod/database", "secret", "prod/database"],
    ["secret", "v2", "secret/prod/database", "secret", "prod/database"],
    ["secret", "v2", "secret/data/prod/database", "secret", "prod/database"],
    ["secret", "v2", "/secret/data/prod/database", "secret", "prod/database"],
    ["secret", "v2", "/prod/database/", "secret", "prod/database"],
    ["secret/data", "v2", "secret/data/prod/database", "secret", "prod/database"],
    ["secret", "v2", "data/prod", "secret", "data/prod"],
    ["secret", "v2", "secretive/x", "secret", "secretive/x"],
    ["secret", "v2", "lambda-db-password", "secret", "lambda-db-password"],
    ["kv/team-a", "v2", "app/config", "kv/team-a", "app/config"],
    ["kv/team-a", "v2", "kv/team-a/app/config", "kv/team-a", "app/config"],
    ["kv/team-a", "v2", "kv/team-a/data/app/config", "kv/team-a", "app/config"],
    ["kv/team-a", "v2", "kv/app", "kv/team-a", "kv/app"],
    ["secret", "v1", "prod/database", "secret", "prod/database"],
    ["secret", "v1", "secret/prod/database", "secret", "prod/database"],
    ["secret", "v1", "secret/data/prod/database", "secret", "data/prod/database"],
    [undefined, "v2", "secret/data/prod/database", "secret", "prod/database"],
    [undefined, "v2", "secret/prod/database", "secret", "prod/database"],
    [undefined, "v1", "kv/prod/database", "kv", "prod/database"],
    ["", "v2", "secret/prod", "secret", "prod"],
  ] as const)("store path %s (%s): %s -> %s %s", (path, version, key, mount, inner) => {
    expect(normalizeVaultPath(store(path, version), key)).toEqual({ mount, path: inner });
  });

  it.each([
    ["secret", "secret", 'Vault key "secret" names the mount secret, not a secret in it'],
    ["secret", "secret/data", 'Vault key "secret/data" names the mount secret, not a secret in it'],
    ["secret", "prod//database", 'Vault key "prod//database" has an empty, "." or ".." segment'],
    ["secret", "prod/../x", 'Vault key "prod/../x" has an empty, "." or ".." segment'],
    ["secret", "", 'Vault key "" has an empty, "." or ".." segment'],
  ])("store path %s rejects %j", (path, key, message) => {
    expect(() => normalizeVaultPath(store(path), key)).toThrow(message);
  });
});

describe("parseDuration", () => {
  it.each([
    ["0", 0],
    ["0s", 0],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["1h0m0s", 3_600_000],
    ["1.5h", 5_400_000],
    ["500ms", 500],
    ["2m30s", 150_000],
  ])("%s = %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "5", "1 hour", "1d", "h", "-1h", "1h-5m", "1.h.5"])("%j is not a duration", (text) => {
    expect(() => parseDuration(text)).toThrow();
  });
});
