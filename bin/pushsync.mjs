#!/usr/bin/env node
// Runs the TypeScript CLI directly (no build step): tsx registers the loader.
import { register } from "tsx/esm/api";

// pushsync supports Node 20.19+. The AWS SDK prints a notice on Node 20 that its releases from
// 2027 on need Node 22; the lockfile pins a release that runs here, so the CLI keeps its output clean.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

register();
const { main } = await import("./cli.ts");
process.exitCode = await main(process.argv.slice(2));
