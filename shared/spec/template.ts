/**
 * A subset of ESO's template engine v2 (Go text/template with sprig functions).
 *
 * Supported:
 *   - text with actions `{{ ... }}`, trim markers `{{- ` / ` -}}` and comments `{{/* ... *\/}}`
 *   - the data `.`, field access `.password`, `.a.b`, `(pipeline).field`
 *   - `index . "admin.password"` for keys that are not identifiers
 *   - pipelines `.password | b64enc | quote` (the piped value becomes the last argument)
 *   - string literals ("..." with Go escapes, `raw`), numbers, true, false, nil, parentheses
 *   - functions: toString b64enc b64dec upper lower trim quote default toJson fromJson replace printf
 *     (printf verbs: %s %v %d %q %%)
 *
 * Anything else (if, range, with, define, template, block, variables, other functions) is
 * rejected by `compileTemplate` with a TemplateError naming the construct and its position.
 *
 * As in ESO (missingkey=error), a field that does not exist is an error; `index` of a missing
 * key gives "". Where sprig hides a failure in its output (b64dec, fromJson, printf with the
 * wrong arguments), rendering throws instead. Errors name keys and functions, never values.
 */
import { PushsyncError } from "../errors/index.ts";

export class TemplateError extends PushsyncError {
  override name = "TemplateError";
  constructor(
    /** The construct or function at fault ("range", "printf", "missing key", ...). */
    readonly construct: string,
    readonly line: number,
    readonly column: number,
    detail: string,
  ) {
    super("Invalid", `${detail} (template line ${line}, column ${column})`);
  }
}

type Expr =
  | { t: "dot"; at: number }
  | { t: "field"; target: Expr | undefined; names: string[]; at: number }
  | { t: "literal"; value: unknown; at: number }
  | { t: "call"; fn: string; args: Expr[]; at: number }
  | { t: "pipe"; cmds: Expr[]; at: number };

type Part = { t: "text"; text: string } | { t: "action"; pipe: Expr };

export interface CompiledTemplate {
  readonly source: string;
  readonly parts: readonly Part[];
}

type Fn = { min: number; max: number; call: (args: unknown[], fail: (msg: string) => never) => unknown };

const functions: Record<string, Fn> = {
  toString: { min: 1, max: 1, call: ([v]: unknown[]) => goString(v) },
  b64enc: { min: 1, max: 1, call: ([v], fail) => Buffer.from(str(v, fail), "utf8").toString("base64") },
  b64dec: {
    min: 1,
    max: 1,
    call: ([v], fail) => {
      const s = str(v, fail);
      if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) fail("input is not valid base64");
      return Buffer.from(s, "base64").toString("utf8");
    },
  },
  upper: { min: 1, max: 1, call: ([v], fail) => str(v, fail).toUpperCase() },
  lower: { min: 1, max: 1, call: ([v], fail) => str(v, fail).toLowerCase() },
  trim: { min: 1, max: 1, call: ([v], fail) => str(v, fail).trim() },
  quote: {
    min: 0,
    max: Infinity,
    call: (args) =>
      args
        .filter((a) => a !== null && a !== undefined)
        .map((a) => goQuote(goString(a)))
        .join(" "),
  },
  default: { min: 1, max: 2, call: ([d, given]) => (isEmpty(given) ? d : given) },
  toJson: { min: 1, max: 1, call: ([v]) => goJson(v) },
  fromJson: {
    min: 1,
    max: 1,
    call: ([v], fail) => {
      try {
        return JSON.parse(str(v, fail)) as unknown;
      } catch {
        return fail("input is not valid JSON");
      }
    },
  },
  replace: {
    min: 3,
    max: 3,
    call: ([from, to, s], fail) => str(s, fail).split(str(from, fail)).join(str(to, fail)),
  },
  printf: { min: 1, max: Infinity, call: ([format, ...args], fail) => printf(str(format, fail), args, fail) },
  index: { min: 1, max: Infinity, call: ([coll, ...keys], fail) => index(coll, keys, fail) },
};

const keywords = new Set([
  "if",
  "else",
  "end",
  "range",
  "with",
  "define",
  "template",
  "block",
  "break",
  "continue",
]);

export function compileTemplate(source: string): CompiledTemplate {
  return { source, parts: new Parser(source).parse() };
}

export function renderTemplate(t: CompiledTemplate, data: Record<string, unknown>): string {
  const ev = new Evaluator(t.source, data);
  return t.parts.map((p) => (p.t === "text" ? p.text : goString(ev.eval(p.pipe, undefined)))).join("");
}

