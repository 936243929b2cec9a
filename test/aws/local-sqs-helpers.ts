import { createHash } from "node:crypto";
import { SQSClient } from "@aws-sdk/client-sqs";
import { expect } from "vitest";
import type { LocalAws } from "../../infra/local/aws/index.ts";
import { dummyCredentials } from "./helpers.ts";

/** An SDK client (no retries) against the local AWS; its MD5 checks are on, as by default. */
export function sqsClient(aws: LocalAws): SQSClient {
  return new SQSClient({
    region: aws.region,
    endpoint: aws.url,
    credentials: dummyCredentials,
    maxAttempts: 1,
  });
}

/** A clock the tests move forward: the local SQS reads every time from it. */
export class TestClock {
  private offset = 0;
  readonly now = (): number => Date.now() + this.offset;

  advance(ms: number): void {
    this.offset += ms;
  }
}

export function md5Hex(text: string): string {
  return createHash("md5").update(text, "utf8").digest("hex");
}

export interface CaughtSqsError {
  name?: string;
  /** The query code from x-amzn-query-error, as the SDK exposes it. */
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** Awaits a rejection and returns it (failing when the promise resolves). */
export async function sqsError(promise: Promise<unknown>): Promise<CaughtSqsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e as CaughtSqsError,
  );
  expect(err, "expected the call to fail").toBeDefined();
  return err!;
}

/** One raw awsJson 1.0 request to the local SQS. */
export async function rawSqs(
  aws: LocalAws,
  operation: string,
  body: unknown,
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(aws.url, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": `AmazonSQS.${operation}`,
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}
