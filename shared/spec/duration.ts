/**
 * Go duration strings (time.ParseDuration), as used by ESO's refreshInterval: "1h", "5m",
 * "30s", "1h30m", "1h0m0s", "1.5h", "500ms", "0". Units: ns, us (µs), ms, s, m, h.
 */
const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds of a duration string; throws Error with a short reason when it is not one. */
export function parseDuration(text: string): number {
  if (text === "0") return 0;
  if (text.startsWith("-")) throw new Error("must not be negative");
  const body = text.startsWith("+") ? text.slice(1) : text;
  const re = /([0-9]*\.?[0-9]+|[0-9]+\.)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < body.length) {
    re.lastIndex = at;
    const m = re.exec(body);
    if (!m) throw new Error(`expected a duration like 1h, 5m, 30s or 1h30m`);
    total += Number(m[1]) * unitMs[m[2]!]!;
    at = re.lastIndex;
  }
  if (body.length === 0) throw new Error(`expected a duration like 1h, 5m, 30s or 1h30m`);
  return Math.round(total);
}
