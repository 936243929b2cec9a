/**
 * SQS (AWS JSON 1.0, X-Amz-Target "AmazonSQS.<Operation>") in memory.
 *
 * Shapes follow botocore's model (sqs/2012-11-05). SQS is "query compatible": an error answers
 * `{"__type": "com.amazonaws.sqs#<Shape>", "message": ...}` and names the code of the older
 * query protocol in the x-amzn-query-error header ("AWS.SimpleQueueService.NonExistentQueue;Sender"),
 * which is the code the SDKs and the CLI report. Rules worth knowing:
 * - Queue URLs are <endpoint>/<account>/<name>; requests may name a queue with any host.
 * - Every time (visibility, delays, retention, the 5-minute deduplication window, the 60-second
 *   purge and re-create limits, timestamps) is read from the clock, which tests may move. Long
 *   polls wait in real time: they answer as soon as a message is sent or made visible, and look
 *   again every POLL_MS for messages whose delay or visibility timeout ran out.
 * - Each receive hides the message for the visibility timeout and gives it a new receipt handle.
 *   Only the latest handle deletes the message or changes its visibility: an older one is accepted
 *   and does nothing on a standard queue, and is "expired" on a FIFO queue (as is the latest once
 *   the message is visible again).
 * - A receive that would take a message past its queue's maxReceiveCount moves it to the
 *   dead-letter queue instead; it keeps its id, sent time, receive count and attributes.
 * - FIFO: messages of a group come out in send order, and a group with a message in flight yields
 *   nothing until that message is deleted or visible again. A MessageDeduplicationId (or the body's
 *   SHA-256 under ContentBasedDeduplication) seen within 5 minutes answers the first message's id
 *   and queues nothing.
 * - Limits are today's AWS ones: a message up to the queue's MaximumMessageSize (default 1 MiB), a
 *   batch up to 10 entries and 1 MiB in all. Sizes count the body and every attribute's name, type
 *   and value.
 * - Not implemented: tags (accepted on CreateQueue, not kept), permissions, message move tasks,
 *   ReceiveRequestAttemptId, list-valued message attributes.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import {
  AwsError,
  type AwsJsonService,
  type Input,
  page,
  readBlob,
  readList,
  readNumber,
  readString,
  readStringList,
  readStructure,
} from "./protocol.ts";

const POLL_MS = 100;
const DEDUP_WINDOW_MS = 5 * 60_000;
const PURGE_INTERVAL_MS = 60_000;
const RECREATE_DELAY_MS = 60_000;
const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = 1_048_576;
const MAX_VISIBILITY_SECONDS = 43_200;
const MAX_MESSAGE_ATTRIBUTES = 10;

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const FIFO_QUEUE_NAME = /^[A-Za-z0-9_-]{1,75}\.fifo$/;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
/** Alphanumerics and punctuation, as MessageGroupId and MessageDeduplicationId allow. */
const GROUP_OR_DEDUP_ID = /^[\x21-\x7e]{1,128}$/;
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,256}$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** Characters a message may not contain: everything outside XML's allowed set. */
const INVALID_BODY_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Error shapes of the model with their query code and HTTP status (plus two codes outside it). */
const ERRORS = {
  QueueDoesNotExist: ["AWS.SimpleQueueService.NonExistentQueue", 400],
  QueueNameExists: ["QueueAlreadyExists", 400],
  QueueDeletedRecently: ["AWS.SimpleQueueService.QueueDeletedRecently", 400],
  PurgeQueueInProgress: ["AWS.SimpleQueueService.PurgeQueueInProgress", 403],
  ReceiptHandleIsInvalid: ["ReceiptHandleIsInvalid", 404],
  MessageNotInflight: ["AWS.SimpleQueueService.MessageNotInflight", 400],
  EmptyBatchRequest: ["AWS.SimpleQueueService.EmptyBatchRequest", 400],
  TooManyEntriesInBatchRequest: ["AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400],
  BatchEntryIdsNotDistinct: ["AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400],
  BatchRequestTooLong: ["AWS.SimpleQueueService.BatchRequestTooLong", 400],
  InvalidBatchEntryId: ["AWS.SimpleQueueService.InvalidBatchEntryId", 400],
  InvalidAddress: ["InvalidAddress", 404],
  InvalidAttributeName: ["InvalidAttributeName", 400],
  InvalidAttributeValue: ["InvalidAttributeValue", 400],
  InvalidMessageContents: ["InvalidMessageContents", 400],
  InvalidParameterValue: ["InvalidParameterValue", 400],
  MissingParameter: ["MissingParameter", 400],
} as const;

type ErrorShape = keyof typeof ERRORS;

/** An SQS error as the JSON protocol sends it in query-compatible mode. */
class SqsError extends AwsError {
  /** The query code: the header's first part, and the Code of a failed batch entry. */
  readonly code: string;

  constructor(shape: ErrorShape, message: string) {
    const [code, status] = ERRORS[shape];
    super(`com.amazonaws.sqs#${shape}`, message, status, { "x-amzn-query-error": `${code};Sender` });
    this.code = code;
  }

  override body(): Record<string, unknown> {
    return { __type: this.type, message: this.message };
  }
}

function invalidParameter(member: string, value: unknown, reason: string): SqsError {
  return new SqsError(
    "InvalidParameterValue",
    `Value ${String(value)} for parameter ${member} is invalid. Reason: ${reason}`,
  );
}

function missing(member: string): SqsError {
  return new SqsError("MissingParameter", `The request must contain the parameter ${member}.`);
}

/** A whole-number member within [min, max], with SQS's wording when it is out of range. */
function intParam(input: Input, member: string, min: number, max: number): number | undefined {
  const v = readNumber(input, member);
  if (v !== undefined && (v < min || v > max))
    throw invalidParameter(member, v, `Must be >= ${min} and <= ${max}, if provided.`);
  return v;
}

// --- queue attributes --------------------------------------------------------------------------

type Parse = (value: string) => string | undefined;

const intRange =
  (min: number, max: number): Parse =>
  (v) =>
    /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? String(Number(v)) : undefined;
const oneOf =
  (...allowed: string[]): Parse =>
  (v) =>
    allowed.includes(v) ? v : undefined;
const bool: Parse = (v) => oneOf("true", "false")(v.toLowerCase());
const text: Parse = (v) => v;

/** Attributes CreateQueue and SetQueueAttributes take (RedrivePolicy and FifoQueue aside). */
const SETTABLE: Record<string, { parse: Parse; initial?: string; fifoOnly?: boolean }> = {
  DelaySeconds: { parse: intRange(0, 900), initial: "0" },
  MaximumMessageSize: { parse: intRange(1024, 1_048_576), initial: "1048576" },
  MessageRetentionPeriod: { parse: intRange(60, 1_209_600), initial: "345600" },
  ReceiveMessageWaitTimeSeconds: { parse: intRange(0, 20), initial: "0" },
  VisibilityTimeout: { parse: intRange(0, MAX_VISIBILITY_SECONDS), initial: "30" },
  Policy: { parse: text },
  RedriveAllowPolicy: { parse: text },
  KmsMasterKeyId: { parse: text },
  KmsDataKeyReusePeriodSeconds: { parse: intRange(60, 86_400) },
  SqsManagedSseEnabled: { parse: bool, initial: "true" },
  ContentBasedDeduplication: { parse: bool, initial: "false", fifoOnly: true },
  DeduplicationScope: { parse: oneOf("messageGroup", "queue"), initial: "queue", fifoOnly: true },
  FifoThroughputLimit: {
    parse: oneOf("perQueue", "perMessageGroupId"),
    initial: "perQueue",
    fifoOnly: true,
  },
};

/** Attributes only GetQueueAttributes answers. */
const READ_ONLY = [
  "QueueArn",
  "ApproximateNumberOfMessages",
  "ApproximateNumberOfMessagesNotVisible",
  "ApproximateNumberOfMessagesDelayed",
  "CreatedTimestamp",
  "LastModifiedTimestamp",
  "FifoQueue",
];

interface RedrivePolicy {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

// --- messages ----------------------------------------------------------------------------------

interface MessageAttribute {
  DataType: string;
  StringValue?: string;
  BinaryValue?: Buffer;
}

type MessageAttributes = Map<string, MessageAttribute>;

interface Message {
  id: string;
  body: string;
  attributes: MessageAttributes;
  traceHeader?: string;
  sentAt: number;
  /** Until then the message is delayed (never received) or in flight (received). */
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
  /** When the latest receive happened, and the receipt handle it gave. */
  receivedAt?: number;
  receipt?: string;
  groupId?: string;
  dedupId?: string;
  sequenceNumber?: string;
  deadLetterSourceArn?: string;
}

/** A validated SendMessage (or batch entry), not yet queued. */
interface Outgoing {
  body: string;
  attributes: MessageAttributes;
  traceHeader?: string;
  delaySeconds: number;
  groupId?: string;
  dedupId?: string;
}

interface Queue {
  name: string;
  url: string;
  arn: string;
  fifo: boolean;
  /** Settable attributes as GetQueueAttributes answers them. */
  attributes: Record<string, string>;
  created: number;
  lastModified: number;
  /** In send order. */
  messages: Message[];
  /** Deduplication key → the message first sent with it (FIFO). */
  sent: Map<string, { messageId: string; sequenceNumber?: string; until: number }>;
  lastPurge?: number;
  /** Long polls waiting on this queue. */
  waiters: Set<() => void>;
  deleted: boolean;
}

function md5(data: string | Buffer): string {
  return createHash("md5").update(data).digest("hex");
}

/**
 * The MD5 SQS sends for message attributes: over the attributes sorted by name, each written as
 * its name, its data type, a transport byte (1 string, 2 binary) and its value, where names, types
 * and values are UTF-8 (or raw bytes) preceded by their length as 4 bytes big-endian.
 */
function md5OfMessageAttributes(attributes: MessageAttributes): string {
  const parts: Buffer[] = [];
  const field = (bytes: Buffer): void => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  };
  for (const name of [...attributes.keys()].sort()) {
    const a = attributes.get(name)!;
    field(Buffer.from(name, "utf8"));
    field(Buffer.from(a.DataType, "utf8"));
    if (a.BinaryValue !== undefined) {
      parts.push(Buffer.of(2));
      field(a.BinaryValue);
    } else {
      parts.push(Buffer.of(1));
      field(Buffer.from(a.StringValue ?? "", "utf8"));
    }
  }
  return md5(Buffer.concat(parts));
}

function attributesJson(attributes: MessageAttributes): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, a] of attributes)
    out[name] =
      a.BinaryValue !== undefined
        ? { DataType: a.DataType, BinaryValue: a.BinaryValue.toString("base64") }
        : { DataType: a.DataType, StringValue: a.StringValue };
  return out;
}

