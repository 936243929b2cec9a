/**
 * The AWS CLI (Python, botocore, AWS JSON 1.0 for SQS) against the local SQS, unchanged but for
 * --endpoint-url. Skipped when `aws` is not installed, except under CI, where it must be.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalAws, startLocalAws } from "../../infra/local/aws/index.ts";
import { awsCli, hasCommand, skipWithout } from "../support/clients.ts";

const installed = hasCommand("aws", ["--version"]);

describe.skipIf(skipWithout(installed))("AWS CLI against the local SQS", () => {
  let aws: LocalAws;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
  });
  afterAll(async () => {
    await aws?.close();
  });

  /** Runs `aws sqs <args>` against the local AWS. */
  const cli = (...args: string[]) => awsCli(aws.url, "sqs", ...args);

  it("is installed (CI installs it)", () => {
    expect(installed, "the aws CLI must be on PATH when CI is set").toBe(true);
  });

  it("creates a queue, sends, receives and deletes a message, and reads the queue's attributes", async () => {
    const created = await cli(
      "create-queue",
      "--queue-name",
      "cli-jobs",
      "--attributes",
      "VisibilityTimeout=45",
    );
    expect(created.code).toBe(0);
    const queueUrl = `${aws.url}/000000000000/cli-jobs`;
    expect(created.json.QueueUrl).toBe(queueUrl);
    expect((await cli("get-queue-url", "--queue-name", "cli-jobs")).json.QueueUrl).toBe(queueUrl);

    // Body and attribute with digests that real SQS answered for them.
    const body = '{"foo":20}';
    const sent = await cli(
      "send-message",
      "--queue-url",
      queueUrl,
      "--message-body",
      body,
      "--message-attributes",
      '{"baz":{"DataType":"String","StringValue":"qux"}}',
    );
    expect(sent.code).toBe(0);
    expect(sent.json.MD5OfMessageBody).toBe("d6cf0f93237ada70daf9b6e75cfff2e6");
    expect(sent.json.MD5OfMessageAttributes).toBe("16bd0283a5b4962721ccd3efe4bc6257");

    const received = await cli(
      "receive-message",
      "--queue-url",
      queueUrl,
      "--attribute-names",
      "All",
      "--message-attribute-names",
      "All",
      "--wait-time-seconds",
      "1",
    );
    expect(received.code).toBe(0);
    const [message] = received.json.Messages as {
      MessageId: string;
      Body: string;
      ReceiptHandle: string;
      Attributes: Record<string, string>;
      MessageAttributes: Record<string, unknown>;
      MD5OfMessageAttributes: string;
    }[];
    expect(message).toMatchObject({ MessageId: sent.json.MessageId, Body: body });
    expect(message!.Attributes.ApproximateReceiveCount).toBe("1");
    expect(message!.MessageAttributes).toEqual({ baz: { DataType: "String", StringValue: "qux" } });
    expect(message!.MD5OfMessageAttributes).toBe(sent.json.MD5OfMessageAttributes);

    const inFlight = await cli("get-queue-attributes", "--queue-url", queueUrl, "--attribute-names", "All");
    expect(inFlight.json.Attributes).toMatchObject({
      VisibilityTimeout: "45",
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "1",
      QueueArn: "arn:aws:sqs:us-east-1:000000000000:cli-jobs",
    });

    const deleted = await cli(
      "delete-message",
      "--queue-url",
      queueUrl,
      "--receipt-handle",
      message!.ReceiptHandle,
    );
    expect(deleted.code).toBe(0);
    const after = await cli(
      "get-queue-attributes",
      "--queue-url",
      queueUrl,
      "--attribute-names",
      "ApproximateNumberOfMessages",
      "ApproximateNumberOfMessagesNotVisible",
    );
    expect(after.json.Attributes).toEqual({
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "0",
    });
  });

  it("sends to a FIFO queue and reports SQS error codes", async () => {
    const created = await cli(
      "create-queue",
      "--queue-name",
      "cli-events.fifo",
      "--attributes",
      "FifoQueue=true,ContentBasedDeduplication=true",
    );
    expect(created.code).toBe(0);
    const queueUrl = String(created.json.QueueUrl);
    const first = await cli(
      "send-message",
      "--queue-url",
      queueUrl,
      "--message-body",
      "e1",
      "--message-group-id",
      "g",
    );
    const again = await cli(
      "send-message",
      "--queue-url",
      queueUrl,
      "--message-body",
      "e1",
      "--message-group-id",
      "g",
    );
    expect(first.json.SequenceNumber).toMatch(/^\d{20}$/);
    expect(again.json.MessageId).toBe(first.json.MessageId);

    const missing = await cli("get-queue-url", "--queue-name", "no-such-queue");
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("AWS.SimpleQueueService.NonExistentQueue");
    expect(missing.stderr).toContain("The specified queue does not exist.");
    const conflict = await cli(
      "create-queue",
      "--queue-name",
      "cli-events.fifo",
      "--attributes",
      "FifoQueue=true",
    );
    expect(conflict.code).toBe(0);
    const differs = await cli(
      "create-queue",
      "--queue-name",
      "cli-events.fifo",
      "--attributes",
      "FifoQueue=true,ContentBasedDeduplication=false",
    );
    expect(differs.code).not.toBe(0);
    expect(differs.stderr).toContain("QueueAlreadyExists");
  });
});
