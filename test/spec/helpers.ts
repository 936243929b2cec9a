import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatDiagnostic, loadManifests, type LoadResult } from "../../shared/spec/index.ts";

export const fixtures = join(import.meta.dirname, "..", "fixtures");
export const storesFixture = join(fixtures, "manifests", "stores.yaml");

const dirs: string[] = [];

/**
 * Loads `yaml` written to a file named test.yaml (after the fixture stores unless `stores` is
 * false). Diagnostics are formatted with the file shown as "test.yaml".
 */
export async function load(
  yaml: string,
  options: { stores?: boolean } = {},
): Promise<LoadResult & { errorLines: string[]; warningLines: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), "pushsync-spec-"));
  dirs.push(dir);
  const file = join(dir, "test.yaml");
  await writeFile(file, yaml);
  const result = await loadManifests(options.stores === false ? [file] : [storesFixture, file]);
  const lines = (ds: LoadResult["errors"]) =>
    ds.map((d) => formatDiagnostic(d).split(file).join("test.yaml"));
  return { ...result, errorLines: lines(result.errors), warningLines: lines(result.warnings) };
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** A PushSecret from the Vault ClusterSecretStore to the AWS store, with `extra` spliced into spec. */
export function pushSecret(name: string, extra = "", data = DEFAULT_DATA): string {
  return `apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: ${name}
spec:
  secretStoreRefs:
    - name: vault-secretstore
      kind: ClusterSecretStore
    - name: aws-secrets-manager
  selector:
    secret:
      name: prod/app
${extra}${data}`;
}

const DEFAULT_DATA = `  data:
    - match:
        secretKey: password
        remoteRef:
          remoteKey: /prod/app/password
`;
