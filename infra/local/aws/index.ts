/**
 * The local AWS: one HTTP server for the awsJson services pushsync uses, each chosen by the
 * prefix of the X-Amz-Target header ("secretsmanager.GetSecretValue"). One file per service:
 * Secrets Manager (secrets-manager.ts) and SQS ("AmazonSQS.<Operation>", sqs.ts).
 *
 * Signatures are not verified: any (or no) Authorization header is accepted, so the AWS SDKs
 * and CLI work with dummy credentials. Requests are counted per operation, and injected faults
 * answer as AWS would: 429 → ThrottlingException "Rate exceeded" (AWS sends it with status 400),
 * 403 → AccessDeniedException (400), anything else → InternalServiceError with that status.
 */
import { randomUUID } from "node:crypto";
import type http from "node:http";
import { Faults, listen, readBody, RequestCounter } from "../common/server.ts";
import { AwsError, type AwsJsonService } from "./protocol.ts";
import { LocalSecretsManager } from "./secrets-manager.ts";
import { LocalSqs } from "./sqs.ts";

export interface LocalAwsOptions {
  host?: string;
  /** Default 4566; 0 picks a free port (tests). */
  port?: number;
  /** Default "us-east-1". */
  region?: string;
  /** Default "000000000000". */
  accountId?: string;
  /**
   * Milliseconds since the epoch for SQS's timers (visibility, delays, retention, deduplication,
   * purge); tests pass a clock they can move forward. Default Date.now.
   */
  sqsClock?: () => number;
}

export interface LocalAws {
  url: string;
  port: number;
  region: string;
  accountId: string;
  faults: Faults;
  /** Requests per operation name ("CreateSecret", "GetSecretValue", ...), faulted ones included. */
  requests: RequestCounter;
  /** Forgets every resource, request count and fault. */
  reset(): void;
  close(): Promise<void>;
}

function sendAws(res: http.ServerResponse, status: number, contentType: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
  });
  res.end(text);
}

function sendError(
  res: http.ServerResponse,
  contentType: string,
  err: AwsError,
  headers: Record<string, string> = {},
): void {
  for (const [k, v] of Object.entries({ ...err.headers, ...headers })) res.setHeader(k, v);
  sendAws(res, err.status, contentType, err.body());
}

function injectedError(status: number): AwsError {
  if (status === 429) return new AwsError("ThrottlingException", "Rate exceeded", 400);
  if (status === 403)
    return new AwsError(
      "AccessDeniedException",
      "User is not authorized to perform this operation (injected).",
      400,
    );
  return new AwsError("InternalServiceError", "An error occurred on the server side (injected).", status);
}

export async function startLocalAws(options: LocalAwsOptions = {}): Promise<LocalAws> {
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? "000000000000";
  const services: AwsJsonService[] = [
    new LocalSecretsManager({ region, accountId }),
    new LocalSqs({ region, accountId, endpoint: () => listening.url, clock: options.sqsClock }),
  ];
  const faults = new Faults();
  const requests = new RequestCounter();

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const target = String(req.headers["x-amz-target"] ?? "");
    const dot = target.indexOf(".");
    const service = services.find((s) => s.targetPrefix === target.slice(0, dot));
    const contentType = service?.contentType ?? "application/x-amz-json-1.1";
    const body = await readBody(req);
    if (req.method !== "POST" || !service) {
      sendError(res, contentType, new AwsError("UnknownOperationException", `Unknown target "${target}".`));
      return;
    }
    const operation = target.slice(dot + 1);
    requests.add(operation);
    await faults.delay();
    const fault = faults.take(operation);
    if (fault) {
      const retryAfter: Record<string, string> =
        fault.retryAfterSeconds !== undefined ? { "retry-after": String(fault.retryAfterSeconds) } : {};
      sendError(res, contentType, injectedError(fault.status), retryAfter);
      return;
    }
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString("utf8"));
    } catch {
      sendError(
        res,
        contentType,
        new AwsError("SerializationException", "The request body is not valid JSON."),
      );
      return;
    }
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      sendError(
        res,
        contentType,
        new AwsError("SerializationException", "The request body must be a JSON object."),
      );
      return;
    }
    try {
      sendAws(res, 200, contentType, await service.handle(operation, input as Record<string, unknown>));
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      sendError(res, contentType, err);
    }
  }

  const listening = await listen(
    (req, res) => {
      handle(req, res).catch(() => {
        if (!res.headersSent)
          sendError(
            res,
            "application/x-amz-json-1.1",
            new AwsError("InternalServiceError", "Internal error.", 500),
          );
        else res.destroy();
      });
    },
    { host: options.host, port: options.port ?? 4566 },
  );

  return {
    url: listening.url,
    port: listening.port,
    region,
    accountId,
    faults,
    requests,
    reset() {
      for (const s of services) s.reset();
      requests.reset();
      faults.clear();
    },
    close: () => listening.close(),
  };
}