function attributesSize(attributes: MessageAttributes): number {
  let size = 0;
  for (const [name, a] of attributes)
    size +=
      Buffer.byteLength(name) +
      Buffer.byteLength(a.DataType) +
      (a.BinaryValue?.length ?? Buffer.byteLength(a.StringValue ?? ""));
  return size;
}

function messageSize(m: Outgoing): number {
  return Buffer.byteLength(m.body) + attributesSize(m.attributes);
}

/**
 * The attributes a receive asked for: "All", "*" or ".*" for every one, else names and prefixes,
 * where "Hel.*" asks for every name starting with "Hel" ("Hello", "Help.Me").
 */
function selectAttributes(attributes: MessageAttributes, wanted: string[]): MessageAttributes {
  if (wanted.some((w) => w === "All" || w === "*" || w === ".*")) return attributes;
  const picked: MessageAttributes = new Map();
  for (const [name, a] of attributes)
    if (wanted.some((w) => w === name || (w.endsWith(".*") && name.startsWith(w.slice(0, -2)))))
      picked.set(name, a);
  return picked;
}

export interface SqsOptions {
  region: string;
  accountId: string;
  /** The local AWS's URL, which queue URLs start with. */
  endpoint: () => string;
  /** Milliseconds since the epoch; default Date.now. */
  clock?: (() => number) | undefined;
}

