/**
 * Packages one platform's functions for upload (infra/gcp/package.ts, infra/azure/package.ts):
 *
 *   <out>/index.js      functions/<platform>/index.ts bundled by esbuild: CommonJS, Node 20, every
 *                       dependency inside except the platform's function framework, which its
 *                       invoker loads too and must share with the code (one registry of functions)
 *   <out>/package.json  main index.js, that framework as the only dependency, installed by the
 *                       platform's build (Cloud Build, Oryx)
 *   <out>/manifests/    the ESO manifests (PUSHSYNC_MANIFESTS_DIR defaults to "manifests")
 *   extra files         e.g. Azure's host.json
 */
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";

export interface PackageOptions {
  /** The entry module, e.g. functions/gcp/index.ts. */
  entry: string;
  /** Emptied first. */
  outDir: string;
  manifestsDir: string;
  /** The framework package left external, e.g. "@google-cloud/functions-framework". */
  framework: string;
  /** package.json name. */
  name: string;
  /** Extra files: path inside outDir → content. */
  files?: Record<string, string>;
}

const repoRoot = resolve(import.meta.dirname, "..");

export async function packageFunctions(options: PackageOptions): Promise<{ bundleBytes: number }> {
  const root = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
    engines: Record<string, string>;
  };
  const version = root.dependencies[options.framework];
  if (!version) throw new Error(`${options.framework} is not a dependency in package.json`);
  if (!statSync(options.manifestsDir, { throwIfNoEntry: false })?.isDirectory())
    throw new Error(`${options.manifestsDir}: not a directory of manifests`);

  rmSync(options.outDir, { recursive: true, force: true });
  mkdirSync(options.outDir, { recursive: true });
  const bundle = join(options.outDir, "index.js");
  await build({
    entryPoints: [resolve(repoRoot, options.entry)],
    outfile: bundle,
    bundle: true,
    platform: "node",
    target: "node20",
    // Bundled dependencies rely on require() and __dirname, which CommonJS provides as is.
    format: "cjs",
    mainFields: ["module", "main"],
    external: [options.framework],
    // Whitespace and syntax only: function names stay readable in stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: "warning",
  });
  const pkg = {
    name: options.name,
    private: true,
    main: "index.js",
    engines: root.engines,
    dependencies: { [options.framework]: version },
  };
  writeFileSync(join(options.outDir, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
  cpSync(options.manifestsDir, join(options.outDir, "manifests"), { recursive: true });
  for (const [file, content] of Object.entries(options.files ?? {}))
    writeFileSync(join(options.outDir, file), content);
  return { bundleBytes: statSync(bundle).size };
}

/** The command line both package.ts scripts share: `<script> OUT_DIR [MANIFESTS_DIR]`. */
export function packageArgs(argv: string[], usage: string): { outDir: string; manifestsDir: string } {
  const [outDir, manifestsDir = "manifests"] = argv;
  if (!outDir || argv.length > 2) {
    console.error(usage);
    process.exit(2);
  }
  return { outDir, manifestsDir };
}
