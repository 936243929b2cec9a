import { describe, expect, it } from "vitest";
import { compileTemplate, renderTemplate, TemplateError } from "../../shared/spec/index.ts";

const data = {
  password: "p<a>ss&word",
  user: "Admin",
  "admin.password": "dotted",
  empty: "",
  padded: "  spaced out \n",
  encoded: "aGVsbG8gd29ybGQ=",
  json: '{"user":"bob","port":5432,"tags":["a","b"],"nested":{"k":"v"}}',
};

const render = (source: string, values: Record<string, unknown> = data) =>
  renderTemplate(compileTemplate(source), values);

function compileError(source: string): TemplateError {
  try {
    compileTemplate(source);
  } catch (err) {
    if (err instanceof TemplateError) return err;
    throw err;
  }
  throw new Error(`compiled: ${source}`);
}

function renderError(source: string): TemplateError {
  const t = compileTemplate(source);
  try {
    renderTemplate(t, data);
  } catch (err) {
    if (err instanceof TemplateError) return err;
    throw err;
  }
  throw new Error(`rendered: ${source}`);
}

describe("template rendering", () => {
  it.each([
    ["plain text, no actions", "just text", "just text"],
    ["field access", "{{ .password }}", "p<a>ss&word"],
    ["field in text", "user={{ .user }};", "user=Admin;"],
    ["index for dotted keys", '{{ index . "admin.password" }}', "dotted"],
    ["index of a missing key gives empty", '[{{ index . "nope" }}]', "[]"],
    ["toString", "{{ toString 42 }}/{{ .user | toString }}", "42/Admin"],
    ["b64enc", "{{ .user | b64enc }}", "QWRtaW4="],
    ["b64dec", "{{ .encoded | b64dec }}", "hello world"],
    ["b64enc then b64dec", "{{ .password | b64enc | b64dec }}", "p<a>ss&word"],
    ["upper", "{{ .user | upper }}", "ADMIN"],
    ["lower", "{{ lower .user }}", "admin"],
    ["trim", "[{{ .padded | trim }}]", "[spaced out]"],
    ["quote", "{{ .user | quote }}", '"Admin"'],
    ["quote escapes", '{{ quote "a\\"b\\n" }}', '"a\\"b\\n"'],
    ["quote of several values", '{{ quote "a" "b" }}', '"a" "b"'],
    ["default when empty", '{{ .empty | default "fallback" }}', "fallback"],
    ["default when set", '{{ .user | default "fallback" }}', "Admin"],
    ["default as a call", '{{ default "x" .empty }}', "x"],
    [
      "toJson of a string escapes HTML like Go",
      "{{ .password | toJson }}",
      '"p\\u003ca\\u003ess\\u0026word"',
    ],
    [
      "toJson sorts keys",
      "{{ .json | fromJson | toJson }}",
      '{"nested":{"k":"v"},"port":5432,"tags":["a","b"],"user":"bob"}',
    ],
    ["fromJson field", "{{ (.json | fromJson).user }}", "bob"],
    ["fromJson nested field", "{{ (fromJson .json).nested.k }}", "v"],
    [
      "fromJson number and list print like Go",
      "{{ (fromJson .json).port }} {{ (fromJson .json).tags }}",
      "5432 [a b]",
    ],
    ["fromJson map prints like Go", "{{ (fromJson .json).nested }}", "map[k:v]"],
    ["index into fromJson", '{{ index (fromJson .json) "tags" 1 }}', "b"],
    ["replace", '{{ .password | replace "&" "and" }}', "p<a>ssandword"],
    ["replace every occurrence", '{{ replace "s" "S" .password }}', "p<a>SS&word"],
    ["printf", '{{ printf "%s:%d %q %v%%" .user 5432 "x" true }}', 'Admin:5432 "x" true%'],
    ["printf in a pipeline", '{{ .user | printf "user=%s" }}', "user=Admin"],
    ["parentheses", '{{ upper (printf "%s-%s" .user "x") }}', "ADMIN-X"],
    ["raw string literal", "{{ printf `%s\\n` .user }}", "Admin\\n"],
    ["a }} inside a string", '{{ printf "}}" }}', "}}"],
    ["trim markers", "a  {{- .user -}}  b", "aAdminb"],
    ["trim markers across lines", "a\n{{-\n.user\n-}}\nb", "aAdminb"],
    ["a negative number is not a trim marker", '{{ printf "%d" -3 }}', "-3"],
    ["comments", "{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"],
    ["multi-line text", "host: db\nuser: {{ .user }}\n", "host: db\nuser: Admin\n"],
  ])("%s", (_name, source, expected) => {
    expect(render(source)).toBe(expected);
  });

  it("renders the same compiled template with different data", () => {
    const t = compileTemplate("{{ .a | upper }}");
    expect(renderTemplate(t, { a: "x" })).toBe("X");
    expect(renderTemplate(t, { a: "y" })).toBe("Y");
  });

  it("accepts Buffer values as strings", () => {
    expect(render("{{ .v | b64enc }}", { v: Buffer.from("hi") })).toBe("aGk=");
  });
});

