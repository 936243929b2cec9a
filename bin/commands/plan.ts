/** `pushsync plan`: what sync would do, per store and remote key, without writing anything. */
import { RUN_OPTIONS } from "../lib/help.ts";
import { printPlan } from "../lib/output.ts";
import { engineLogger, parseRunArgs, prepareRun } from "../lib/run.ts";

const help = `pushsync plan [options]

Reads the manifests, Vault and the destination stores, and prints for every remote secret what
"pushsync sync" would do: create, update, delete, unchanged, skipped or error, with the short
fingerprint of the value and the Vault version it comes from. Writes nothing.

${RUN_OPTIONS}`;

export default async function plan(args: string[]): Promise<number> {
  const options = parseRunArgs("plan", args, help);
  if (typeof options === "number") return options;
  const run = await prepareRun(options, engineLogger());
  if (typeof run === "number") return run;
  try {
    return printPlan(run, await run.plan());
  } finally {
    await run.close();
  }
}
