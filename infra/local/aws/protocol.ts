/**
 * What the services of the local AWS share: the awsJson error type and input readers that
 * answer malformed input the way AWS does (SerializationException for a wrong JSON type,
 * ValidationException for a missing or out-of-range member).
 */

/** An error answered (see body()) as `{"__type": type, "Message": message}` with the given HTTP status. */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
    /** Extra response headers (SQS's x-amzn-query-error). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** The JSON body of the answer; a service whose errors spell members differently overrides it. */
  body(): Record<string, unknown> {
    return { __type: this.type, Message: this.message };
  }
}

/** One awsJson service, selected by the prefix of the X-Amz-Target header ("<prefix>.<Operation>"). */
export interface AwsJsonService {
  readonly targetPrefix: string;
  /** application/x-amz-json-1.0 or -1.1. */
  readonly contentType: string;
  /** Runs one operation (its result may be a promise); throws AwsError for answers other than 200. */
  handle(operation: string, input: Record<string, unknown>): unknown;
  /** Forgets every resource. */
  reset(): void;
}

export type Input = Record<string, unknown>;

function lowerFirst(member: string): string {
  return member.charAt(0).toLowerCase() + member.slice(1);
}

/** AWS's wording for a request member that breaks a model constraint. */
export function validationError(member: string, constraint: string, shown?: string): AwsError {
  const value = shown === undefined ? "" : ` '${shown}'`;
  return new AwsError(
    "ValidationException",
    `1 validation error detected: Value${value} at '${lowerFirst(member)}' failed to satisfy constraint: ${constraint}`,
  );
}

function typeError(member: string, expected: string): AwsError {
  return new AwsError("SerializationException", `Member ${member} must be ${expected}`);
}

export function readString(
  input: Input,
  member: string,
  limits: { min?: number; max?: number; required?: boolean; sensitive?: boolean } = {},
): string | undefined {
  const v = input[member];
  if (v === undefined || v === null) {
    if (limits.required) throw validationError(member, "Member must not be null", "null");
    return undefined;
  }
  if (typeof v !== "string") throw typeError(member, "a string");
  const shown = limits.sensitive ? undefined : v;
  if (limits.min !== undefined && v.length < limits.min)
    throw validationError(member, `Member must have length greater than or equal to ${limits.min}`, shown);
  if (limits.max !== undefined && v.length > limits.max)
    throw validationError(member, `Member must have length less than or equal to ${limits.max}`, shown);
  return v;
}

export function readNumber(
  input: Input,
  member: string,
  limits: { min?: number; max?: number } = {},
): number | undefined {
  const v = input[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw typeError(member, "an integer");
  if (limits.min !== undefined && v < limits.min)
    throw validationError(member, `Member must have value greater than or equal to ${limits.min}`, String(v));
  if (limits.max !== undefined && v > limits.max)
    throw validationError(member, `Member must have value less than or equal to ${limits.max}`, String(v));
  return v;
}

export function readBoolean(input: Input, member: string): boolean | undefined {
  const v = input[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw typeError(member, "a boolean");
  return v;
}

export function readList(
  input: Input,
  member: string,
  limits: { min?: number; max?: number; required?: boolean } = {},
): unknown[] | undefined {
  const v = input[member];
  if (v === undefined || v === null) {
    if (limits.required) throw validationError(member, "Member must not be null", "null");
    return undefined;
  }
  if (!Array.isArray(v)) throw typeError(member, "a list");
  if (limits.min !== undefined && v.length < limits.min)
    throw validationError(member, `Member must have length greater than or equal to ${limits.min}`);
  if (limits.max !== undefined && v.length > limits.max)
    throw validationError(member, `Member must have length less than or equal to ${limits.max}`);
  return v;
}

export function readStringList(input: Input, member: string, limits: { max?: number } = {}): string[] {
  const list = readList(input, member, limits) ?? [];
  for (const item of list) if (typeof item !== "string") throw typeError(member, "a list of strings");
  return list as string[];
}

export function readStructure(value: unknown, member: string): Input {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw typeError(member, "a structure");
  return value as Input;
}

/** A blob member: base64 in JSON. */
export function readBlob(input: Input, member: string): Buffer | undefined {
  const v = input[member];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw typeError(member, "base64");
  return Buffer.from(v, "base64");
}

/** Opaque pagination tokens: the offset of the next item. */
export function encodeNextToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString("base64url");
}

export function decodeNextToken(token: string | undefined): number {
  if (token === undefined) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { offset?: unknown };
    if (typeof offset === "number" && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // answered below
  }
  throw new AwsError("InvalidNextTokenException", "The NextToken value is invalid.");
}

/** One page of `items` from the token's offset, with the token of the next page when there is one. */
export function page<T>(
  items: T[],
  token: string | undefined,
  size: number,
): { items: T[]; nextToken?: string } {
  const offset = decodeNextToken(token);
  const slice = items.slice(offset, offset + size);
  const next = offset + size;
  return next < items.length ? { items: slice, nextToken: encodeNextToken(next) } : { items: slice };
}
