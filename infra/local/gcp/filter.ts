/**
 * The subset of Secret Manager's list filter language (https://cloud.google.com/secret-manager/docs/filtering)
 * that the local GCP understands:
 *
 *   restriction   FIELD OP VALUE     OP is `:` (has: substring ignoring case, `*` wildcard, `:*` present),
 *                                    `=`, `!=` (whole value), `<`, `<=`, `>`, `>=` (timestamps only)
 *   negation      NOT term, -term
 *   conjunction   a AND b, or a b    OR binds tighter than AND, as in Google's filters
 *   grouping      ( ... )
 *
 * VALUE is a bare word or a double-quoted string. Fields are chosen by the caller (secrets: name,
 * labels.KEY, create_time, replication...; versions: name, state, create_time). Anything else,
 * including the client-side `~` regex of gcloud, is rejected so that a client never silently gets
 * an unfiltered list.
 */
export type Op = ":" | "=" | "!=" | "<" | "<=" | ">" | ">=";

/** Values of a field on one resource: [] when absent. */
export type FieldValues = (field: string) => string[];

export type Predicate = (values: FieldValues) => boolean;

export class FilterError extends Error {}

interface Token {
  kind: "(" | ")" | "word" | "op";
  text: string;
  quoted?: boolean;
}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const readValue = (): Token => {
    while (input[i] === " ") i++;
    if (input[i] === '"') {
      const end = input.indexOf('"', i + 1);
      if (end < 0) throw new FilterError("unterminated quoted string");
      const text = input.slice(i + 1, end);
      i = end + 1;
      return { kind: "word", text, quoted: true };
    }
    const start = i;
    while (i < input.length && !/[\s()]/.test(input[i]!)) i++;
    if (i === start) throw new FilterError(`missing value at position ${start}`);
    return { kind: "word", text: input.slice(start, i) };
  };
  while (i < input.length) {
    const ch = input[i]!;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === "(" || ch === ")") {
      tokens.push({ kind: ch, text: ch });
      i++;
    } else {
      const op = /^(<=|>=|!=|=|:|<|>|~)/.exec(input.slice(i))?.[0];
      if (op) {
        if (op === "~") throw new FilterError("regular expressions (~) are not supported by the API");
        tokens.push({ kind: "op", text: op });
        i += op.length;
        tokens.push(readValue());
      } else if (ch === '"') {
        const t = readValue();
        tokens.push(t);
      } else {
        const start = i;
        while (i < input.length && !/[\s()=:<>!~"]/.test(input[i]!)) i++;
        if (i === start) throw new FilterError(`unexpected '${ch}' at position ${i}`);
        tokens.push({ kind: "word", text: input.slice(start, i) });
      }
    }
  }
  return tokens;
}

/** `:` (has) matches a substring, ignoring case; `=` matches the whole value exactly. `*` is a wildcard. */
function globToRegExp(pattern: string, anchored: boolean): RegExp {
  const body = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return anchored ? new RegExp(`^${body}$`) : new RegExp(body, "i");
}

/** An RFC 3339 timestamp in nanoseconds since the epoch (Date.parse alone stops at milliseconds). */
function nanos(timestamp: string): bigint | undefined {
  const ms = Date.parse(timestamp);
  if (Number.isNaN(ms)) return undefined;
  const fraction = /\.(\d+)/.exec(timestamp)?.[1] ?? "";
  const belowMs = fraction.padEnd(9, "0").slice(3, 9);
  return BigInt(ms) * 1_000_000n + BigInt(belowMs);
}

function restriction(field: string, op: Op, value: string, quoted: boolean): Predicate {
  if (op === ":" && value === "*" && !quoted) return (v) => v(field).length > 0;
  if (op === ":") {
    const re = globToRegExp(value, false);
    return (v) => v(field).some((x) => re.test(x));
  }
  if (op === "=" || op === "!=") {
    const re = globToRegExp(value, true);
    const eq: Predicate = (v) => v(field).some((x) => re.test(x));
    return op === "=" ? eq : (v) => !eq(v);
  }
  const bound = nanos(value);
  if (bound === undefined) throw new FilterError(`'${field} ${op}' needs an RFC 3339 timestamp`);
  const cmp = (t: bigint): boolean =>
    op === "<" ? t < bound : op === "<=" ? t <= bound : op === ">" ? t > bound : t >= bound;
  return (v) =>
    v(field).some((x) => {
      const t = nanos(x);
      return t !== undefined && cmp(t);
    });
}

/**
 * Compiles a filter. `knownField` says which field names the resource supports and returns the
 * canonical name (e.g. "createTime" -> "create_time"), or undefined for an unsupported field.
 */
export function compileFilter(input: string, knownField: (field: string) => string | undefined): Predicate {
  const tokens = tokenize(input);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isKeyword = (t: Token | undefined, kw: string): boolean =>
    t?.kind === "word" && !t.quoted && t.text === kw;

  const parseAnd = (): Predicate => {
    const parts: Predicate[] = [parseOr()];
    while (pos < tokens.length && peek()?.kind !== ")") {
      if (isKeyword(peek(), "AND")) pos++;
      parts.push(parseOr());
    }
    return parts.length === 1 ? parts[0]! : (v) => parts.every((p) => p(v));
  };
  const parseOr = (): Predicate => {
    const parts: Predicate[] = [parseTerm()];
    while (isKeyword(peek(), "OR")) {
      pos++;
      parts.push(parseTerm());
    }
    return parts.length === 1 ? parts[0]! : (v) => parts.some((p) => p(v));
  };
  const parseTerm = (): Predicate => {
    const t = peek();
    if (t === undefined) throw new FilterError("unexpected end of filter");
    if (isKeyword(t, "NOT")) {
      pos++;
      const inner = parseTerm();
      return (v) => !inner(v);
    }
    if (t.kind === "word" && !t.quoted && t.text.startsWith("-") && t.text.length > 1) {
      t.text = t.text.slice(1);
      const inner = parseTerm();
      return (v) => !inner(v);
    }
    if (t.kind === "(") {
      pos++;
      const inner = parseAnd();
      if (peek()?.kind !== ")") throw new FilterError("missing ')'");
      pos++;
      return inner;
    }
    const op = tokens[pos + 1];
    const value = tokens[pos + 2];
    if (t.kind !== "word" || op?.kind !== "op" || value === undefined) {
      throw new FilterError(`expected FIELD OP VALUE near '${t.text}' (bare values are not supported)`);
    }
    const field = knownField(t.text);
    if (field === undefined) throw new FilterError(`unsupported filter field '${t.text}'`);
    pos += 3;
    return restriction(field, op.text as Op, value.text, value.quoted === true);
  };

  if (tokens.length === 0) return () => true;
  const predicate = parseAnd();
  if (pos < tokens.length) throw new FilterError(`unexpected '${tokens[pos]!.text}'`);
  return predicate;
}