// --- parsing -----------------------------------------------------------------------------------

type Token =
  | { k: "field"; names: string[]; at: number; adjacent: boolean }
  | { k: "dot"; at: number }
  | { k: "ident"; name: string; at: number }
  | { k: "literal"; value: unknown; at: number }
  | { k: "pipe" | "(" | ")"; at: number };

class Parser {
  private tokens: Token[] = [];
  private pos = 0;

  constructor(private readonly src: string) {}

  private fail(construct: string, at: number, detail: string): never {
    const { line, column } = position(this.src, at);
    throw new TemplateError(construct, line, column, detail);
  }

  parse(): Part[] {
    const parts: Part[] = [];
    let i = 0;
    let trimNext = false;
    while (i <= this.src.length) {
      const open = this.src.indexOf("{{", i);
      let text = this.src.slice(i, open === -1 ? undefined : open);
      if (trimNext) text = text.replace(/^\s+/, "");
      let start = open + 2;
      if (open !== -1 && /^-\s/.test(this.src.slice(start, start + 2))) {
        text = text.replace(/\s+$/, "");
        start += 1;
      }
      if (text) parts.push({ t: "text", text });
      if (open === -1) break;
      const action = this.lexAction(open, start);
      trimNext = action.trim;
      i = action.next;
      if (action.tokens.length === 0) {
        if (!action.comment) this.fail("empty action", open, "empty action");
        continue;
      }
      this.tokens = action.tokens;
      this.pos = 0;
      const pipe = this.pipeline(start);
      const extra = this.tokens[this.pos];
      if (extra) this.fail(")", extra.at, 'unexpected ")"');
      parts.push({ t: "action", pipe });
    }
    return parts;
  }

  private pipeline(at: number): Expr {
    const cmds: Expr[] = [this.command()];
    while (this.tokens[this.pos]?.k === "pipe") {
      this.pos++;
      cmds.push(this.command());
    }
    // The piped value is the last argument of the next command: check arities with it counted.
    cmds.forEach((cmd, i) => {
      if (i > 0 && cmd.t !== "call") this.fail("pipeline", cmd.at, "only a function can follow |");
      if (cmd.t === "call") this.checkArity(cmd.fn, cmd.args.length + (i > 0 ? 1 : 0), cmd.at);
    });
    return cmds.length === 1 ? cmds[0]! : { t: "pipe", cmds, at };
  }

  private command(): Expr {
    const first = this.tokens[this.pos];
    if (!first || first.k === "pipe" || first.k === ")") {
      return this.fail("pipeline", first?.at ?? this.src.length, "missing command in pipeline");
    }
    if (first.k === "ident") {
      this.pos++;
      const args: Expr[] = [];
      for (let t = this.tokens[this.pos]; t && t.k !== "pipe" && t.k !== ")"; t = this.tokens[this.pos]) {
        args.push(this.operand());
      }
      return { t: "call", fn: first.name, args, at: first.at };
    }
    const expr = this.operand();
    const next = this.tokens[this.pos];
    if (next && next.k !== "pipe" && next.k !== ")") {
      this.fail("arguments", next.at, "arguments can only be given to a function");
    }
    return expr;
  }

  private operand(): Expr {
    const t = this.tokens[this.pos++]!;
    let expr: Expr;
    switch (t.k) {
      case "dot":
        expr = { t: "dot", at: t.at };
        break;
      case "field":
        expr = { t: "field", target: undefined, names: t.names, at: t.at };
        break;
      case "literal":
        expr = { t: "literal", value: t.value, at: t.at };
        break;
      case "ident":
        // A function used as an argument is called without arguments, as in Go.
        this.checkArity(t.name, 0, t.at);
        expr = { t: "call", fn: t.name, args: [], at: t.at };
        break;
      case "(": {
        expr = this.pipeline(t.at);
        if (this.tokens[this.pos]?.k !== ")") this.fail("(", t.at, 'unclosed "("');
        this.pos++;
        break;
      }
      default:
        return this.fail(t.k === "pipe" ? "|" : ")", t.at, `unexpected "${t.k === "pipe" ? "|" : ")"}"`);
    }
    const after = this.tokens[this.pos];
    if (after?.k === "field" && after.adjacent) {
      this.pos++;
      expr = { t: "field", target: expr, names: after.names, at: after.at };
    }
    return expr;
  }

