/**
 * Vendor clients the tests run unchanged against the local servers (aws, gcloud, curl, Python
 * libraries): whether one is installed, and whether its absence skips a test or fails it. Under
 * CI every client is installed, so there a missing one fails instead of skipping.
 */
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";

/** The system interpreter, where Debian's python3-hvac and python3-azure packages install. */
export const PYTHON = "/usr/bin/python3";

/** Set under CI, where a missing client is a failure rather than a reason to skip. */
export const clientsRequired = Boolean(process.env.CI);

/** Whether `cmd args` runs and exits 0; false when it is missing, fails or outlives timeoutMs. */
export function hasCommand(cmd: string, args: string[], timeoutMs?: number): boolean {
  return spawnSync(cmd, args, { stdio: "ignore", timeout: timeoutMs }).status === 0;
}

/** Whether `python -c "import <modules>"` succeeds (modules as in an import statement: "a, b.c"). */
export function canImport(python: string, modules: string, timeoutMs?: number): boolean {
  return hasCommand(python, ["-c", `import ${modules}`], timeoutMs);
}

/** Whether a test that needs a client should be skipped: only when it is missing outside CI. */
export function skipWithout(installed: boolean): boolean {
  return !installed && !clientsRequired;
}

/**
 * Runs `aws <service> <args>` against endpoint with test credentials and no config files, and
 * returns its exit code, parsed JSON output and stderr.
 */
export async function awsCli(
  endpoint: string,
  service: string,
  ...args: string[]
): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_MAX_ATTEMPTS: "1",
    AWS_PAGER: "",
  };
  const argv = ["--endpoint-url", endpoint, "--output", "json", service, ...args];
  try {
    const { stdout, stderr } = await promisify(execFile)("aws", argv, { env });
    return { code: 0, json: stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : {}, stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, json: {}, stderr: e.stderr ?? "" };
  }
}
