import { describe, expect, it } from "vitest";
import { createLogger, registerSecretValue } from "../shared/observability/logger.ts";

describe("logger", () => {
  it("writes one JSON record per line with the base and call fields", () => {
    const lines: string[] = [];
    const log = createLogger({ sink: (l) => lines.push(l), level: "debug" }).child({ store: "aws" });
    log.info("pushed", { key: "/prod/db" });
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!);
    expect(rec).toMatchObject({ level: "info", msg: "pushed", store: "aws", key: "/prod/db" });
  });

  it("drops records below the level", () => {
    const lines: string[] = [];
    createLogger({ sink: (l) => lines.push(l), level: "warn" }).info("quiet");
    expect(lines).toEqual([]);
  });

  it("redacts values registered as secret, even inside error messages", () => {
    const lines: string[] = [];
    const canary = "canary-4f1d9e-value";
    registerSecretValue(canary);
    createLogger({ sink: (l) => lines.push(l) }).error("failed", { err: new Error(`bad ${canary}`) });
    expect(lines.join("\n")).not.toContain(canary);
    expect(lines.join("\n")).toContain("[REDACTED]");
  });
});