export class LocalSqs implements AwsJsonService {
  readonly targetPrefix = "AmazonSQS";
  readonly contentType = "application/x-amz-json-1.0";
  private queues = new Map<string, Queue>();
  /** Queue name → when it was deleted. */
  private deletedAt = new Map<string, number>();
  private sequence = 10n ** 19n;
  private readonly now: () => number;

  constructor(private readonly options: SqsOptions) {
    this.now = options.clock ?? Date.now;
  }

  reset(): void {
    for (const q of this.queues.values()) this.drop(q);
    this.queues.clear();
    this.deletedAt.clear();
  }

  handle(operation: string, input: Input): unknown {
    switch (operation) {
      case "CreateQueue":
        return this.createQueue(input);
      case "GetQueueUrl":
        return this.getQueueUrl(input);
      case "ListQueues":
        return this.listQueues(input);
      case "GetQueueAttributes":
        return this.getQueueAttributes(input);
      case "SetQueueAttributes":
        return this.setQueueAttributes(input);
      case "DeleteQueue":
        return this.deleteQueue(input);
      case "PurgeQueue":
        return this.purgeQueue(input);
      case "SendMessage":
        return this.sendMessage(input);
      case "SendMessageBatch":
        return this.sendMessageBatch(input);
      case "ReceiveMessage":
        return this.receiveMessage(input);
      case "DeleteMessage":
        return this.deleteMessage(input);
      case "DeleteMessageBatch":
        return this.deleteMessageBatch(input);
      case "ChangeMessageVisibility":
        return this.changeMessageVisibility(input);
      case "ChangeMessageVisibilityBatch":
        return this.changeMessageVisibilityBatch(input);
      default:
        throw new AwsError("UnknownOperationException", `Operation ${operation} is not supported.`);
    }
  }

  // --- queues ------------------------------------------------------------------------------

  /** The queue a request's QueueUrl names, with expired messages and deduplication ids dropped. */
  private queue(input: Input): Queue {
    const url = readString(input, "QueueUrl");
    if (!url) throw missing("QueueUrl");
    let path: string[];
    try {
      path = new URL(url).pathname.split("/").filter((p) => p !== "");
    } catch {
      throw new SqsError("InvalidAddress", `The address ${url} is not valid for this endpoint.`);
    }
    const [account, name] = path;
    const q = path.length === 2 && account === this.options.accountId ? this.queues.get(name!) : undefined;
    if (!q) throw new SqsError("QueueDoesNotExist", "The specified queue does not exist.");
    const now = this.now();
    const retentionMs = Number(q.attributes.MessageRetentionPeriod) * 1000;
    q.messages = q.messages.filter((m) => m.sentAt + retentionMs > now);
    for (const [key, s] of q.sent) if (s.until <= now) q.sent.delete(key);
    return q;
  }

  private byArn(arn: string): Queue | undefined {
    const prefix = `arn:aws:sqs:${this.options.region}:${this.options.accountId}:`;
    return arn.startsWith(prefix) ? this.queues.get(arn.slice(prefix.length)) : undefined;
  }

  /** Forgets a queue's messages and answers its long polls. */
  private drop(q: Queue): void {
    q.deleted = true;
    q.messages = [];
    this.wake(q);
  }

