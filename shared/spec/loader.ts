/**
 * Reads ESO manifests: multi-document YAML files, from directories (recursively, in sorted
 * order, skipping names that start with ".") and files.
 *
 * Every document is checked on its own, so one bad document never hides problems in the
 * others; then the set is checked as a whole: duplicate names, references to stores that do
 * not exist (a SecretStore is looked up in the namespace of the resource using it), Vault keys,
 * and each PushSecret's source and destinations (resolve.ts). Resources with problems are
 * left out of the returned set; unknown kinds are skipped with a warning.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { isMap, isScalar, LineCounter, parseAllDocuments, type Document } from "yaml";
import { describeResource, metadataSchema, resourceId } from "./common.ts";
import { resourceDiagnostic, type Diagnostic } from "./diagnostics.ts";
import {
  checkExternalSecret,
  externalSecretApiVersions,
  externalSecretSpecSchema,
  type ExternalSecret,
} from "./external-secret.ts";
import {
  checkPushSecret,
  pushSecretApiVersions,
  pushSecretSpecSchema,
  type PushSecret,
} from "./push-secret.ts";
import { findStores, resolvePushSecrets, storeNotFound, usableFrom } from "./resolve.ts";
import { DocumentChecker, json, obj, required, str, type Schema } from "./schema.ts";
import {
  checkSecretStore,
  providerKindOf,
  secretStoreApiVersions,
  secretStoreSpecSchema,
  type SecretStore,
} from "./secret-store.ts";
import { normalizeVaultPath } from "./vault-path.ts";

export interface ManifestSet {
  /** SecretStores and ClusterSecretStores. */
  stores: SecretStore[];
  pushSecrets: PushSecret[];
  externalSecrets: ExternalSecret[];
  /** The files read, in order. */
  files: string[];
}

export interface LoadResult {
  manifests: ManifestSet;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

type AnyResource = SecretStore | PushSecret | ExternalSecret;
type ErrorAt = (field: string, message: string) => void;

interface KindDefinition {
  apiVersions: string[];
  namespaced: boolean;
  spec(apiVersion: string): Schema;
  check(resource: AnyResource, error: ErrorAt): void;
}

const kinds: Record<AnyResource["kind"], KindDefinition> = {
  SecretStore: {
    apiVersions: secretStoreApiVersions,
    namespaced: true,
    spec: () => secretStoreSpecSchema,
    check: (r, e) => checkSecretStore(r as SecretStore, e),
  },
  ClusterSecretStore: {
    apiVersions: secretStoreApiVersions,
    namespaced: false,
    spec: () => secretStoreSpecSchema,
    check: (r, e) => checkSecretStore(r as SecretStore, e),
  },
  PushSecret: {
    apiVersions: pushSecretApiVersions,
    namespaced: true,
    spec: () => pushSecretSpecSchema,
    check: (r, e) => checkPushSecret(r as PushSecret, e),
  },
  ExternalSecret: {
    apiVersions: externalSecretApiVersions,
    namespaced: true,
    spec: externalSecretSpecSchema,
    check: (r, e) => checkExternalSecret(r as ExternalSecret, e),
  },
};

export async function loadManifests(paths: string[]): Promise<LoadResult> {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const files = await listFiles(paths, errors);
  const resources: AnyResource[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      errors.push({
        file,
        line: 0,
        column: 0,
        message: `cannot read: ${(err as NodeJS.ErrnoException).code}`,
      });
      continue;
    }
    resources.push(...readDocuments(file, text, errors, warnings));
  }

