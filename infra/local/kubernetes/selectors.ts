/**
 * Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`,
 * comma-separated, all must hold) and field selectors (`f=v`, `f==v`, `f!=v` on the fields a
 * resource allows), parsed into predicates. Malformed selectors are 400 BadRequest.
 */
import { badRequest } from "./errors.ts";
import { valueAt, type KubeObject } from "./objects.ts";

type Predicate = (obj: KubeObject) => boolean;

type Token =
  { kind: "word"; text: string } | { kind: "op"; text: string } | { kind: "(" | ")" | "," | "end" };

const OPERATORS = ["==", "!=", "=", "!", ">", "<"];

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "(" || c === ")" || c === ",") {
      tokens.push({ kind: c });
      i++;
    } else {
      const op = OPERATORS.find((o) => input.startsWith(o, i));
      if (op) {
        tokens.push({ kind: "op", text: op });
        i += op.length;
        continue;
      }
      let j = i;
      while (j < input.length && !/[\s(),!=<>]/.test(input[j]!)) j++;
      tokens.push({ kind: "word", text: input.slice(i, j) });
      i = j;
    }
  }
  tokens.push({ kind: "end" });
  return tokens;
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why a label key is invalid, or undefined when it is a valid qualified name. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return "prefix part must be a lowercase RFC 1123 subdomain";
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)";
  }
  return undefined;
}

/** Why a label value is invalid, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63 || !NAME.test(value)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)";
  }
  return undefined;
}

function fail(why: string): never {
  throw badRequest(`unable to parse requirement: ${why}`);
}

export function parseLabelSelector(selector: string): Predicate {
  const tokens = tokenize(selector);
  let pos = 0;
  const next = () => tokens[pos++]!;
  const peek = () => tokens[pos]!;
  const word = (what: string): string => {
    const t = next();
    if (t.kind !== "word") fail(`expected ${what}`);
    return t.text;
  };
  const checkKey = (key: string) => {
    const problem = labelKeyProblem(key);
    if (problem) fail(`invalid label key "${key}": ${problem}`);
    return key;
  };
  const checkValue = (value: string) => {
    const problem = labelValueProblem(value);
    if (problem) fail(`invalid label value: "${value}": ${problem}`);
    return value;
  };
  const valueSet = (): Set<string> => {
    if (next().kind !== "(") fail("expected '(' after set operator");
    const values = new Set<string>();
    for (;;) {
      const t = peek();
      if (t.kind === "word") values.add(checkValue(word("a value")));
      else if (t.kind === ",") values.add("");
      const end = next();
      if (end.kind === ")") return values;
      if (end.kind !== ",") fail("found '', expected: ',' or ')'");
    }
  };

  const requirements: Predicate[] = [];
  if (peek().kind === "end") return () => true;
  for (;;) {
    const labels = (o: KubeObject) => o.metadata.labels ?? {};
    const first = peek();
    if (first.kind === "op" && first.text === "!") {
      next();
      const key = checkKey(word("a label key after '!'"));
      requirements.push((o) => !(key in labels(o)));
    } else {
      const key = checkKey(word("a label key"));
      const op = peek();
      if (op.kind === "," || op.kind === "end") {
        requirements.push((o) => key in labels(o));
      } else if (op.kind === "op" && ["=", "==", "!="].includes(op.text)) {
        next();
        const t = peek();
        const value = t.kind === "word" ? checkValue(word("a value")) : "";
        if (op.text === "!=") requirements.push((o) => labels(o)[key] !== value);
        else requirements.push((o) => labels(o)[key] === value);
      } else if (op.kind === "op" && (op.text === ">" || op.text === "<")) {
        next();
        const bound = Number(word("an integer"));
        if (!Number.isInteger(bound)) fail(`for '${op.text}' operator, the value must be an integer`);
        requirements.push((o) => {
          const v = labels(o)[key];
          const n = v === undefined ? NaN : Number(v);
          return Number.isInteger(n) && (op.text === ">" ? n > bound : n < bound);
        });
      } else if (op.kind === "word" && (op.text === "in" || op.text === "notin")) {
        next();
        const values = valueSet();
        if (op.text === "in") requirements.push((o) => values.has(labels(o)[key] ?? "\u0000"));
        else requirements.push((o) => !(key in labels(o)) || !values.has(labels(o)[key]!));
      } else {
        fail(
          `found '${op.kind === "word" || op.kind === "op" ? op.text : op.kind}', expected: in, notin, =, ==, !=, gt, lt`,
        );
      }
    }
    const sep = next();
    if (sep.kind === "end") break;
    if (sep.kind !== ",") fail("expected ',' between requirements");
  }
  return (o) => requirements.every((r) => r(o));
}

/**
 * `allowed` lists the fields this resource can be selected by, besides metadata.name and
 * metadata.namespace (which every resource supports).
 */
export function parseFieldSelector(selector: string, allowed: readonly string[]): Predicate {
  const terms = selector
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  const checks = terms.map((term): Predicate => {
    const m = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (field !== "metadata.name" && field !== "metadata.namespace" && !allowed.includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    const read = (o: KubeObject) => {
      const v = valueAt(o, field);
      return v === undefined || v === null ? "" : String(v);
    };
    return op === "!=" ? (o) => read(o) !== value : (o) => read(o) === value;
  });
  return (o) => checks.every((c) => c(o));
}
