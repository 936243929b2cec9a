/**
 * `serverless package` (osls + serverless-esbuild) run for real, offline and without AWS
 * credentials, into a temporary directory; then the generated CloudFormation template and the
 * function bundles are checked.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  awsValue,
  changeEvent,
  createQueues,
  lambdaEnv,
  lambdaEvent,
  publish,
  PUSHES,
  receive,
  startStack,
  writeManifests,
} from "./helpers.ts";

const run = promisify(execFile);
/** Temporary directories (packages, unpacked bundles), removed after the tests. */
const scratch: string[] = [];
const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
};
type Template = {
  Resources: Record<string, { Type: string; Condition?: string; Properties: Record<string, unknown> }>;
  Conditions?: Record<string, unknown>;
};

/** Packages with the given --param values; returns the output directory and the update template. */
async function packageWith(params: string[]): Promise<{ dir: string; template: Template }> {
  const dir = tempDir("pushsync-package-");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: tempDir("pushsync-home-"),
    // Any AWS call would need credentials, and there are none: packaging must not make one.
    AWS_CONFIG_FILE: "/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
    AWS_EC2_METADATA_DISABLED: "true",
    SLS_TELEMETRY_DISABLED: "1",
    SLS_NOTIFICATIONS_MODE: "off",
  };
  await run(
    process.execPath,
    [
      "node_modules/osls/bin/serverless.js",
      "package",
      "--package",
      dir,
      "--stage",
      "test",
      "--region",
      "eu-west-1",
      "--param=manifestsDir=test/fixtures/manifests",
      ...params.map((p) => `--param=${p}`),
    ],
    { env, timeout: 60_000 },
  );
  return {
    dir,
    template: JSON.parse(
      readFileSync(join(dir, "cloudformation-template-update-stack.json"), "utf8"),
    ) as Template,
  };
}

async function zipEntries(zip: string): Promise<string[]> {
  const { stdout } = await run("unzip", ["-Z1", zip]);
  return stdout.split("\n").filter((l) => l !== "");
}

let plain: { dir: string; template: Template };
let configured: { dir: string; template: Template };

beforeAll(async () => {
  plain = await packageWith([]);
  configured = await packageWith([
    "kmsKeyArn=arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "secretPrefix=prod/",
    "reconcileRate=5 minutes",
  ]);
}, 120_000);
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

