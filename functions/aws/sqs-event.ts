/**
 * The Lambda event that the SQS event source mapping builds from received messages, field for
 * field. The local stack (`pushsync dev`) and the tests use it to invoke the push worker with
 * genuine records received from SQS.
 */
import type { Message } from "@aws-sdk/client-sqs";
import type { SqsEvent, SqsRecord } from "./lambda.ts";

export function sqsEvent(messages: Message[], queueArn: string, region: string): SqsEvent {
  return {
    Records: messages.map((m): SqsRecord => {
      const a = m.Attributes ?? {};
      return {
        messageId: m.MessageId!,
        receiptHandle: m.ReceiptHandle!,
        body: m.Body ?? "",
        attributes: {
          ApproximateReceiveCount: a.ApproximateReceiveCount!,
          SentTimestamp: a.SentTimestamp!,
          SenderId: a.SenderId!,
          ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp!,
          ...(a.MessageGroupId !== undefined ? { MessageGroupId: a.MessageGroupId } : {}),
          ...(a.MessageDeduplicationId !== undefined
            ? { MessageDeduplicationId: a.MessageDeduplicationId }
            : {}),
          ...(a.SequenceNumber !== undefined ? { SequenceNumber: a.SequenceNumber } : {}),
        },
        messageAttributes: Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([name, v]) => [
            name,
            {
              ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
              ...(v.BinaryValue !== undefined
                ? { binaryValue: Buffer.from(v.BinaryValue).toString("base64") }
                : {}),
              stringListValues: [],
              binaryListValues: [],
              dataType: v.DataType,
            },
          ]),
        ),
        md5OfBody: m.MD5OfBody!,
        eventSource: "aws:sqs",
        eventSourceARN: queueArn,
        awsRegion: region,
      };
    }),
  };
}