  private checkArity(fn: string, argc: number, at: number): void {
    const f = functions[fn];
    if (!f) return; // unknown names were rejected by the lexer
    if (argc < f.min || argc > f.max) {
      const want =
        f.max === Infinity ? `at least ${f.min}` : f.min === f.max ? `${f.min}` : `${f.min} or ${f.max}`;
      this.fail(fn, at, `function "${fn}" takes ${want} argument(s), got ${argc}`);
    }
  }

  /** Tokens of the action opened at `open`, up to its "}}" (or " -}}", which trims what follows). */
  private lexAction(
    open: number,
    start: number,
  ): { tokens: Token[]; next: number; trim: boolean; comment: boolean } {
    const src = this.src;
    const out: Token[] = [];
    let i = start;
    let comment = false;
    if (/^\s*\/\*/.test(src.slice(start, start + 3))) {
      const endComment = src.indexOf("*/", start);
      if (endComment === -1) this.fail("comment", start, "unclosed comment");
      i = endComment + 2;
      comment = true;
    }
    for (;;) {
      if (i >= src.length) return this.fail("unclosed action", open, 'unclosed action: missing "}}"');
      if (src.startsWith("}}", i)) return { tokens: out, next: i + 2, trim: false, comment };
      const c = src[i]!;
      if (/\s/.test(c) && src.startsWith("-}}", i + 1))
        return { tokens: out, next: i + 4, trim: true, comment };
      if (comment && !/\s/.test(c)) this.fail("comment", i, "a comment must be alone in its action");
      const adjacent = i > start && src[i - 1] === ")";
      if (/\s/.test(c)) {
        i++;
      } else if (c === "|") {
        out.push({ k: "pipe", at: i++ });
      } else if (c === "(" || c === ")") {
        out.push({ k: c, at: i++ });
      } else if (c === "$" || c === ":" || c === "=") {
        this.fail("variable", i, 'unsupported template construct "variable"');
      } else if (c === "'") {
        this.fail("character constant", i, 'unsupported template construct "character constant"');
      } else if (c === '"' || c === "`") {
        const re = c === '"' ? /"(?:[^"\\\n]|\\.)*"/y : /`[^`]*`/y;
        re.lastIndex = i;
        const lit = re.exec(src)?.[0];
        if (!lit) this.fail("string", i, "unterminated string");
        const bad = (): never => this.fail("string", i, "invalid escape in string");
        out.push({ k: "literal", value: c === '"' ? unquoteGo(lit, bad) : lit.slice(1, -1), at: i });
        i += lit.length;
      } else if (c === ".") {
        const re = /(?:\.[A-Za-z_][A-Za-z0-9_]*)+/y;
        re.lastIndex = i;
        const m = re.exec(src);
        if (m) {
          out.push({ k: "field", names: m[0].slice(1).split("."), at: i, adjacent });
          i += m[0].length;
        } else {
          out.push({ k: "dot", at: i++ });
        }
      } else if (/[0-9+-]/.test(c)) {
        const re = /[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_.])/y;
        re.lastIndex = i;
        const m = re.exec(src);
        if (!m) this.fail("number", i, "invalid number");
        out.push({ k: "literal", value: Number(m[0]), at: i });
        i += m[0].length;
      } else if (/[A-Za-z_]/.test(c)) {
        const re = /[A-Za-z_][A-Za-z0-9_]*/y;
        re.lastIndex = i;
        const name = re.exec(src)![0];
        if (name === "true" || name === "false") out.push({ k: "literal", value: name === "true", at: i });
        else if (name === "nil") out.push({ k: "literal", value: null, at: i });
        else if (keywords.has(name)) this.fail(name, i, `unsupported template construct "${name}"`);
        else if (!Object.hasOwn(functions, name)) {
          this.fail(
            name,
            i,
            `unsupported function "${name}" (supported: ${Object.keys(functions).join(", ")})`,
          );
        } else out.push({ k: "ident", name, at: i });
        i += name.length;
      } else {
        this.fail(c, i, `unexpected character "${c}"`);
      }
    }
  }
}

// --- evaluation --------------------------------------------------------------------------------

class Evaluator {
  constructor(
    private readonly src: string,
    private readonly data: Record<string, unknown>,
  ) {}

  private fail(construct: string, at: number, detail: string): never {
    const { line, column } = position(this.src, at);
    throw new TemplateError(construct, line, column, detail);
  }

