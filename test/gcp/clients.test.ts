/**
 * Google's own CLI and plain curl against the local GCP, as their documentation uses them.
 * gcloud runs without a login: CLOUDSDK_AUTH_ACCESS_TOKEN supplies a token and
 * CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER points it here. Skipped where gcloud is not installed.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalGcp, startLocalGcp } from "../../infra/local/gcp/server.ts";
import { crc32c } from "../../shared/providers/gcp-secret-manager/crc32c.ts";
import { hasCommand } from "../support/clients.ts";

const run = promisify(execFile);
const hasGcloud = hasCommand("gcloud", ["--version"]);
const hasCurl = hasCommand("curl", ["--version"]);

let gcp: LocalGcp;
let dir: string;
beforeAll(async () => {
  gcp = await startLocalGcp({ port: 0, projectNumber: "555000111222" });
  dir = await mkdtemp(path.join(tmpdir(), "pushsync-gcloud-"));
});
afterAll(async () => {
  await gcp.close();
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!hasGcloud)("gcloud against the local GCP", () => {
  const gcloud = async (...args: string[]): Promise<string> => {
    const { stdout } = await run("gcloud", args, {
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        CLOUDSDK_CONFIG: path.join(dir, "config"),
        CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER: `${gcp.url}/`,
        CLOUDSDK_AUTH_ACCESS_TOKEN: "local-token",
        CLOUDSDK_CORE_PROJECT: "demo-project",
        CLOUDSDK_CORE_DISABLE_PROMPTS: "1",
        CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: "true",
        CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: "true",
      },
    });
    return stdout;
  };

  it("creates, adds versions, reads, lists, changes states and deletes", async () => {
    const first = path.join(dir, "first.txt");
    const second = path.join(dir, "second.txt");
    await writeFile(first, "first-value");
    await writeFile(second, "second-value");

    await gcloud("secrets", "create", "cli-secret", `--data-file=${first}`, "--labels=env=prod,team=core");
    await gcloud("secrets", "versions", "add", "cli-secret", `--data-file=${second}`);
    expect(await gcloud("secrets", "versions", "access", "latest", "--secret=cli-secret")).toBe(
      "second-value",
    );
    expect(await gcloud("secrets", "versions", "access", "1", "--secret=cli-secret")).toBe("first-value");
    // gcloud sends a CRC32C with each version, which the server checked.
    const v2 = JSON.parse(
      await gcloud("secrets", "versions", "describe", "2", "--secret=cli-secret", "--format=json"),
    );
    expect(v2).toMatchObject({ state: "ENABLED", clientSpecifiedPayloadChecksum: true });

    const described = JSON.parse(await gcloud("secrets", "describe", "cli-secret", "--format=json"));
    expect(described).toMatchObject({
      name: "projects/555000111222/secrets/cli-secret",
      labels: { env: "prod", team: "core" },
      replication: { automatic: {} },
    });

    await gcloud(
      "secrets",
      "create",
      "other-secret",
      "--replication-policy=user-managed",
      "--locations=us-east1",
    );
    const listed = JSON.parse(await gcloud("secrets", "list", "--filter=labels.env=prod", "--format=json"));
    expect(listed.map((s: { name: string }) => s.name)).toEqual(["projects/555000111222/secrets/cli-secret"]);

    await gcloud("secrets", "versions", "disable", "1", "--secret=cli-secret");
    const versions = JSON.parse(await gcloud("secrets", "versions", "list", "cli-secret", "--format=json"));
    expect(versions.map((v: { state: string }) => v.state)).toEqual(["ENABLED", "DISABLED"]);
    await expect(gcloud("secrets", "versions", "access", "1", "--secret=cli-secret")).rejects.toThrow(
      /DISABLED/,
    );

    await gcloud("secrets", "update", "cli-secret", "--update-labels=team=edge");
    const updated = JSON.parse(await gcloud("secrets", "describe", "cli-secret", "--format=json"));
    expect(updated.labels).toEqual({ env: "prod", team: "edge" });

    await gcloud("secrets", "versions", "destroy", "2", "--secret=cli-secret");
    await gcloud("secrets", "delete", "cli-secret");
    const after = JSON.parse(await gcloud("secrets", "list", "--format=json"));
    expect(after.map((s: { name: string }) => s.name)).toEqual([
      "projects/555000111222/secrets/other-secret",
    ]);
  }, 60_000);

  it("works with regional secrets", async () => {
    const file = path.join(dir, "regional.txt");
    await writeFile(file, "regional-value");
    await gcloud("secrets", "create", "cli-regional", `--data-file=${file}`, "--location=europe-west1");
    expect(
      await gcloud(
        "secrets",
        "versions",
        "access",
        "latest",
        "--secret=cli-regional",
        "--location=europe-west1",
      ),
    ).toBe("regional-value");
  }, 30_000);
});

describe.skipIf(!hasCurl)("curl against the local GCP (Google's REST examples)", () => {
  const curl = async (
    method: string,
    urlPath: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> => {
    const args = ["-s", "-w", "\n%{http_code}", "-X", method, `${gcp.url}${urlPath}`];
    args.push(
      "-H",
      "Authorization: Bearer local-token",
      "-H",
      "Content-Type: application/json; charset=utf-8",
    );
    if (body !== undefined) args.push("--data", JSON.stringify(body));
    const { stdout } = await run("curl", args);
    const i = stdout.lastIndexOf("\n");
    return { status: Number(stdout.slice(i + 1)), json: JSON.parse(stdout.slice(0, i) || "null") };
  };

  it("creates a secret, adds a version, accesses it, lists and deletes", async () => {
    const created = await curl("POST", "/v1/projects/demo-project/secrets?secretId=curl-secret", {
      replication: { automatic: {} },
    });
    expect(created).toMatchObject({
      status: 200,
      json: { name: "projects/555000111222/secrets/curl-secret" },
    });

    const data = Buffer.from("curl-value");
    const added = await curl("POST", "/v1/projects/demo-project/secrets/curl-secret:addVersion", {
      payload: { data: data.toString("base64"), dataCrc32c: String(crc32c(data)) },
    });
    expect(added).toMatchObject({ status: 200, json: { state: "ENABLED" } });

    const accessed = await curl("GET", "/v1/projects/demo-project/secrets/curl-secret/versions/1:access");
    const p = (accessed.json as { payload: { data: string; dataCrc32c: string } }).payload;
    expect(Buffer.from(p.data, "base64").toString()).toBe("curl-value");
    expect(p.dataCrc32c).toBe(String(crc32c(data)));

    const listed = await curl("GET", "/v1/projects/demo-project/secrets?filter=name%3Acurl");
    expect((listed.json as { secrets: { name: string }[] }).secrets.map((s) => s.name)).toEqual([
      "projects/555000111222/secrets/curl-secret",
    ]);

    expect((await curl("DELETE", "/v1/projects/demo-project/secrets/curl-secret")).status).toBe(200);
    const gone = await curl("GET", "/v1/projects/demo-project/secrets/curl-secret");
    expect(gone).toMatchObject({ status: 404, json: { error: { status: "NOT_FOUND" } } });
  });
});
