/** `pushsync sync`: makes every destination store hold what Vault holds (plan, then apply). */
import { RUN_OPTIONS } from "../lib/help.ts";
import { printReport, Progress } from "../lib/output.ts";
import { engineLogger, parseRunArgs, prepareRun } from "../lib/run.ts";

const help = `pushsync sync [options]

Plans as "pushsync plan" does, then applies: creates, updates and deletes remote secrets.
Shows a progress bar on stderr when it is a terminal, then every entry that did not stay
unchanged (created, updated, deleted, skipped, error), counts by outcome, Vault reads and the
provider calls made, by store and operation.

${RUN_OPTIONS}`;

export default async function sync(args: string[]): Promise<number> {
  const options = parseRunArgs("sync", args, help);
  if (typeof options === "number") return options;
  const progress = new Progress(process.stderr, engineLogger());
  const run = await prepareRun(options, progress.logger());
  if (typeof run === "number") return run;
  try {
    const plan = await run.plan();
    progress.start(plan);
    const report = await run.apply(plan).finally(() => progress.finish());
    return printReport(run, report);
  } finally {
    await run.close();
  }
}