const byType = (t: Template, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
type Statement = {
  Effect: string;
  Action: string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, string>>;
};
function statements(t: Template): Statement[] {
  const role = t.Resources.IamRoleLambdaExecution!.Properties as {
    Policies: { PolicyDocument: { Statement: Statement[] } }[];
  };
  return role.Policies.flatMap((p) => p.PolicyDocument.Statement);
}
const forAction = (t: Template, action: string) => statements(t).filter((s) => s.Action.includes(action));

describe("serverless package", () => {
  it("declares the FIFO queue and its FIFO dead-letter queue (maxReceiveCount 5)", () => {
    const queues = Object.fromEntries(byType(plain.template, "AWS::SQS::Queue"));
    expect(queues.EventsQueue!.Properties).toMatchObject({
      QueueName: "pushsync-events.fifo",
      FifoQueue: true,
      ContentBasedDeduplication: false,
      RedrivePolicy: {
        deadLetterTargetArn: { "Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"] },
        maxReceiveCount: 5,
      },
    });
    expect(queues.EventsDeadLetterQueue!.Properties).toMatchObject({
      QueueName: "pushsync-events-dlq.fifo",
      FifoQueue: true,
    });
    const worker = plain.template.Resources.PushWorkerLambdaFunction!.Properties as {
      Timeout: number;
      Runtime: string;
    };
    expect(worker.Runtime).toBe("nodejs20.x");
    expect(queues.EventsQueue!.Properties.VisibilityTimeout as number).toBeGreaterThanOrEqual(
      6 * worker.Timeout,
    );
  });

  it("triggers the push worker from the queue with ReportBatchItemFailures, and the reconciler on a schedule", () => {
    const mappings = byType(plain.template, "AWS::Lambda::EventSourceMapping");
    expect(mappings).toHaveLength(1);
    expect(mappings[0]![1].Properties).toMatchObject({
      EventSourceArn: { "Fn::GetAtt": ["EventsQueue", "Arn"] },
      FunctionName: { "Fn::GetAtt": ["PushWorkerLambdaFunction", "Arn"] },
      BatchSize: 10,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    const rate = (t: Template) =>
      byType(t, "AWS::Events::Rule").map(([, r]) => r.Properties.ScheduleExpression);
    expect(rate(plain.template)).toEqual(["rate(15 minutes)"]);
    expect(rate(configured.template)).toEqual(["rate(5 minutes)"]);
    expect(plain.template.Resources.ReconcilerLambdaFunction!.Properties.ReservedConcurrentExecutions).toBe(
      1,
    );
  });

  it("scopes Secrets Manager to the prefix, with managed-by tag conditions, and SQS to the queue", () => {
    const prefixed = (t: Template) =>
      forAction(t, "secretsmanager:CreateSecret")[0]!.Resource as { "Fn::Join": [string, unknown[]] };
    expect(JSON.stringify(prefixed(configured.template))).toContain('":secret:prod/*"');
    expect(prefixed(configured.template)["Fn::Join"][1]).toEqual(
      expect.arrayContaining([{ Ref: "AWS::Region" }, { Ref: "AWS::AccountId" }, { Ref: "AWS::Partition" }]),
    );
    const t = configured.template;
    for (const action of ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]) {
      expect(forAction(t, action)).toEqual([
        expect.objectContaining({
          Resource: prefixed(t),
          Condition: { StringEquals: { "aws:RequestTag/managed-by": "pushsync" } },
        }),
      ]);
    }
    for (const action of [
      "PutSecretValue",
      "UpdateSecret",
      "DeleteSecret",
      "RestoreSecret",
      "UntagResource",
    ]) {
      expect(forAction(t, `secretsmanager:${action}`)).toEqual([
        expect.objectContaining({
          Resource: prefixed(t),
          Condition: { StringEquals: { "aws:ResourceTag/managed-by": "pushsync" } },
        }),
      ]);
    }
    for (const action of ["secretsmanager:ListSecrets", "secretsmanager:BatchGetSecretValue"]) {
      expect(forAction(t, action)).toEqual([expect.objectContaining({ Resource: "*" })]);
    }
    expect(
      statements(t)
        .filter((s) => s.Resource === "*")
        .flatMap((s) => s.Action)
        .sort(),
    ).toEqual(["secretsmanager:BatchGetSecretValue", "secretsmanager:ListSecrets"]);
    expect(forAction(t, "sqs:ReceiveMessage")).toEqual([
      expect.objectContaining({ Resource: [{ "Fn::GetAtt": ["EventsQueue", "Arn"] }] }),
    ]);
  });

  it("grants KMS only when a key is configured (a CloudFormation condition)", () => {
    const kms = (t: Template) => t.Resources.KmsKeyPolicy!;
    expect(
      statements(plain.template)
        .flatMap((s) => s.Action)
        .filter((a) => a.startsWith("kms:")),
    ).toEqual([]);
    expect(kms(plain.template).Condition).toBe("HasKmsKey");
    expect(plain.template.Conditions!.HasKmsKey).toEqual({ "Fn::Not": [{ "Fn::Equals": ["", ""] }] });
    const key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    expect(configured.template.Conditions!.HasKmsKey).toEqual({ "Fn::Not": [{ "Fn::Equals": [key, ""] }] });
    expect(kms(configured.template).Properties).toMatchObject({
      Roles: [{ Ref: "IamRoleLambdaExecution" }],
      PolicyDocument: {
        Statement: [
          { Effect: "Allow", Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], Resource: key },
        ],
      },
    });
  });

  it("keeps logs for the configured retention and sets the Lambda defaults", () => {
    const groups = byType(plain.template, "AWS::Logs::LogGroup").map(([, r]) => r.Properties.RetentionInDays);
    expect(groups).toEqual([30, 30]);
    const env = (
      plain.template.Resources.PushWorkerLambdaFunction!.Properties as {
        Environment: { Variables: Record<string, string> };
      }
    ).Environment.Variables;
    expect(env).toMatchObject({
      PUSHSYNC_VAULT_AUTH: "aws-iam",
      PUSHSYNC_VAULT_ROLE: "pushsync",
      PUSHSYNC_MANIFESTS_DIR: "test/fixtures/manifests",
      PUSHSYNC_FINGERPRINT_KEY: "{{resolve:secretsmanager:pushsync/fingerprint-key:SecretString}}",
    });
  });

  it("packages each handler as one bundle plus the manifests, nothing else", async () => {
    const manifests = readdirSync("test/fixtures/manifests").map((f) => `test/fixtures/manifests/${f}`);
    for (const [fn, file] of [
      ["pushWorker", "functions/aws/push-worker.js"],
      ["reconciler", "functions/aws/reconciler.js"],
    ] as const) {
      const zip = join(plain.dir, `${fn}.zip`);
      expect((await zipEntries(zip)).sort()).toEqual([file, ...manifests].sort());
      const { stdout: bundle } = await run("unzip", ["-p", zip, file], { maxBuffer: 64 * 1024 * 1024 });
      const size = statSync(zip).size;
      console.info(`${fn}.zip: ${size} bytes, ${file}: ${Buffer.byteLength(bundle)} bytes`);
      expect(size).toBeLessThan(1_500_000);
    }
  });

  it("runs from the bundles alone, without node_modules, against the local clouds", async () => {
    const s = await startStack();
    try {
      const alone = tempDir("pushsync-bundle-");
      for (const fn of ["pushWorker", "reconciler"])
        await run("unzip", ["-q", "-o", join(plain.dir, `${fn}.zip`), "-d", alone]);
      for (const p of PUSHES) await s.vault.writeKv("secret", p.path, { password: `bundle-${p.name}-1` });
      const env = {
        PATH: process.env.PATH ?? "",
        ...lambdaEnv(s, writeManifests(s)),
        PUSHSYNC_LOG_LEVEL: "error",
      };
      /** Invokes a bundled handler in a fresh Node.js process, as the Lambda runtime would. */
      const invokeBundle = async (file: string, event: unknown): Promise<unknown> => {
        const script = `require(${JSON.stringify(join(alone, file))}).handler(JSON.parse(process.env.EVENT), { awsRequestId: "bundle" })
          .then((r) => process.stdout.write("RESULT " + JSON.stringify(r) + "\\n", () => process.exit(0)))`;
        const { stdout } = await run(process.execPath, ["-e", script], {
          cwd: alone,
          env: { ...env, EVENT: JSON.stringify(event) },
          timeout: 15_000,
        });
        return JSON.parse(
          stdout
            .split("\n")
            .find((l) => l.startsWith("RESULT "))!
            .slice(7),
        );
      };

      const reconciled = (await invokeBundle("functions/aws/reconciler.js", {})) as {
        totals: Record<string, number>;
      };
      expect(reconciled.totals).toMatchObject({ created: PUSHES.length, error: 0 });

      const q = await createQueues(s, "bundle-events");
      const version = await s.vault.writeKv("secret", "app/a", { password: "bundle-app-a-2" });
      await publish(s, q.url, changeEvent("app/a", version));
      const event = lambdaEvent(await receive(s, q), q.arn, s.aws.region);
      expect(await invokeBundle("functions/aws/push-worker.js", event)).toEqual({ batchItemFailures: [] });
      expect(JSON.parse((await awsValue(s, "app-a"))!)).toEqual({ password: "bundle-app-a-2" });
    } finally {
      await s.close();
    }
  });
});