  /** Validated attributes of a CreateQueue or SetQueueAttributes; "" asks to remove one. */
  private readAttributes(input: Input, fifo: boolean): Record<string, string> {
    const raw = input.Attributes === undefined ? {} : readStructure(input.Attributes, "Attributes");
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(raw)) {
      if (typeof value !== "string")
        throw new AwsError("SerializationException", "Member Attributes must be a map of strings");
      if (name === "RedrivePolicy") {
        out[name] = value === "" ? "" : this.readRedrivePolicy(value, fifo);
        continue;
      }
      const rule = SETTABLE[name];
      if (!rule || (rule.fifoOnly && !fifo))
        throw new SqsError("InvalidAttributeName", `Unknown Attribute ${name}.`);
      const parsed = rule.parse(value);
      if (parsed === undefined)
        throw new SqsError("InvalidAttributeValue", `Invalid value for the parameter ${name}.`);
      out[name] = parsed;
    }
    return out;
  }

  private readRedrivePolicy(value: string, fifo: boolean): string {
    const invalid = (reason: string): SqsError => invalidParameter("RedrivePolicy", value, reason);
    let policy: unknown;
    try {
      policy = JSON.parse(value);
    } catch {
      throw invalid("Redrive policy is not a valid JSON map.");
    }
    if (typeof policy !== "object" || policy === null || Array.isArray(policy))
      throw invalid("Redrive policy is not a valid JSON map.");
    const { deadLetterTargetArn: arn, maxReceiveCount } = policy as Record<string, unknown>;
    const max = Number(maxReceiveCount);
    if (typeof arn !== "string" || !/^arn:aws:sqs:[^:]+:\d{12}:[A-Za-z0-9_.-]+$/.test(arn))
      throw invalid("Invalid value for deadLetterTargetArn.");
    if (!Number.isInteger(max) || max < 1 || max > 1000) throw invalid("Invalid value for maxReceiveCount.");
    const target = this.byArn(arn);
    if (!target) throw invalid("Dead letter target does not exist.");
    if (target.fifo !== fifo) throw invalid("Dead-letter queue must be same type of queue as the source.");
    const normalized: RedrivePolicy = { deadLetterTargetArn: arn, maxReceiveCount: max };
    return JSON.stringify(normalized);
  }

  private createQueue(input: Input): unknown {
    const name = readString(input, "QueueName");
    if (name === undefined) throw missing("QueueName");
    const raw = input.Attributes === undefined ? {} : readStructure(input.Attributes, "Attributes");
    const fifoValue = raw.FifoQueue;
    const fifo = typeof fifoValue === "string" && bool(fifoValue) === "true";
    if (fifoValue !== undefined && (typeof fifoValue !== "string" || bool(fifoValue) === undefined))
      throw new SqsError("InvalidAttributeValue", "Invalid value for the parameter FifoQueue.");
    if (fifo && !FIFO_QUEUE_NAME.test(name))
      throw new SqsError(
        "InvalidParameterValue",
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
      );
    if (!fifo && !QUEUE_NAME.test(name))
      throw new SqsError(
        "InvalidParameterValue",
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
      );
    const { FifoQueue: _fifo, ...settable } = raw;
    const attributes = this.readAttributes({ Attributes: settable }, fifo);
    if (input.tags !== undefined) readStructure(input.tags, "tags");

    const now = this.now();
    const existing = this.queues.get(name);
    if (existing) {
      const current: Record<string, string> = { ...existing.attributes, FifoQueue: String(existing.fifo) };
      const asked: Record<string, string> = {
        ...attributes,
        ...(fifoValue !== undefined ? { FifoQueue: String(fifo) } : {}),
      };
      for (const [attribute, value] of Object.entries(asked))
        if ((current[attribute] ?? "") !== value)
          throw new SqsError(
            "QueueNameExists",
            `A queue already exists with the same name and a different value for attribute ${attribute}`,
          );
      return { QueueUrl: existing.url };
    }
    const deleted = this.deletedAt.get(name);
    if (deleted !== undefined && now - deleted < RECREATE_DELAY_MS)
      throw new SqsError(
        "QueueDeletedRecently",
        "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
      );

    const defaults: Record<string, string> = {};
    for (const [attribute, rule] of Object.entries(SETTABLE))
      if (rule.initial !== undefined && (fifo || !rule.fifoOnly)) defaults[attribute] = rule.initial;
    if (attributes.KmsMasterKeyId) defaults.SqsManagedSseEnabled = "false";
    const q: Queue = {
      name,
      url: `${this.options.endpoint()}/${this.options.accountId}/${name}`,
      arn: `arn:aws:sqs:${this.options.region}:${this.options.accountId}:${name}`,
      fifo,
      attributes: defaults,
      created: now,
      lastModified: now,
      messages: [],
      sent: new Map(),
      waiters: new Set(),
      deleted: false,
    };
    this.apply(q, attributes);
    this.queues.set(name, q);
    return { QueueUrl: q.url };
  }

  private apply(q: Queue, attributes: Record<string, string>): void {
    for (const [name, value] of Object.entries(attributes)) {
      if (value === "") delete q.attributes[name];
      else q.attributes[name] = value;
    }
  }

  private getQueueUrl(input: Input): unknown {
    const name = readString(input, "QueueName");
    if (name === undefined) throw missing("QueueName");
    const owner = readString(input, "QueueOwnerAWSAccountId") ?? this.options.accountId;
    const q = owner === this.options.accountId ? this.queues.get(name) : undefined;
    if (!q) throw new SqsError("QueueDoesNotExist", "The specified queue does not exist.");
    return { QueueUrl: q.url };
  }

  private listQueues(input: Input): unknown {
    const prefix = readString(input, "QueueNamePrefix") ?? "";
    const maxResults = readNumber(input, "MaxResults");
    if (maxResults !== undefined && (maxResults < 1 || maxResults > 1000))
      throw invalidParameter("MaxResults", maxResults, "MaxResults must be an integer between 1 and 1000.");
    const names = [...this.queues.keys()].filter((n) => n.startsWith(prefix)).sort();
    const p = page(names, readString(input, "NextToken"), maxResults ?? 1000);
    return {
      ...(p.items.length > 0 ? { QueueUrls: p.items.map((n) => this.queues.get(n)!.url) } : {}),
      ...(maxResults !== undefined && p.nextToken ? { NextToken: p.nextToken } : {}),
    };
  }

  private getQueueAttributes(input: Input): unknown {
    const q = this.queue(input);
    const names = readStringList(input, "AttributeNames");
    for (const n of names)
      if (n !== "All" && !(n in SETTABLE) && n !== "RedrivePolicy" && !READ_ONLY.includes(n))
        throw new SqsError("InvalidAttributeName", `Unknown Attribute ${n}.`);
    const all = this.attributesOf(q);
    const picked = names.includes("All")
      ? all
      : Object.fromEntries(Object.entries(all).filter(([n]) => names.includes(n)));
    return Object.keys(picked).length > 0 ? { Attributes: picked } : {};
  }

  private attributesOf(q: Queue): Record<string, string> {
    const now = this.now();
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const m of q.messages) {
      if (m.visibleAt <= now) visible++;
      else if (m.receipt !== undefined) inFlight++;
      else delayed++;
    }
    return {
      QueueArn: q.arn,
      ApproximateNumberOfMessages: String(visible),
      ApproximateNumberOfMessagesNotVisible: String(inFlight),
      ApproximateNumberOfMessagesDelayed: String(delayed),
      CreatedTimestamp: String(Math.floor(q.created / 1000)),
      LastModifiedTimestamp: String(Math.floor(q.lastModified / 1000)),
      ...q.attributes,
      ...(q.fifo ? { FifoQueue: "true" } : {}),
    };
  }

  private setQueueAttributes(input: Input): unknown {
    const q = this.queue(input);
    if (input.Attributes === undefined) throw missing("Attributes");
    this.apply(q, this.readAttributes(input, q.fifo));
    q.lastModified = this.now();
    return {};
  }

  private deleteQueue(input: Input): unknown {
    const q = this.queue(input);
    this.queues.delete(q.name);
    this.deletedAt.set(q.name, this.now());
    this.drop(q);
    return {};
  }

  private purgeQueue(input: Input): unknown {
    const q = this.queue(input);
    const now = this.now();
    if (q.lastPurge !== undefined && now - q.lastPurge < PURGE_INTERVAL_MS)
      throw new SqsError(
        "PurgeQueueInProgress",
        `Only one PurgeQueue operation on ${q.name} is allowed every 60 seconds.`,
      );
    q.lastPurge = now;
    q.messages = [];
    return {};
  }

  // --- sending -----------------------------------------------------------------------------

  private readMessageAttributes(value: unknown, member: string): MessageAttributes {
    const attributes: MessageAttributes = new Map();
    if (value === undefined || value === null) return attributes;
    const map = readStructure(value, member);
    const names = Object.keys(map);
    if (names.length > MAX_MESSAGE_ATTRIBUTES)
      throw new SqsError(
        "InvalidParameterValue",
        `Number of message attributes [${names.length}] exceeds the allowed maximum [${MAX_MESSAGE_ATTRIBUTES}].`,
      );
    for (const name of names) {
      const reserved = /^(aws|amazon)\./i.test(name);
      if (
        !ATTRIBUTE_NAME.test(name) ||
        reserved ||
        name.startsWith(".") ||
        name.endsWith(".") ||
        name.includes("..")
      )
        throw new SqsError("InvalidParameterValue", `Message (user) attribute name '${name}' is invalid.`);
      const a = readStructure(map[name], member);
      const dataType = readString(a, "DataType", { max: 256 });
      if (!dataType)
        throw new SqsError(
          "InvalidParameterValue",
          `The message attribute '${name}' must contain non-empty message attribute type.`,
        );
      const kind = dataType.split(".")[0];
      if (kind !== "String" && kind !== "Number" && kind !== "Binary")
        throw new SqsError(
          "InvalidParameterValue",
          `The type of message (user) attribute '${name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String.`,
        );
      if (readList(a, "StringListValues")?.length || readList(a, "BinaryListValues")?.length)
        throw new SqsError(
          "InvalidParameterValue",
          `Message (user) attribute '${name}' has list values, which are reserved and not supported.`,
        );
      const empty = new SqsError(
        "InvalidParameterValue",
        `The message attribute '${name}' must contain a non-empty value of type '${kind}'.`,
      );
      if (kind === "Binary") {
        const binary = readBlob(a, "BinaryValue");
        if (!binary || binary.length === 0) throw empty;
        attributes.set(name, { DataType: dataType, BinaryValue: binary });
        continue;
      }
      const string = readString(a, "StringValue");
      if (!string) throw empty;
      if (kind === "Number" && !NUMBER.test(string))
        throw new SqsError(
          "InvalidParameterValue",
          `Can't cast the value of message (user) attribute '${name}' to a number.`,
        );
      attributes.set(name, { DataType: dataType, StringValue: string });
    }
    return attributes;
  }

  /** Reads one SendMessage (or batch entry) and checks it against the queue's rules. */
  private readOutgoing(q: Queue, entry: Input): Outgoing {
    const body = readString(entry, "MessageBody");
    if (!body) throw missing("MessageBody");
    if (INVALID_BODY_CHAR.test(body))
      throw new SqsError(
        "InvalidMessageContents",
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
      );
    const attributes = this.readMessageAttributes(entry.MessageAttributes, "MessageAttributes");
    const system = this.readMessageAttributes(entry.MessageSystemAttributes, "MessageSystemAttributes");
    for (const name of system.keys())
      if (name !== "AWSTraceHeader")
        throw new SqsError("InvalidParameterValue", `Message system attribute name '${name}' is invalid.`);
    const trace = system.get("AWSTraceHeader");
    if (trace && trace.DataType !== "String")
      throw new SqsError(
        "InvalidParameterValue",
        "Message system attribute 'AWSTraceHeader' must be a String.",
      );

    const delay = intParam(entry, "DelaySeconds", 0, 900);
    if (delay !== undefined && q.fifo)
      throw invalidParameter(
        "DelaySeconds",
        delay,
        "The request include parameter that is not valid for this queue type.",
      );
    const groupId = readString(entry, "MessageGroupId");
    if (groupId !== undefined && !GROUP_OR_DEDUP_ID.test(groupId))
      throw invalidParameter(
        "MessageGroupId",
        groupId,
        "MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
      );
    if (q.fifo && groupId === undefined) throw missing("MessageGroupId");
    let dedupId = readString(entry, "MessageDeduplicationId");
    if (dedupId !== undefined && !q.fifo)
      throw invalidParameter(
        "MessageDeduplicationId",
        dedupId,
        "The request includes a parameter that is not valid for this queue type.",
      );
    if (dedupId !== undefined && !GROUP_OR_DEDUP_ID.test(dedupId))
      throw invalidParameter(
        "MessageDeduplicationId",
        dedupId,
        "MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
      );
    if (q.fifo && dedupId === undefined) {
      if (q.attributes.ContentBasedDeduplication !== "true")
        throw new SqsError(
          "InvalidParameterValue",
          "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
        );
      dedupId = createHash("sha256").update(body).digest("hex");
    }

    const outgoing: Outgoing = {
      body,
      attributes,
      ...(trace?.StringValue !== undefined ? { traceHeader: trace.StringValue } : {}),
      delaySeconds: delay ?? Number(q.attributes.DelaySeconds),
      ...(groupId !== undefined ? { groupId } : {}),
      ...(dedupId !== undefined ? { dedupId } : {}),
    };
    const limit = Number(q.attributes.MaximumMessageSize);
    if (messageSize(outgoing) > limit)
      throw new SqsError(
        "InvalidParameterValue",
        `One or more parameters are invalid. Reason: Message must be shorter than ${limit} bytes.`,
      );
    return outgoing;
  }

  /** Queues a message (unless FIFO deduplication answers an earlier one) and describes the result. */
  private enqueue(q: Queue, out: Outgoing): Record<string, unknown> {
    const now = this.now();
    const dedupKey =
      out.dedupId === undefined
        ? undefined
        : q.attributes.DeduplicationScope === "messageGroup"
          ? `${out.groupId}\n${out.dedupId}`
          : out.dedupId;
    const earlier = dedupKey === undefined ? undefined : q.sent.get(dedupKey);
    let messageId = earlier?.messageId;
    let sequenceNumber = earlier?.sequenceNumber;
    if (!messageId) {
      messageId = randomUUID();
      sequenceNumber = q.fifo ? String(++this.sequence) : undefined;
      q.messages.push({
        id: messageId,
        body: out.body,
        attributes: out.attributes,
        ...(out.traceHeader !== undefined ? { traceHeader: out.traceHeader } : {}),
        sentAt: now,
        visibleAt: now + out.delaySeconds * 1000,
        receiveCount: 0,
        ...(out.groupId !== undefined ? { groupId: out.groupId } : {}),
        ...(out.dedupId !== undefined ? { dedupId: out.dedupId } : {}),
        ...(sequenceNumber !== undefined ? { sequenceNumber } : {}),
      });
      if (dedupKey !== undefined)
        q.sent.set(dedupKey, {
          messageId,
          ...(sequenceNumber !== undefined ? { sequenceNumber } : {}),
          until: now + DEDUP_WINDOW_MS,
        });
      this.wake(q);
    }
    const system: MessageAttributes = new Map();
    if (out.traceHeader !== undefined)
      system.set("AWSTraceHeader", { DataType: "String", StringValue: out.traceHeader });
    return {
      MD5OfMessageBody: md5(out.body),
      ...(out.attributes.size > 0 ? { MD5OfMessageAttributes: md5OfMessageAttributes(out.attributes) } : {}),
      ...(system.size > 0 ? { MD5OfMessageSystemAttributes: md5OfMessageAttributes(system) } : {}),
      MessageId: messageId,
      ...(sequenceNumber !== undefined ? { SequenceNumber: sequenceNumber } : {}),
    };
  }

  private sendMessage(input: Input): unknown {
    const q = this.queue(input);
    return this.enqueue(q, this.readOutgoing(q, input));
  }

  /** A batch's entries, after the checks that fail the whole request. */
  private batchEntries(input: Input, entryShape: string): (Input & { Id: string })[] {
    const list = readList(input, "Entries") ?? [];
    if (list.length === 0)
      throw new SqsError("EmptyBatchRequest", `There should be at least one ${entryShape} in the request.`);
    if (list.length > MAX_BATCH_ENTRIES)
      throw new SqsError(
        "TooManyEntriesInBatchRequest",
        `Maximum number of entries per request are ${MAX_BATCH_ENTRIES}. You have sent ${list.length}.`,
      );
    const seen = new Set<string>();
    return list.map((item) => {
      const entry = readStructure(item, "Entries");
      const id = readString(entry, "Id") ?? "";
      if (!BATCH_ENTRY_ID.test(id))
        throw new SqsError(
          "InvalidBatchEntryId",
          "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
        );
      if (seen.has(id)) throw new SqsError("BatchEntryIdsNotDistinct", `Id ${id} repeated.`);
      seen.add(id);
      return { ...entry, Id: id };
    });
  }

  /** Runs each entry; an SqsError fails only its entry. */
  private batch(
    entries: (Input & { Id: string })[],
    run: (entry: Input, index: number) => Record<string, unknown>,
  ): { Successful: unknown[]; Failed: unknown[] } {
    const successful: unknown[] = [];
    const failed: unknown[] = [];
    for (const [i, entry] of entries.entries()) {
      try {
        successful.push({ Id: entry.Id, ...run(entry, i) });
      } catch (err) {
        if (!(err instanceof SqsError)) throw err;
        failed.push({ Id: entry.Id, SenderFault: true, Code: err.code, Message: err.message });
      }
    }
    return { Successful: successful, Failed: failed };
  }

  private sendMessageBatch(input: Input): unknown {
    const q = this.queue(input);
    const entries = this.batchEntries(input, "SendMessageBatchRequestEntry");
    const read = entries.map((entry): Outgoing | SqsError => {
      try {
        return this.readOutgoing(q, entry);
      } catch (err) {
        if (err instanceof SqsError) return err;
        throw err;
      }
    });
    let total = 0;
    for (const [i, r] of read.entries()) {
      const body = entries[i]!.MessageBody;
      total +=
        r instanceof SqsError ? (typeof body === "string" ? Buffer.byteLength(body) : 0) : messageSize(r);
    }
    if (total > MAX_BATCH_BYTES)
      throw new SqsError(
        "BatchRequestTooLong",
        `Batch requests cannot be longer than ${MAX_BATCH_BYTES} bytes. You have sent ${total} bytes.`,
      );
    return this.batch(entries, (_entry, i) => {
      const r = read[i]!;
      if (r instanceof SqsError) throw r;
      return this.enqueue(q, r);
    });
  }

  // --- receiving ---------------------------------------------------------------------------

  private async receiveMessage(input: Input): Promise<unknown> {
    const q = this.queue(input);
    const max = readNumber(input, "MaxNumberOfMessages") ?? 1;
    if (max < 1 || max > 10)
      throw invalidParameter("MaxNumberOfMessages", max, "Must be between 1 and 10, if provided.");
    const visibility =
      intParam(input, "VisibilityTimeout", 0, MAX_VISIBILITY_SECONDS) ??
      Number(q.attributes.VisibilityTimeout);
    const wait =
      intParam(input, "WaitTimeSeconds", 0, 20) ?? Number(q.attributes.ReceiveMessageWaitTimeSeconds);
    const systemNames = [
      ...readStringList(input, "AttributeNames"),
      ...readStringList(input, "MessageSystemAttributeNames"),
    ];
    const attributeNames = readStringList(input, "MessageAttributeNames");

    const deadline = Date.now() + wait * 1000;
    for (;;) {
      const taken = this.take(q, max, visibility);
      if (taken.length > 0)
        return { Messages: taken.map((m) => this.describe(m, systemNames, attributeNames)) };
      if (q.deleted || Date.now() >= deadline) return {};
      await this.sleep(q, deadline);
    }
  }

  /** Receives up to `max` visible messages, moving those past maxReceiveCount to the dead-letter queue. */
  private take(q: Queue, max: number, visibilitySeconds: number): Message[] {
    const now = this.now();
    const redrive = q.attributes.RedrivePolicy
      ? (JSON.parse(q.attributes.RedrivePolicy) as RedrivePolicy)
      : undefined;
    const deadLetter = redrive && this.byArn(redrive.deadLetterTargetArn);
    const busyGroups = new Set(
      q.fifo
        ? q.messages.filter((m) => m.visibleAt > now && m.receipt !== undefined).map((m) => m.groupId)
        : [],
    );
    const taken: Message[] = [];
    for (const m of [...q.messages]) {
      if (taken.length >= max) break;
      if (m.visibleAt > now || busyGroups.has(m.groupId)) continue;
      if (deadLetter && redrive && m.receiveCount >= redrive.maxReceiveCount) {
        q.messages.splice(q.messages.indexOf(m), 1);
        delete m.receipt;
        m.deadLetterSourceArn = q.arn;
        deadLetter.messages.push(m);
        this.wake(deadLetter);
        continue;
      }
      m.receiveCount++;
      m.firstReceivedAt ??= now;
      m.receivedAt = now;
      m.visibleAt = now + visibilitySeconds * 1000;
      m.receipt = Buffer.from(
        JSON.stringify([q.arn, m.id, m.receiveCount, randomBytes(12).toString("base64")]),
      ).toString("base64");
      taken.push(m);
    }
    return taken;
  }

  private describe(m: Message, systemNames: string[], attributeNames: string[]): unknown {
    const all = systemNames.includes("All");
    const system: Record<string, string | undefined> = {
      SenderId: this.options.accountId,
      SentTimestamp: String(m.sentAt),
      ApproximateReceiveCount: String(m.receiveCount),
      ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
      MessageGroupId: m.groupId,
      MessageDeduplicationId: m.dedupId,
      SequenceNumber: m.sequenceNumber,
      AWSTraceHeader: m.traceHeader,
      DeadLetterQueueSourceArn: m.deadLetterSourceArn,
    };
    const picked = Object.entries(system).filter(
      ([name, value]) => value !== undefined && (all || systemNames.includes(name)),
    );
    const attributes = selectAttributes(m.attributes, attributeNames);
    return {
      MessageId: m.id,
      ReceiptHandle: m.receipt,
      MD5OfBody: md5(m.body),
      Body: m.body,
      ...(picked.length > 0 ? { Attributes: Object.fromEntries(picked) } : {}),
      ...(attributes.size > 0
        ? {
            MD5OfMessageAttributes: md5OfMessageAttributes(attributes),
            MessageAttributes: attributesJson(attributes),
          }
        : {}),
    };
  }

  /** Answers the queue's long polls so they look again. */
  private wake(q: Queue): void {
    for (const waiter of [...q.waiters]) waiter();
  }

  /** Waits until the queue is woken, POLL_MS passes or the deadline (real time) comes. */
  private sleep(q: Queue, deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        q.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(POLL_MS, deadline - Date.now())));
      timer.unref();
      q.waiters.add(done);
    });
  }

  // --- receipt handles ---------------------------------------------------------------------

  /**
   * The message a receipt handle names, or undefined when it was deleted. Throws when the handle
   * is not one of this queue's, or (FIFO) is no longer the message's live handle.
   */
  private received(q: Queue, handle: string): Message | undefined {
    let parts: unknown;
    try {
      parts = JSON.parse(Buffer.from(handle, "base64").toString("utf8"));
    } catch {
      parts = undefined;
    }
    if (!Array.isArray(parts) || parts[0] !== q.arn || typeof parts[1] !== "string")
      throw new SqsError(
        "ReceiptHandleIsInvalid",
        `The input receipt handle "${handle}" is not a valid receipt handle.`,
      );
    const m = q.messages.find((candidate) => candidate.id === parts[1]);
    if (m && q.fifo && (m.receipt !== handle || m.visibleAt <= this.now()))
      throw invalidParameter("ReceiptHandle", handle, "The receipt handle has expired.");
    return m;
  }

  private deleteOne(q: Queue, entry: Input): Record<string, unknown> {
    const handle = readString(entry, "ReceiptHandle");
    if (!handle) throw missing("ReceiptHandle");
    const m = this.received(q, handle);
    if (m && m.receipt === handle) {
      q.messages.splice(q.messages.indexOf(m), 1);
      this.wake(q); // a FIFO group may be free now
    }
    return {};
  }

  private changeVisibilityOne(q: Queue, entry: Input): Record<string, unknown> {
    const handle = readString(entry, "ReceiptHandle");
    if (!handle) throw missing("ReceiptHandle");
    const timeout = intParam(entry, "VisibilityTimeout", 0, MAX_VISIBILITY_SECONDS);
    if (timeout === undefined) throw missing("VisibilityTimeout");
    const m = this.received(q, handle);
    if (!m || m.receipt !== handle)
      throw invalidParameter(
        "ReceiptHandle",
        handle,
        "Message does not exist or is not available for visibility timeout change.",
      );
    const now = this.now();
    if (m.visibleAt <= now) throw new SqsError("MessageNotInflight", "The message is not in flight.");
    if (now - m.receivedAt! + timeout * 1000 > MAX_VISIBILITY_SECONDS * 1000)
      throw invalidParameter(
        "VisibilityTimeout",
        timeout,
        `Total VisibilityTimeout for the message is beyond the limit [${MAX_VISIBILITY_SECONDS} seconds]`,
      );
    m.visibleAt = now + timeout * 1000;
    if (timeout === 0) this.wake(q);
    return {};
  }

  private deleteMessage(input: Input): unknown {
    return this.deleteOne(this.queue(input), input);
  }

  private deleteMessageBatch(input: Input): unknown {
    const q = this.queue(input);
    const entries = this.batchEntries(input, "DeleteMessageBatchRequestEntry");
    return this.batch(entries, (entry) => this.deleteOne(q, entry));
  }

  private changeMessageVisibility(input: Input): unknown {
    return this.changeVisibilityOne(this.queue(input), input);
  }

  private changeMessageVisibilityBatch(input: Input): unknown {
    const q = this.queue(input);
    const entries = this.batchEntries(input, "ChangeMessageVisibilityBatchRequestEntry");
    return this.batch(entries, (entry) => this.changeVisibilityOne(q, entry));
  }
}
