/**
 * From resolved PushSecrets (shared/spec resolvePushSecrets) to the engine's flat entry list:
 * one PushEntry per (PushSecret, destination store, data entry).
 *
 * Store names: an entry's `store` is the destination's id ("namespace/name" for a SecretStore,
 * "name" for a ClusterSecretStore) and `source.vaultStore` the Vault store's id; the engine's
 * provider map and Vault lookup use the same ids.
 *
 * Sources: a Vault store source reads every key of one Vault secret. An ExternalSecret source
 * reads its `data[].remoteRef`s (one key each, `property` or the whole secret as JSON) and its
 * `dataFrom[].extract`s (every key), then applies the ExternalSecret's own template before the
 * PushSecret's. ExternalSecret features that would change values in ways the engine does not
 * reproduce are reported as errors naming the field, never silently ignored: a pinned `version`,
 * `decodingStrategy` other than None, `metadataPolicy: Fetch`, and for extracts a `property`,
 * `conversionStrategy: Unicode` or `rewrite`.
 */
import { resourceId } from "../spec/common.ts";
import type { ExternalSecretRemoteRef, ResolvedPush } from "../spec/index.ts";
import { compileSecretTemplate, type CompiledSecretTemplate } from "../spec/secret-template.ts";
import { renderTemplate } from "../spec/template.ts";
import { canonicalJson } from "./fingerprint.ts";
import type { DataTemplate, PushEntry, SourcePart } from "./types.ts";

export interface EntriesFromManifests {
  entries: PushEntry[];
  /** One message per unsupported feature, naming the PushSecret, the ExternalSecret and the field. */
  errors: string[];
}

function applyTemplate(t: CompiledSecretTemplate, data: Record<string, string>): Record<string, string> {
  const keys = Object.entries(t.data);
  if (keys.length === 0) return data;
  const rendered = Object.fromEntries(keys.map(([key, compiled]) => [key, renderTemplate(compiled, data)]));
  return t.mergePolicy === "Merge" ? { ...data, ...rendered } : rendered;
}

/** The text that identifies a compiled template block in the fingerprint. */
const templateText = (t: CompiledSecretTemplate): unknown => ({
  mergePolicy: t.mergePolicy,
  data: Object.fromEntries(Object.entries(t.data).map(([k, c]) => [k, c.source])),
});

function dataTemplate(templates: CompiledSecretTemplate[]): DataTemplate | undefined {
  if (templates.length === 0) return undefined;
  return {
    text: canonicalJson(templates.map(templateText)),
    render: (data) => templates.reduce((d, t) => applyTemplate(t, d), data),
  };
}

function unsupported(ref: ExternalSecretRemoteRef, extract: boolean): string[] {
  const out: string[] = [];
  if (ref.version !== undefined) out.push("version (pushsync pushes the current version)");
  if (ref.decodingStrategy !== "None") out.push(`decodingStrategy ${ref.decodingStrategy}`);
  if (ref.metadataPolicy === "Fetch") out.push("metadataPolicy Fetch");
  if (extract && ref.property !== undefined) out.push("property");
  if (extract && ref.conversionStrategy === "Unicode") out.push("conversionStrategy Unicode");
  return out;
}

/** Source parts and templates of one push, or the errors that prevent using it. */
function sourceOf(push: ResolvedPush): {
  parts: SourcePart[];
  templates: CompiledSecretTemplate[];
  errors: string[];
} {
  const { source } = push;
  const templates = push.template ? [push.template] : [];
  if (source.kind === "vault") return { parts: [{ location: source.location }], templates, errors: [] };

  const es = `ExternalSecret ${resourceId(source.externalSecret)}`;
  const errors: string[] = [];
  const parts: SourcePart[] = [];
  source.extracts.forEach((x, i) => {
    const problems = unsupported(x.ref, true);
    if (x.rewrite?.length) problems.push("rewrite");
    for (const p of problems)
      errors.push(`${es}: spec.dataFrom[${i}].extract: ${p} is not supported in a push source`);
    parts.push({ location: x.location });
  });
  for (const [secretKey, { location, ref }] of Object.entries(source.keys)) {
    for (const p of unsupported(ref, false)) {
      errors.push(`${es}: data "${secretKey}" remoteRef: ${p} is not supported in a push source`);
    }
    parts.push({ location, secretKey, ...(ref.property !== undefined ? { property: ref.property } : {}) });
  }
  const own = source.externalSecret.spec.target.template;
  return {
    parts,
    templates: own ? [compileSecretTemplate(own), ...templates] : templates,
    errors: errors.map((e) => `PushSecret ${push.id}: source ${e}`),
  };
}

export function entriesFromPushes(pushes: ResolvedPush[]): EntriesFromManifests {
  const entries: PushEntry[] = [];
  const errors: string[] = [];
  for (const push of pushes) {
    const { parts, templates, errors: problems } = sourceOf(push);
    if (problems.length > 0) {
      errors.push(...problems);
      continue;
    }
    const template = dataTemplate(templates);
    for (const dest of push.destinations) {
      for (const d of push.data) {
        entries.push({
          pushSecret: push.id,
          store: dest.id,
          remoteKey: d.remoteKey,
          ...(d.property !== undefined ? { property: d.property } : {}),
          source: { vaultStore: resourceId(push.source.store), parts },
          ...(d.secretKey !== undefined ? { secretKey: d.secretKey } : {}),
          ...(template ? { template } : {}),
          conversionStrategy: d.conversionStrategy,
          metadata: d.metadata[dest.id] ?? {},
          updatePolicy: push.updatePolicy,
          deletionPolicy: push.deletionPolicy,
          adopt: push.adopt,
        });
      }
    }
  }
  return { entries, errors };
}
