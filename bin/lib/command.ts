/**
 * What the long-running commands (forward, pull, dev) share: usage errors and --help; forward and
 * pull also the logged run and the wait for a stop signal.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { createLogger, type Logger } from "../../shared/observability/logger.ts";

/**
 * A usage error of `pushsync <command>`: prints the message and the help on stderr and returns 2,
 * the exit code of a usage error.
 */
export function usageError(command: string, help: string): (message: string) => number {
  return (message) => {
    console.error(`pushsync ${command}: ${message}\n\n${help}`);
    return 2;
  };
}

/**
 * The parsed option values, or the exit code when the command should stop: 2 after a usage error
 * from parseArgs, 0 after printing the help for --help.
 */
export function parseOptions<T extends ParseArgsConfig>(
  config: T,
  usage: (message: string) => number,
  help: string,
): ReturnType<typeof parseArgs<T>>["values"] | number {
  let values;
  try {
    values = parseArgs(config).values;
  } catch (err) {
    return usage((err as Error).message);
  }
  if ((values as { help?: boolean }).help) {
    console.log(help);
    return 0;
  }
  return values;
}

/**
 * A command's entry point: parse returns the arguments or an exit code; run gets them with a JSON
 * logger tagged with the command. What run throws is logged as "<command> failed" and exits 1.
 */
export function loggedCommand<A>(
  command: string,
  parse: (argv: string[]) => A | number,
  run: (args: A, log: Logger) => Promise<number>,
): (argv: string[]) => Promise<number> {
  return async (argv) => {
    const args = parse(argv);
    if (typeof args === "number") return args;
    const log = createLogger({ base: { command } });
    try {
      return await run(args, log);
    } catch (err) {
      log.error(`${command} failed`, { err });
      return 1;
    }
  };
}

/** Resolves at the first SIGINT or SIGTERM, then leaves both signals to Node's default again. */
export function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}
