/**
 * Where the forwarder publishes batches of change events (a webhook endpoint, a queue...).
 * One file per kind of sink; each implements this interface.
 */
import type { VaultChangeEvent } from "./types.ts";

export interface EventSink {
  /** Shown in logs and metrics. */
  readonly name: string;
  /** Most events one `publish` call should carry (SQS: 10); default: the caller's choice. */
  readonly maxBatchSize?: number;
  /**
   * Delivers the batch (or the part of it this sink serves). Resolves once delivered; rejects
   * with a PushsyncError after the sink's own retries are exhausted, and the forwarder then
   * puts the batch back in the queue.
   */
  publish(events: VaultChangeEvent[]): Promise<void>;
  close?(): Promise<void>;
}