  eval(e: Expr, piped: { value: unknown } | undefined): unknown {
    switch (e.t) {
      case "dot":
        return this.data;
      case "literal":
        return e.value;
      case "field": {
        let v = e.target ? this.eval(e.target, undefined) : this.data;
        for (const name of e.names) {
          if (!isRecord(v)) this.fail("field", e.at, `cannot read field "${name}" of ${kindOf(v)}`);
          if (!Object.hasOwn(v, name)) this.fail("missing key", e.at, `missing key "${name}"`);
          v = v[name];
        }
        return v;
      }
      case "pipe": {
        let carried: { value: unknown } | undefined;
        for (const cmd of e.cmds) carried = { value: this.eval(cmd, carried) };
        return carried?.value;
      }
      case "call": {
        const args = e.args.map((a) => this.eval(a, undefined));
        if (piped) args.push(piped.value);
        const fn = functions[e.fn]!;
        return fn.call(args, (msg) => this.fail(e.fn, e.at, `${e.fn}: ${msg}`));
      }
    }
  }
}

// --- Go value semantics ------------------------------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function kindOf(v: unknown): string {
  if (v === null || v === undefined) return "nil";
  if (Array.isArray(v)) return "a list";
  if (isRecord(v)) return "a map";
  return `a ${typeof v}`;
}

function str(v: unknown, fail: (msg: string) => never): string {
  if (typeof v === "string") return v;
  if (Buffer.isBuffer(v)) return v.toString("utf8");
  return fail(`expected a string argument, got ${kindOf(v)}`);
}

/** How Go's fmt prints a value with %v (and text/template prints an action's result). */
function goString(v: unknown): string {
  if (typeof v === "string") return v;
  if (Buffer.isBuffer(v)) return v.toString("utf8");
  if (v === null || v === undefined) return "<nil>";
  if (typeof v === "number") return goNumber(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(" ")}]`;
  if (isRecord(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goString(v[k])}`).join(" ")}]`;
  }
  return String(v);
}

function goNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e21)) return n.toExponential().replace(/e([+-])(\d)$/, "e$10$2");
  return String(n);
}

/** Go's %q: a double-quoted string with Go escapes. */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + cp.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + '"';
}

/** Go's json.Marshal: map keys sorted, <, > and & escaped. */
function goJson(v: unknown): string {
  const sortKeys = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sortKeys);
    if (Buffer.isBuffer(x)) return x.toString("base64");
    if (isRecord(x))
      return Object.fromEntries(
        Object.keys(x)
          .sort()
          .map((k) => [k, sortKeys(x[k])]),
      );
    return x;
  };
  return (JSON.stringify(sortKeys(v)) ?? "null")
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** sprig's notion of an empty value, used by `default`. */
function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === "" || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isRecord(v)) return Object.keys(v).length === 0;
  return false;
}

function index(coll: unknown, keys: unknown[], fail: (msg: string) => never): unknown {
  let v = coll;
  for (const key of keys) {
    if (Array.isArray(v)) {
      if (typeof key !== "number" || !Number.isInteger(key)) fail("a list index must be an integer");
      if (key < 0 || key >= v.length) fail(`index ${key} out of range`);
      v = v[key];
    } else if (isRecord(v)) {
      if (typeof key !== "string") fail("a map key must be a string");
      v = Object.hasOwn(v, key) ? v[key] : "";
    } else {
      fail(`cannot index ${kindOf(v)}`);
    }
  }
  return v;
}

function printf(format: string, args: unknown[], fail: (msg: string) => never): string {
  let next = 0;
  const out = format.replace(/%(.)/gs, (_m, verb: string) => {
    if (verb === "%") return "%";
    if (!"svdq".includes(verb)) fail(`unsupported verb %${verb} (supported: %s %v %d %q %%)`);
    if (next >= args.length) fail("format has more verbs than arguments");
    const arg = args[next++];
    if (verb === "d") {
      if (typeof arg !== "number" || !Number.isInteger(arg)) fail("%d needs an integer argument");
      return String(arg);
    }
    return verb === "q" ? goQuote(goString(arg)) : goString(arg);
  });
  if (next < args.length) fail("more arguments than verbs in the format");
  return out;
}

/** Interprets a Go double-quoted string literal. */
function unquoteGo(lit: string, fail: () => never): string {
  const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", a: "\x07", b: "\b", f: "\f", v: "\v" };
  return lit
    .slice(1, -1)
    .replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/g, (_m, e: string) => {
      if (e === "\\" || e === '"') return e;
      if (simple[e]) return simple[e];
      if (/^[xuU]/.test(e)) return String.fromCodePoint(parseInt(e.slice(1), 16));
      if (/^[0-7]{3}$/.test(e)) return String.fromCharCode(parseInt(e, 8));
      return fail();
    });
}

function position(src: string, offset: number): { line: number; column: number } {
  const before = src.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}
