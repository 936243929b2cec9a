/**
 * Kubernetes `Status` errors: the reason, code, message and details an API server sends for each
 * failure, so that clients (client-go, kubectl, @kubernetes/client-node) classify them as usual.
 * Messages name resources, objects and fields, never field values of Secrets.
 */
import type { Json } from "./objects.ts";

interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export class KubeError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  status(): Json {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: { ...this.details } } : {}),
      code: this.code,
    };
  }
}

/** "secrets" or "externalsecrets.external-secrets.io", as messages name a resource. */
interface GroupResource {
  group: string;
  resource: string;
}

export function qualified(gr: GroupResource): string {
  return gr.group === "" ? gr.resource : `${gr.resource}.${gr.group}`;
}

const details = (gr: GroupResource, name: string): StatusDetails => ({
  name,
  ...(gr.group === "" ? {} : { group: gr.group }),
  kind: gr.resource,
});

export const notFound = (gr: GroupResource, name: string) =>
  new KubeError(404, "NotFound", `${qualified(gr)} "${name}" not found`, details(gr, name));

export const alreadyExists = (gr: GroupResource, name: string) =>
  new KubeError(409, "AlreadyExists", `${qualified(gr)} "${name}" already exists`, details(gr, name));

export const conflict = (gr: GroupResource, name: string, why: string) =>
  new KubeError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`,
    details(gr, name),
  );

export const STALE_OBJECT =
  "the object has been modified; please apply your changes to the latest version and try again";

export const badRequest = (message: string) => new KubeError(400, "BadRequest", message);

export const forbidden = (gr: GroupResource, name: string, why: string) =>
  new KubeError(403, "Forbidden", `${qualified(gr)} "${name}" is forbidden: ${why}`, details(gr, name));

export const unauthorized = () => new KubeError(401, "Unauthorized", "Unauthorized");

/** 410 with reason Expired: a resourceVersion or continue token older than the retained history. */
export const expired = (message: string) => new KubeError(410, "Expired", message);

export const methodNotAllowed = (method: string) =>
  new KubeError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`, {
    causes: [{ reason: "MethodNotAllowed", message: `method ${method}` }],
  });

/** The reasons `field.Error` gives, as the API server spells them. */
type FieldProblem = "Invalid" | "Required" | "Forbidden" | "TooLong" | "Duplicate" | "NotSupported";

const CAUSE_REASON: Record<FieldProblem, string> = {
  Invalid: "FieldValueInvalid",
  Required: "FieldValueRequired",
  Forbidden: "FieldValueForbidden",
  TooLong: "FieldValueTooLong",
  Duplicate: "FieldValueDuplicate",
  NotSupported: "FieldValueNotSupported",
};

const PROBLEM_TEXT: Record<FieldProblem, string> = {
  Invalid: "Invalid value",
  Required: "Required value",
  Forbidden: "Forbidden",
  TooLong: "Too long",
  Duplicate: "Duplicate value",
  NotSupported: "Unsupported value",
};

/** One validation failure; `shown` is the offending value as quoted in the message (never a secret value). */
export interface FieldError {
  field: string;
  problem: FieldProblem;
  detail: string;
  shown?: string;
}

function fieldMessage(e: FieldError): string {
  const value = e.shown === undefined ? "" : `${JSON.stringify(e.shown)}: `;
  return `${e.field}: ${PROBLEM_TEXT[e.problem]}: ${value}${e.detail}`.replace(/: $/, "");
}

/** 422 Invalid, e.g. `Secret "a" is invalid: data: Forbidden: field is immutable when `immutable` is set`. */
export function invalid(
  kind: { group: string; kind: string },
  name: string,
  errors: FieldError[],
): KubeError {
  const texts = errors.map(fieldMessage);
  const summary = texts.length === 1 ? texts[0] : `[${texts.join(", ")}]`;
  return new KubeError(422, "Invalid", `${kind.kind} "${name}" is invalid: ${summary}`, {
    name,
    ...(kind.group === "" ? {} : { group: kind.group }),
    kind: kind.kind,
    causes: errors.map((e, i) => ({ reason: CAUSE_REASON[e.problem], message: texts[i]!, field: e.field })),
  });
}

/** What an injected fault answers with, per HTTP status. */
export function faultError(status: number, retryAfterSeconds?: number): KubeError {
  const headers: Record<string, string> =
    retryAfterSeconds === undefined ? {} : { "retry-after": String(retryAfterSeconds) };
  const retry = retryAfterSeconds === undefined ? {} : { retryAfterSeconds };
  switch (status) {
    case 429:
      return new KubeError(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        retry,
        headers,
      );
    case 503:
      return new KubeError(
        503,
        "ServiceUnavailable",
        "the server is currently unable to handle the request",
        retry,
        headers,
      );
    case 504:
      return new KubeError(
        504,
        "Timeout",
        "the server was unable to return a response in the time allotted",
        retry,
        headers,
      );
    default:
      return new KubeError(
        status,
        "InternalError",
        `Internal error occurred: injected fault (status ${status})`,
        retry,
        headers,
      );
  }
}