  const manifests: ManifestSet = { stores: [], pushSecrets: [], externalSecrets: [], files };
  for (const r of withoutDuplicates(resources, errors)) {
    if (r.kind === "PushSecret") manifests.pushSecrets.push(r);
    else if (r.kind === "ExternalSecret") manifests.externalSecrets.push(r);
    else manifests.stores.push(r);
  }
  manifests.externalSecrets = manifests.externalSecrets.filter((es) => {
    const before = errors.length;
    checkExternalRefs(manifests, es, (field, message) => errors.push(resourceDiagnostic(es, field, message)));
    return errors.length === before;
  });
  const resolved = resolvePushSecrets(manifests);
  errors.push(...resolved.errors);
  const ok = new Set(resolved.pushes.map((p) => p.id));
  manifests.pushSecrets = manifests.pushSecrets.filter((ps) => ok.has(resourceId(ps)));
  // In file order, then by position (a stable sort keeps the order of errors at one place).
  const byPlace = (a: Diagnostic, b: Diagnostic) =>
    files.indexOf(a.file) - files.indexOf(b.file) || a.line - b.line || a.column - b.column;
  return { manifests, errors: errors.sort(byPlace), warnings: warnings.sort(byPlace) };
}

/**
 * Checks resources given as text (YAML, or JSON such as objects read from a cluster) as
 * `loadManifests` checks the documents of one file, without the checks across resources.
 */
export function readResources(
  origin: string,
  text: string,
): { resources: AnyResource[]; errors: Diagnostic[]; warnings: Diagnostic[] } {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  return { resources: readDocuments(origin, text, errors, warnings), errors, warnings };
}

// --- files and documents -----------------------------------------------------------------------

async function listFiles(paths: string[], errors: Diagnostic[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (path: string, explicit: boolean): Promise<void> => {
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      errors.push({
        file: path,
        line: 0,
        column: 0,
        message: code === "ENOENT" ? "no such file or directory" : `cannot read: ${code}`,
      });
      return;
    }
    if (info.isDirectory()) {
      const entries = (await readdir(path)).filter((e) => !e.startsWith(".")).sort();
      for (const e of entries) await walk(join(path, e), false);
    } else if (explicit || /\.ya?ml$/.test(path)) {
      if (!out.includes(path)) out.push(path);
    }
  };
  for (const p of paths) await walk(p, true);
  return out;
}

function readDocuments(
  file: string,
  text: string,
  errors: Diagnostic[],
  warnings: Diagnostic[],
): AnyResource[] {
  const lines = new LineCounter();
  // YAML 1.1, as Kubernetes reads manifests: "yes" and "on" are booleans, "<<" merges mappings.
  // Timestamps stay strings (Kubernetes turns them back into their RFC 3339 text).
  const docs = parseAllDocuments(text, {
    lineCounter: lines,
    version: "1.1",
    customTags: (tags) =>
      tags.filter((t) => typeof t === "string" || t.tag !== "tag:yaml.org,2002:timestamp"),
    prettyErrors: false,
  });
  const out: AnyResource[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const { line, col } = lines.linePos(err.pos[0]);
        errors.push({ file, line, column: col, message: `YAML syntax error: ${err.message.split("\n")[0]}` });
      }
      continue;
    }
    const r = readResource(file, doc, lines, errors, warnings);
    if (r) out.push(r);
  }
  return out;
}

