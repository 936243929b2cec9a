/**
 * .pushsync/local.json, written by `pushsync local`: one entry per running local cloud. The
 * same entries give the environment a user exports to reach them, and that `plan` / `sync
 * --local` use.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { AZURE_ACCESS_TOKEN_ENV } from "../../shared/providers/index.ts";

export const LOCAL_STATE_FILE = path.join(".pushsync", "local.json");

/** The local Key Vault accepts any bearer token; this is the one the local stack hands out. */
const LOCAL_AZURE_TOKEN = "local";

export interface LocalState {
  vault?: { address: string; token: string };
  aws?: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  gcp?: { emulatorHost: string; projectId: string };
  azure?: { vaultUrl: string; httpUrl: string; caPath: string };
}

/** Environment variables that point clients (pushsync, the Vault and AWS CLIs, SDKs) at the local clouds. */
export function localEnv(state: LocalState): Record<string, string> {
  const env: Record<string, string> = {};
  if (state.vault) Object.assign(env, { VAULT_ADDR: state.vault.address, VAULT_TOKEN: state.vault.token });
  if (state.aws) {
    Object.assign(env, {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: state.aws.endpoint,
      AWS_ENDPOINT_URL_SQS: state.aws.endpoint,
      AWS_ACCESS_KEY_ID: state.aws.accessKeyId,
      AWS_SECRET_ACCESS_KEY: state.aws.secretAccessKey,
      AWS_REGION: state.aws.region,
      // Version 1 of the AWS CLI reads only this one.
      AWS_DEFAULT_REGION: state.aws.region,
    });
  }
  if (state.gcp) env.SECRETMANAGER_EMULATOR_HOST = state.gcp.emulatorHost;
  if (state.azure) {
    Object.assign(env, {
      NODE_EXTRA_CA_CERTS: state.azure.caPath,
      [AZURE_ACCESS_TOKEN_ENV]: LOCAL_AZURE_TOKEN,
    });
  }
  return env;
}

/** `export A=1 B=2`, for a person to paste into a shell (values quoted when needed). */
export function exportLine(env: Record<string, string>): string {
  const quote = (v: string) => (/^[\w/.:,@%+=-]+$/.test(v) ? v : `'${v.replace(/'/g, "'\\''")}'`);
  return `export ${Object.entries(env)
    .map(([k, v]) => `${k}=${quote(v)}`)
    .join(" ")}`;
}

export async function readLocalState(file = LOCAL_STATE_FILE): Promise<LocalState> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${file} (${code}); start the local clouds with "pushsync local"`);
  }
  try {
    return JSON.parse(text) as LocalState;
  } catch {
    throw new Error(`${file} is not JSON; restart "pushsync local" to rewrite it`);
  }
}