describe("template constructs outside the subset", () => {
  it.each([
    ["{{ range .hosts }}x{{ end }}", "range", 1, 4],
    ["{{ if .a }}x{{ end }}", "if", 1, 4],
    ["{{ with .a }}x{{ end }}", "with", 1, 4],
    ['{{ define "x" }}y{{ end }}', "define", 1, 4],
    ['{{ template "x" }}', "template", 1, 4],
    ['{{ block "x" . }}y{{ end }}', "block", 1, 4],
    ["{{ else }}", "else", 1, 4],
    ["{{ $x := .a }}", "variable", 1, 4],
    ["{{ .a | $ }}", "variable", 1, 9],
    ["ok\n  {{ .a | sha256sum }}", "sha256sum", 2, 11],
    ["{{ len .a }}", "len", 1, 4],
    ["{{ 'c' }}", "character constant", 1, 4],
  ])("%s is rejected naming %s", (source, construct, line, column) => {
    const err = compileError(source);
    expect(err.construct).toBe(construct);
    expect([err.line, err.column]).toEqual([line, column]);
    expect(err.message).toContain(`"${construct}"`);
    expect(err.message).toContain(`(template line ${line}, column ${column})`);
  });

  it.each([
    ["{{ .a", 'unclosed action: missing "}}" (template line 1, column 1)'],
    ["{{ }}", "empty action (template line 1, column 1)"],
    ["{{ upper }}", 'function "upper" takes 1 argument(s), got 0 (template line 1, column 4)'],
    ['{{ .a | replace "x" }}', 'function "replace" takes 3 argument(s), got 2 (template line 1, column 9)'],
    ["{{ .a | .b }}", "only a function can follow | (template line 1, column 9)"],
    ["{{ .a .b }}", "arguments can only be given to a function (template line 1, column 7)"],
    ['{{ "abc }}', "unterminated string (template line 1, column 4)"],
    ["{{ (upper .a }}", 'unclosed "(" (template line 1, column 4)'],
  ])("%s is a syntax error", (source, message) => {
    expect(compileError(source).message).toBe(message);
  });
});

describe("template errors while rendering", () => {
  it.each([
    ["{{ .missing }}", 'missing key "missing" (template line 1, column 4)'],
    ["{{ .user.name }}", 'cannot read field "name" of a string (template line 1, column 4)'],
    ["{{ .user | b64dec }}", "b64dec: input is not valid base64 (template line 1, column 12)"],
    ["{{ .user | fromJson }}", "fromJson: input is not valid JSON (template line 1, column 12)"],
    ['{{ printf "%d" .user }}', "printf: %d needs an integer argument (template line 1, column 4)"],
    [
      '{{ printf "%s %s" .user }}',
      "printf: format has more verbs than arguments (template line 1, column 4)",
    ],
    [
      '{{ printf "%s" .user 1 }}',
      "printf: more arguments than verbs in the format (template line 1, column 4)",
    ],
    [
      '{{ printf "%x" .user }}',
      "printf: unsupported verb %x (supported: %s %v %d %q %%) (template line 1, column 4)",
    ],
    [
      "{{ (fromJson .json).nested | upper }}",
      "upper: expected a string argument, got a map (template line 1, column 30)",
    ],
  ])("%s", (source, message) => {
    expect(renderError(source).message).toBe(message);
  });

  it("never puts a value in an error message", () => {
    for (const source of ["{{ .password | b64dec }}", '{{ printf "%d" .password }}', "{{ .password.x }}"]) {
      expect(renderError(source).message).not.toContain(data.password);
    }
  });
});
