/** The push engine's public API (see engine.ts). */
export { createEngine } from "./engine.ts";
export type { Engine, EngineOptions } from "./engine.ts";
export type { Action, Plan, PlanItem } from "./plan.ts";
export { entriesFromPushes } from "./from-manifests.ts";
export type { EntriesFromManifests } from "./from-manifests.ts";
export {
  FINGERPRINT_KEY_ENV,
  FINGERPRINT_KEY_FILE_ENV,
  fingerprint,
  idempotencyToken,
  loadFingerprintKey,
  shortFingerprint,
} from "./fingerprint.ts";
export { KeyedLock, mapLimit, TokenBucket, withResilience, withRetries } from "./resilience.ts";
export type { RetryOptions } from "./resilience.ts";
export { SecretValue } from "./render.ts";
export type * from "./types.ts";
