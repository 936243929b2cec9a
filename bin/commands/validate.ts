/** `pushsync validate [paths...]`: checks ESO manifests and shows what each PushSecret pushes. */
import { parseArgs } from "node:util";
import {
  describeResource,
  formatDiagnostic,
  loadManifests,
  resolvePushSecrets,
  type Diagnostic,
  type LoadResult,
  type PushSource,
  type ResolvedPush,
} from "../../shared/spec/index.ts";

const help = `pushsync validate [paths...] [--output text|json]

Checks SecretStore, ClusterSecretStore, PushSecret and ExternalSecret manifests in the given
YAML files and directories (read recursively). Default path: manifests

Prints every problem as file:line:column and exits 1, or prints a summary (resources per
kind, each PushSecret's source and destinations) and exits 0. Warnings are printed too.

Options:
  --output text|json   output format (default text)
  -h, --help           show this help`;

export default async function validate(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { output: { type: "string", default: "text" }, help: { type: "boolean", short: "h" } },
    });
  } catch (err) {
    console.error(`pushsync validate: ${(err as Error).message}\n\n${help}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(help);
    return 0;
  }
  if (values.output !== "text" && values.output !== "json") {
    console.error(`pushsync validate: --output must be text or json\n\n${help}`);
    return 2;
  }

  const result = await loadManifests(positionals.length > 0 ? positionals : ["manifests"]);
  const pushes = resolvePushSecrets(result.manifests).pushes;
  const ok = result.errors.length === 0;
  if (values.output === "json") {
    const item = ({ file, line, column, resource, field, message }: Diagnostic) => ({
      file,
      line,
      column,
      resource: resource ?? null,
      field: field ?? null,
      message,
    });
    const out = {
      ok,
      errors: result.errors.map(item),
      warnings: result.warnings.map(item),
      summary: summary(result, pushes),
    };
    console.log(JSON.stringify(out, null, 2));
  } else {
    for (const d of result.errors) console.log(formatDiagnostic(d));
    for (const d of result.warnings) console.log(`warning: ${formatDiagnostic(d)}`);
    if (ok) console.log(textSummary(result, pushes));
    else console.log(`${result.errors.length} error(s)`);
  }
  return ok ? 0 : 1;
}

function summary(result: LoadResult, pushes: ResolvedPush[]) {
  const { stores, pushSecrets, externalSecrets, files } = result.manifests;
  const counts: Record<string, number> = {
    SecretStore: 0,
    ClusterSecretStore: 0,
    PushSecret: 0,
    ExternalSecret: 0,
  };
  for (const r of [...stores, ...pushSecrets, ...externalSecrets]) counts[r.kind]! += 1;
  return {
    files: files.length,
    counts,
    pushSecrets: pushes.map((p) => ({
      id: p.id,
      source: sourceText(p.source),
      destinations: p.destinations.map((d) => `${describeResource(d.store)} (${d.provider})`),
    })),
  };
}

function textSummary(result: LoadResult, pushes: ResolvedPush[]): string {
  const s = summary(result, pushes);
  const lines = [
    `${s.files} file(s): ${Object.entries(s.counts)
      .map(([kind, n]) => `${n} ${kind}`)
      .join(", ")}`,
  ];
  for (const p of s.pushSecrets) {
    lines.push(
      `PushSecret ${p.id}`,
      `  source: ${p.source}`,
      ...p.destinations.map((d) => `  destination: ${d}`),
    );
  }
  return lines.join("\n");
}

function sourceText(source: PushSource): string {
  const paths = source.locations.map((l) => `${l.mount}/${l.path}`).join(", ");
  const from = source.kind === "externalSecret" ? `${describeResource(source.externalSecret)} via ` : "";
  return `${from}Vault ${describeResource(source.store)}: ${paths}`;
}
