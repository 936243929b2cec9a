/**
 * Packages the Azure Functions app (Node.js v4 programming model) for a zip deployment:
 *
 *   npx tsx infra/azure/package.ts OUT_DIR [MANIFESTS_DIR]
 *   (cd OUT_DIR && zip -qr ../pushsync-azure.zip .)
 *
 * OUT_DIR holds what infra/functions-package.ts describes, plus host.json (queue retries,
 * extension bundle) from this directory.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageArgs, packageFunctions } from "../functions-package.ts";

const { outDir, manifestsDir } = packageArgs(
  process.argv.slice(2),
  "usage: npx tsx infra/azure/package.ts OUT_DIR [MANIFESTS_DIR (default manifests)]",
);
const { bundleBytes } = await packageFunctions({
  entry: "functions/azure/index.ts",
  outDir,
  manifestsDir,
  framework: "@azure/functions",
  name: "pushsync-azure-functions",
  files: { "host.json": readFileSync(join(import.meta.dirname, "host.json"), "utf8") },
});
console.log(`${outDir}: index.js (${bundleBytes} bytes), package.json, host.json, manifests/`);
