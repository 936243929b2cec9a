/**
 * Structured JSON logger. One line per record, written to a sink (stderr by default).
 *
 * Rule of the house: secret values never reach a log record. Callers log paths, keys,
 * versions, outcomes and short fingerprints only. As a second line of defence, every
 * string field is passed through the registered redactor, which replaces any value that
 * the data path has registered as secret (see `registerSecretValue`).
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;
export type LogSink = (line: string) => void;

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  sink?: LogSink;
  base?: LogFields;
}

const secretValues = new Set<string>();

/** Marks a value as secret so that the logger redacts it wherever it appears. Short values are ignored. */
export function registerSecretValue(value: string): void {
  if (value.length >= 4) secretValues.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const v of secretValues) if (out.includes(v)) out = out.split(v).join("[REDACTED]");
  return out;
}

function envLevel(): LogLevel {
  const raw = (process.env.PUSHSYNC_LOG_LEVEL ?? process.env.LOG_LEVEL ?? "info").toLowerCase();
  return raw in levelRank ? (raw as LogLevel) : "info";
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = levelRank[options.level ?? envLevel()];
  const sink: LogSink = options.sink ?? ((line) => process.stderr.write(line + "\n"));
  const base = options.base ?? {};
  const write = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (levelRank[level] < min) return;
    const record = { time: new Date().toISOString(), level, msg, ...base, ...fields };
    sink(redact(JSON.stringify(record, errorReplacer)));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) =>
      createLogger({ level: options.level ?? envLevel(), sink, base: { ...base, ...fields } }),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code !== undefined ? { code } : {}) };
  }
  return value;
}

/** A logger that drops everything: the default for library code when the caller passes none. */
export const silentLogger: Logger = createLogger({ level: "error", sink: () => undefined });
