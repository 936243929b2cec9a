/**
 * Vault's wire conventions shared by every part of the local Vault: operations, handler
 * results, error bodies, weakly typed parameters (Vault accepts "5" for 5 and "1h" for 3600)
 * and the identifiers it hands out.
 */
import { randomBytes, randomUUID } from "node:crypto";

/** Vault's logical operations: GET is read (or list with ?list=true), POST/PUT are create/update. */
export type Operation = "read" | "list" | "create" | "update" | "delete" | "patch";

/** The version this server reports (sys/health, sys/seal-status, audit `mount_running_version`). */
export const VAULT_VERSION = "1.19.0";

/** Default and maximum lease TTL of a mount: 768h, Vault's system default. */
export const SYSTEM_MAX_TTL = 768 * 3600;

export type Json = Record<string, unknown>;

/** What a handler returns; the HTTP layer wraps it in Vault's response envelope. */
export interface Result {
  /** Default: 200 when there is data, auth or warnings, 204 otherwise. */
  status?: number;
  data?: Json | null;
  auth?: Json;
  warnings?: string[];
  leaseDuration?: number;
  /** Sent as the whole body, without the envelope (sys/health, sys/seal-status). */
  raw?: unknown;
  /** Also copy `data` to the top level of the body, as Vault's older sys endpoints do. */
  topLevel?: boolean;
}

/** An error answered as `{"errors":[...]}`. Messages name paths and fields, never values. */
export class VaultApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(errors.join("; ") || `status ${status}`);
  }
}

export const badRequest = (message: string): VaultApiError => new VaultApiError(400, [message]);
/** 404 with an empty error list: how Vault answers a read of a path that holds nothing. */
export const notFound = (): VaultApiError => new VaultApiError(404, []);
export const permissionDenied = (): VaultApiError => new VaultApiError(403, ["permission denied"]);
/** Vault wraps some errors in a multierror; clients see this exact text. */
export const multiError = (status: number, message: string): VaultApiError =>
  new VaultApiError(status, [`1 error occurred:\n\t* ${message}\n\n`]);
export const unsupportedOperation = (): VaultApiError => multiError(405, "unsupported operation");
export const unsupportedPath = (): VaultApiError => multiError(404, "unsupported path");

export const noContent = (): Result => ({ status: 204 });

export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** An integer parameter: numbers and numeric strings, as Vault's weak decoding accepts. */
export function intParam(data: Json, field: string, fallback = 0): number {
  const v = data[field];
  if (v === undefined || v === null || v === "") return fallback;
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw badRequest(`error converting input for field "${field}": not an integer`);
  return n;
}

export function boolParam(data: Json, field: string, fallback = false): boolean {
  const v = data[field];
  if (v === undefined || v === null || v === "") return fallback;
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "1" || v === 1) return true;
  if (v === "false" || v === "0" || v === 0) return false;
  throw badRequest(`error converting input for field "${field}": not a boolean`);
}

export function stringParam(data: Json, field: string, fallback = ""): string {
  const v = data[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw badRequest(`error converting input for field "${field}": not a string`);
}

/** A list parameter: a JSON array or a comma-separated string. */
export function listParam(data: Json, field: string): string[] {
  const v = data[field];
  if (v === undefined || v === null || v === "") return [];
  const items = Array.isArray(v) ? v : typeof v === "string" ? v.split(",") : [v];
  return items.map((x) => String(x).trim()).filter((x) => x !== "");
}

export function intListParam(data: Json, field: string): number[] {
  return listParam(data, field).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) throw badRequest(`error converting input for field "${field}": not an integer`);
    return n;
  });
}

const durationUnits: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
};

/** Seconds from a number of seconds, a numeric string or a Go duration ("1h30m", "90s", "7d"). */
export function parseDuration(v: unknown, field: string): number {
  if (v === undefined || v === null || v === "") return 0;
  if (typeof v === "number" && Number.isFinite(v)) return Math.floor(v);
  if (typeof v === "string") {
    const s = v.trim();
    if (/^-?\d+$/.test(s)) return Number(s);
    const parts = [...s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/g)];
    const sign = s.startsWith("-") ? -1 : 1;
    if (parts.length > 0 && parts.map((p) => p[0]).join("") === s.replace(/^-/, "")) {
      return sign * Math.floor(parts.reduce((sum, p) => sum + Number(p[1]) * durationUnits[p[2]!]!, 0));
    }
  }
  throw badRequest(`error converting input for field "${field}": invalid duration`);
}

export function durationParam(data: Json, field: string): number {
  return parseDuration(data[field], field);
}

/** Seconds as Go's time.Duration prints them: "0s", "45s", "1m30s", "3h25m19s". */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  const sign = seconds < 0 ? "-" : "";
  let rest = Math.abs(seconds);
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}

/** Timestamps as Vault writes them (RFC 3339, UTC). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/** Glob with `*` only, matching any run of characters (including "/"), as Vault's event filters do. */
export function glob(pattern: string, value: string): boolean {
  if (!pattern.includes("*")) return pattern === value;
  const parts = pattern.split("*");
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!value.startsWith(first) || value.length < first.length + last.length || !value.endsWith(last)) {
    return false;
  }
  let at = first.length;
  for (const middle of parts.slice(1, -1)) {
    const i = value.indexOf(middle, at);
    if (i < 0 || i + middle.length > value.length - last.length) return false;
    at = i + middle.length;
  }
  return true;
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function randomBase62(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const b of bytes) out += base62[b % 62];
  return out;
}

/** Mount accessors look like "kv_1f2e3d4c" or "auth_approle_0a1b2c3d". */
export function newAccessor(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString("hex")}`;
}

export const newUuid = (): string => randomUUID();

/** Decodes a JWT's claims without verifying its signature. */
export function jwtClaims(jwt: string): Json {
  const part = jwt.split(".")[1];
  try {
    const claims: unknown = JSON.parse(Buffer.from(part ?? "", "base64url").toString("utf8"));
    if (isObject(claims)) return claims;
  } catch {
    // reported below
  }
  throw badRequest("error parsing token: the jwt is not a well-formed JWT");
}
