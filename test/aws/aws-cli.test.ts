/**
 * The AWS CLI (Python, botocore) against the local AWS, unchanged but for --endpoint-url.
 * Skipped when `aws` is not installed, except under CI, where it must be.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalAws, startLocalAws } from "../../infra/local/aws/index.ts";
import { awsCli, hasCommand, skipWithout } from "../support/clients.ts";

const installed = hasCommand("aws", ["--version"]);

describe.skipIf(skipWithout(installed))("AWS CLI against the local AWS", () => {
  let aws: LocalAws;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
  });
  afterAll(async () => {
    await aws?.close();
  });

  /** Runs `aws secretsmanager <args>` against the local AWS. */
  const cli = (...args: string[]) => awsCli(aws.url, "secretsmanager", ...args);

  it("is installed (CI installs it)", () => {
    expect(installed, "the aws CLI must be on PATH when CI is set").toBe(true);
  });

  it("creates, reads, updates, lists, describes and deletes a secret", async () => {
    const created = await cli(
      "create-secret",
      "--name",
      "cli/db",
      "--secret-string",
      "first",
      "--description",
      "from the CLI",
      "--tags",
      "Key=team,Value=core",
    );
    expect(created.code).toBe(0);
    expect(created.json.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:cli\/db-[A-Za-z0-9]{6}$/,
    );

    expect((await cli("put-secret-value", "--secret-id", "cli/db", "--secret-string", "second")).code).toBe(
      0,
    );
    const got = await cli("get-secret-value", "--secret-id", String(created.json.ARN));
    expect(got.json).toMatchObject({ Name: "cli/db", SecretString: "second", VersionStages: ["AWSCURRENT"] });
    const previous = await cli("get-secret-value", "--secret-id", "cli/db", "--version-stage", "AWSPREVIOUS");
    expect(previous.json.SecretString).toBe("first");

    const listed = await cli("list-secrets", "--filters", "Key=name,Values=cli/");
    const list = listed.json.SecretList as { Name: string; Tags: unknown }[];
    expect(list.map((s) => s.Name)).toEqual(["cli/db"]);
    expect(list[0]!.Tags).toEqual([{ Key: "team", Value: "core" }]);

    const described = await cli("describe-secret", "--secret-id", "cli/db");
    expect(described.json).toMatchObject({ Name: "cli/db", Description: "from the CLI" });
    expect(Object.values(described.json.VersionIdsToStages as object).sort()).toEqual([
      ["AWSCURRENT"],
      ["AWSPREVIOUS"],
    ]);

    const deleted = await cli("delete-secret", "--secret-id", "cli/db", "--recovery-window-in-days", "7");
    expect(deleted.code).toBe(0);
    expect(deleted.json.DeletionDate).toBeDefined();
    const refused = await cli("get-secret-value", "--secret-id", "cli/db");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("InvalidRequestException");
    expect(refused.stderr).toContain("marked for deletion");

    expect(
      (await cli("delete-secret", "--secret-id", "cli/db", "--force-delete-without-recovery")).code,
    ).toBe(0);
    const missing = await cli("describe-secret", "--secret-id", "cli/db");
    expect(missing.stderr).toContain("ResourceNotFoundException");
  });
});