function readResource(
  file: string,
  doc: Document,
  lines: LineCounter,
  errors: Diagnostic[],
  warnings: Diagnostic[],
): AnyResource | undefined {
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return undefined; // empty document
  const start = lines.linePos(root.range?.[0] ?? 0);
  const here = { file, line: start.line, column: start.col };
  if (!isMap(root)) {
    errors.push({ ...here, message: "expected a mapping (a Kubernetes resource)" });
    return undefined;
  }
  const scalar = (key: string): string | undefined => {
    const v = root.get(key, true);
    return isScalar(v) && typeof v.value === "string" ? v.value : undefined;
  };
  const kind = scalar("kind");
  const apiVersion = scalar("apiVersion");
  const meta = root.get("metadata");
  const name = isMap(meta) && typeof meta.get("name") === "string" ? (meta.get("name") as string) : undefined;
  const def =
    kind !== undefined && Object.hasOwn(kinds, kind) ? kinds[kind as AnyResource["kind"]] : undefined;
  if (!def) {
    const what = kind
      ? `${kind}${name ? ` ${name}` : ""}${apiVersion ? ` (${apiVersion})` : ""}`
      : "a document without a kind";
    warnings.push({ ...here, message: `skipped ${what}: not handled by pushsync` });
    return undefined;
  }

  const rawNamespace = isMap(meta) ? meta.get("namespace") : undefined;
  const namespace = def.namespaced ? (typeof rawNamespace === "string" ? rawNamespace : "default") : "";
  const label = `${kind} ${name ? (namespace ? `${namespace}/${name}` : name) : "<no name>"}`;
  const before = errors.length;
  const checker = new DocumentChecker(doc, lines, (field, at, message) =>
    errors.push({ file, line: at.line, column: at.column, resource: label, field, message }),
  );
  const schema = obj({
    apiVersion: required(str({ enum: def.apiVersions })),
    kind: required(str()),
    metadata: required(metadataSchema),
    spec: required(def.spec(apiVersion ?? "")),
    status: json(),
  });
  const checked = checker.check(root, schema, "") as
    (Omit<AnyResource, "source"> & { status?: unknown }) | undefined;
  if (!checked || errors.length > before) return undefined;
  const { status: _status, ...value } = checked;

  if (!def.namespaced && rawNamespace !== undefined) {
    warnings.push({
      ...here,
      resource: label,
      field: "metadata.namespace",
      message: `ignored: ${kind} is cluster-scoped`,
    });
  }
  const resource = {
    ...value,
    metadata: {
      ...value.metadata,
      labels: value.metadata.labels ?? {},
      annotations: value.metadata.annotations ?? {},
      namespace,
    },
    source: { ...here, fields: checker.positions },
  } as AnyResource;
  if (resource.kind === "SecretStore" || resource.kind === "ClusterSecretStore") {
    resource.providerKind = providerKindOf(resource.spec)!;
  }
  def.check(resource, (field, message) => errors.push(resourceDiagnostic(resource, field, message)));
  return errors.length > before ? undefined : resource;
}

// --- the set as a whole ------------------------------------------------------------------------

function withoutDuplicates(resources: AnyResource[], errors: Diagnostic[]): AnyResource[] {
  const seen = new Map<string, AnyResource>();
  return resources.filter((r) => {
    const key = `${r.kind}/${resourceId(r)}`;
    const first = seen.get(key);
    if (first) {
      const at = `${first.source.file}:${first.source.line}:${first.source.column}`;
      errors.push(
        resourceDiagnostic(r, "metadata.name", `duplicate ${describeResource(r)} (first defined at ${at})`),
      );
      return false;
    }
    seen.set(key, r);
    return true;
  });
}

function checkExternalRefs(set: ManifestSet, es: ExternalSecret, error: ErrorAt): void {
  const ref = es.spec.secretStoreRef;
  const store = findStores(set, ref, es.metadata.namespace)[0];
  if (!store) return error("spec.secretStoreRef.name", storeNotFound(set, ref, es.metadata.namespace));
  if (!usableFrom(store, es.metadata.namespace)) {
    return error(
      "spec.secretStoreRef.name",
      `ClusterSecretStore "${ref.name}" does not allow namespace ${es.metadata.namespace}`,
    );
  }
  if (store.providerKind !== "vault") return;
  const checkKey = (field: string, remote: { key: string; version?: string }) => {
    try {
      normalizeVaultPath(store, remote.key);
    } catch (err) {
      error(`${field}.key`, (err as Error).message);
    }
    if (remote.version !== undefined && !/^[1-9][0-9]*$/.test(remote.version)) {
      error(`${field}.version`, "must be a Vault KV version number");
    }
  };
  es.spec.data?.forEach((d, i) => checkKey(`spec.data[${i}].remoteRef`, d.remoteRef));
  es.spec.dataFrom?.forEach((d, i) => d.extract && checkKey(`spec.dataFrom[${i}].extract`, d.extract));
}
