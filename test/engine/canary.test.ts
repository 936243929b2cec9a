/**
 * Secret values never leave the data path: canary values planted in Vault (and in a remote
 * secret) flow through plan and apply, with entries failing in every way that involves them,
 * and must not appear in any log record, error message, report or printed plan.
 */
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, expect, it } from "vitest";
import { compileTemplate, renderTemplate } from "../../shared/spec/template.ts";
import type { PushEntry } from "../../shared/engine/types.ts";
import { entry, row, startStack, type Stack } from "./helpers.ts";

let s: Stack;
beforeAll(async () => {
  s = await startStack();
});
afterAll(async () => {
  await s.close();
});

it("no canary in logs, errors, the report or the plan", async () => {
  const canary = `canary-${randomBytes(8).toString("hex")}`;
  const remoteCanary = `remote-canary-${randomBytes(8).toString("hex")}`;
  await s.vault.writeKv("secret", "canary/app", { password: canary, note: `not json ${canary}` });
  await s.vault.writeKv("secret", "canary/big", { blob: `${canary}${"x".repeat(70_000)}` });
  await s.sdk.send(new CreateSecretCommand({ Name: "/canary/foreign", SecretString: remoteCanary }));
  await s.sdk.send(new CreateSecretCommand({ Name: "/canary/not-json", SecretString: remoteCanary }));

  const fromJson = compileTemplate("{{ .note | fromJson }}");
  const b64dec = compileTemplate("{{ .password | b64dec }}");
  const entries: PushEntry[] = [
    entry("default/ok", "canary/app", "/canary/ok"),
    entry("default/missing-key", "canary/app", "/canary/missing", { secretKey: "nope" }),
    entry("default/from-json", "canary/app", "/canary/from-json", {
      secretKey: "out",
      template: { text: fromJson.source, render: (d) => ({ ...d, out: renderTemplate(fromJson, d) }) },
    }),
    entry("default/b64dec", "canary/app", "/canary/b64dec", {
      secretKey: "out",
      template: { text: b64dec.source, render: (d) => ({ ...d, out: renderTemplate(b64dec, d) }) },
    }),
    entry("default/too-large", "canary/big", "/canary/big", { secretKey: "blob" }),
    entry("default/not-owned", "canary/app", "/canary/foreign", { secretKey: "password" }),
    entry("default/not-json", "canary/app", "/canary/not-json", {
      secretKey: "password",
      property: "p",
      adopt: true,
    }),
  ];
  const engine = s.engine();
  const plan = await engine.plan(entries);
  const report = await engine.apply(plan);

  // The data path did carry the canary.
  expect(await s.awsValue("/canary/ok")).toContain(canary);
  expect(row(report, "/canary/ok").outcome).toBe("created");
  // Every other entry failed.
  const failures = report.entries.filter((e) => e.outcome === "error");
  expect(failures.map((e) => e.pushSecret).sort()).toEqual([
    "default/b64dec",
    "default/from-json",
    "default/missing-key",
    "default/not-json",
    "default/not-owned",
    "default/too-large",
  ]);
  expect(row(report, "/canary/big").error?.code).toBe("TooLarge");

  const outputs = [
    ...s.logs,
    ...failures.map((e) => e.error!.message),
    JSON.stringify(report),
    JSON.stringify(plan),
    inspect(plan, { depth: 20 }),
  ];
  expect(s.logs.length).toBeGreaterThanOrEqual(entries.length);
  for (const text of outputs) {
    expect(text).not.toContain(canary);
    expect(text).not.toContain(remoteCanary);
  }
});
