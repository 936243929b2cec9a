/**
 * Packages the Cloud Functions for `gcloud functions deploy --source`:
 *
 *   npx tsx infra/gcp/package.ts OUT_DIR [MANIFESTS_DIR]
 *
 * See infra/functions-package.ts for what OUT_DIR holds.
 */
import { packageArgs, packageFunctions } from "../functions-package.ts";

const { outDir, manifestsDir } = packageArgs(
  process.argv.slice(2),
  "usage: npx tsx infra/gcp/package.ts OUT_DIR [MANIFESTS_DIR (default manifests)]",
);
const { bundleBytes } = await packageFunctions({
  entry: "functions/gcp/index.ts",
  outDir,
  manifestsDir,
  framework: "@google-cloud/functions-framework",
  name: "pushsync-gcp-functions",
});
console.log(`${outDir}: index.js (${bundleBytes} bytes), package.json, manifests/`);
