/**
 * The scheduled reconciler as Lambda runs it (the real middy handler, Vault's AWS auth, the
 * local Vault, AWS and GCP): it repairs a destination changed behind pushsync's back, logs every
 * entry's outcome and ends with one CloudWatch EMF record per store.
 */
import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  awsValue,
  invoke,
  lambdaContext,
  lambdaEnv,
  PUSHES,
  startStack,
  writeManifests,
  type Stack,
} from "./helpers.ts";

type Result = { totals: Record<string, number>; durationMs: number };
let s: Stack;
let handler: (event: unknown, context: never) => Promise<Result>;

const scheduledEvent = {
  version: "0",
  id: "2d6e1a3c-0000-4000-8000-000000000000",
  "detail-type": "Scheduled Event",
  source: "aws.events",
  account: "000000000000",
  time: new Date().toISOString(),
  region: "us-east-1",
  resources: ["arn:aws:events:us-east-1:000000000000:rule/pushsync-test-reconciler"],
  detail: {},
};

beforeAll(async () => {
  s = await startStack();
  Object.assign(process.env, lambdaEnv(s, writeManifests(s)));
  vi.resetModules();
  ({ handler } = await import("../../functions/aws/reconciler.ts"));
  for (const p of PUSHES) await s.vault.writeKv("secret", p.path, { password: `pw-${p.name}-initial` });
});
afterAll(async () => {
  await s?.close();
});

describe("reconciler", () => {
  it("creates everything, then restores a value changed behind pushsync's back", async () => {
    const first = await invoke(() => handler(scheduledEvent, lambdaContext("run-1")));
    expect(first.result.totals).toMatchObject({ created: PUSHES.length, error: 0 });

    await s.sm.send(
      new PutSecretValueCommand({ SecretId: "app-repaired-value", SecretString: "edited by hand" }),
    );
    expect(await awsValue(s, "app-repaired-value")).toBe("edited by hand");

    const awsBefore = s.aws.requests.total();
    const gcpBefore = s.gcp.requests.total();
    const second = await invoke(() => handler(scheduledEvent, lambdaContext("run-2")));
    const awsCalls = s.aws.requests.total() - awsBefore;
    const gcpCalls = s.gcp.requests.total() - gcpBefore;

    expect(JSON.parse((await awsValue(s, "app-repaired-value"))!)).toEqual({ password: "pw-repair-initial" });
    expect(second.result.totals).toMatchObject({ updated: 1, unchanged: PUSHES.length - 1, error: 0 });

    // One structured record per entry, naming the entry and its outcome, never a value.
    const outcomes = second.logs.filter((l) => l.msg === "push outcome");
    expect(outcomes.map((l) => [l.remoteKey, l.outcome]).sort()).toEqual(
      PUSHES.map((p) => [p.remoteKey, p.remoteKey === "app-repaired-value" ? "updated" : "unchanged"]).sort(),
    );
    expect(JSON.stringify(second.logs)).not.toContain("pw-repair-initial");

    // One EMF record per store, in the shape CloudWatch expects.
    expect(second.stdout).toHaveLength(2);
    const byStore = new Map(second.stdout.map((r) => [r.Store, r]));
    const aws = byStore.get("default/aws")!;
    expect(aws._aws).toEqual({
      Timestamp: expect.any(Number),
      CloudWatchMetrics: [
        {
          Namespace: "pushsync",
          Dimensions: [["Store"]],
          Metrics: ["Created", "Updated", "Unchanged", "Skipped", "Deleted", "Errors", "ProviderCalls"].map(
            (Name) => ({ Name, Unit: "Count" }),
          ),
        },
      ],
    });
    expect(Math.abs((aws._aws as { Timestamp: number }).Timestamp - Date.now())).toBeLessThan(60_000);
    const awsPushes = PUSHES.filter((p) => p.store === "aws").length;
    expect(aws).toMatchObject({
      Created: 0,
      Updated: 1,
      Unchanged: awsPushes - 1,
      Skipped: 0,
      Deleted: 0,
      Errors: 0,
      ProviderCalls: awsCalls,
      requestId: "run-2",
    });
    expect(Object.values(aws.calls as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(awsCalls);
    expect(byStore.get("default/gcp")).toMatchObject({ Unchanged: 1, Updated: 0, ProviderCalls: gcpCalls });
  });
});
