/**
 * The forward loop: Vault's change notifications in, one message per changed secret out.
 *
 *   sources (audit socket on TCP and/or a Unix socket, audit file, events WebSocket)
 *     → parser (audit.ts / cloudevents.ts) → watched paths (PathIndex; others are "filtered")
 *     → one EventBuffer per sink → that sink's publish loop
 *
 * Receiving never waits: lines are parsed and offered to the buffers synchronously as they
 * arrive (Vault's socket audit device blocks Vault while its reader stalls). Each sink has its own
 * buffer and loop, so a failing webhook never holds back the queue: a loop publishes as soon as its
 * buffer has events, up to the sink's batch size (10 for SQS), one call at a time (which keeps each
 * secret's messages in order); events that arrive meanwhile coalesce and go in the next batch. A
 * failed publish puts the batch back (EventBuffer.retry) and the loop backs off exponentially with
 * jitter; a full buffer drops per its overflow policy, counted and logged.
 *
 * Health (/healthz): 503 when no source is up (an audit listener is up while it listens: Vault
 * dials it, so it must not wait for Vault; the events stream is up while connected) or when a sink
 * has been failing for longer than `unhealthyAfterMs`. Per sink it shows the events waiting
 * (`queued`), those in a publish attempt (`publishing`) and how long the sink has been failing.
 *
 * Metrics (/metrics), labelled by source, reason or sink:
 *   pushsync_events_received_total{source}        lines and messages read from each source
 *   pushsync_events_skipped_total{reason}         not a KV change (parser reasons, oversized lines)
 *   pushsync_events_filtered_total                changes to secrets no manifest reads
 *   pushsync_events_published_total{sink}
 *   pushsync_publish_failures_total{sink}         failed publish calls (each is retried)
 *   pushsync_events_dropped_total{sink}           lost to a full buffer
 *   pushsync_events_coalesced_total{sink}
 *   pushsync_events_queued{sink}, pushsync_events_lag_seconds{sink}   size and oldest entry's age
 *   pushsync_source_up{source}, pushsync_sink_failing_seconds{sink}
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { AuditFileTail, AuditListener } from "../events/audit-listener.ts";
import { startAuditListener, tailAuditFile } from "../events/audit-listener.ts";
import { AuditParser } from "../events/audit.ts";
import { EventBuffer, type OverflowPolicy } from "../events/buffer.ts";
import { CloudEventParser } from "../events/cloudevents.ts";
import { PathIndex } from "../events/index-paths.ts";
import type { EventSink } from "../events/sink.ts";
import { subscribeVaultEvents, type VaultEventSubscriberOptions } from "../events/subscriber.ts";
import type { ParseResult } from "../events/types.ts";
import { Counters } from "../observability/counters.ts";
import type { Logger } from "../observability/logger.ts";
import { silentLogger } from "../observability/logger.ts";
import {
  MetricsRegistry,
  observabilityHandler,
  type HealthStatus,
  type Sample,
} from "../observability/metrics.ts";
import type { WatchSet } from "./watch.ts";

export type SourceName = "audit-tcp" | "audit-unix" | "audit-file" | "events";

export interface ForwarderOptions {
  watch: Pick<WatchSet, "paths" | "mounts">;
  /** TCP listener for Vault's socket audit device; port 0 picks a free one. */
  auditListen?: { host: string; port: number };
  /** Unix socket for Vault's socket audit device (socket_type "unix"). */
  auditSocketPath?: string;
  /** A file audit device's log, followed from its end. */
  auditFile?: string;
  /** Vault's event stream. */
  events?: Omit<VaultEventSubscriberOptions, "onMessage" | "onConnected" | "logger">;
  sinks: EventSink[];
  /** Distinct secrets queued per sink. Default 10,000. */
  bufferSize?: number;
  /** Default drop-oldest (see buffer.ts). */
  overflow?: OverflowPolicy;
  /** Serves /metrics and /healthz; port 0 picks a free one. */
  metricsListen?: { host: string; port: number };
  /** A sink failing for longer than this makes /healthz answer 503. Default 60 s. */
  unhealthyAfterMs?: number;
  /** Backoff between failed publishes: first ceiling and cap. Default 200 ms and 30 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Largest batch for sinks that set no maxBatchSize. Default 100. */
  maxBatchSize?: number;
  logger?: Logger;
}

export interface Forwarder {
  /** Port of the TCP audit listener, when there is one. */
  auditPort?: number;
  /** Port of the /metrics and /healthz server, when there is one. */
  metricsPort?: number;
  registry: MetricsRegistry;
  health(): HealthStatus;
  /**
   * Stops the sources, publishes what is queued for up to `flushMs` (default 5 s), closes the
   * sinks. Resolves with the number of events left unpublished.
   */
  stop(flushMs?: number): Promise<number>;
}

interface Source {
  name: SourceName;
  up(): boolean;
  /** Value-free details for /healthz. */
  detail(): Record<string, unknown>;
  counters: Counters;
  close(): Promise<void>;
}

interface Lane {
  sink: EventSink;
  buffer: EventBuffer;
  /** When the current run of failed publishes began. */
  failingSince?: number;
  lastOverflowLog: number;
  loop?: Promise<void>;
}

const OVERFLOW_LOG_INTERVAL_MS = 10_000;

export async function startForwarder(options: ForwarderOptions): Promise<Forwarder> {
  const log = options.logger ?? silentLogger;
  const index = new PathIndex(options.watch.paths);
  const auditParser = new AuditParser({ mounts: options.watch.mounts });
  const eventParser = new CloudEventParser();
  const unhealthyAfterMs = options.unhealthyAfterMs ?? 60_000;
  const initialBackoff = options.backoff?.initialMs ?? 200;
  const maxBackoff = options.backoff?.maxMs ?? 30_000;
  if (options.sinks.length === 0) throw new RangeError("the forwarder needs at least one sink");
  const names = options.sinks.map((s) => s.name);
  if (new Set(names).size !== names.length)
    throw new RangeError(`sink names must differ: ${names.join(", ")}`);

  const registry = new MetricsRegistry();
  const received = registry.counter(
    "pushsync_events_received_total",
    "Lines and messages read from each source.",
  );
  const filtered = registry.counter(
    "pushsync_events_filtered_total",
    "Changes to secrets no manifest reads.",
  );
  const failures = registry.counter("pushsync_publish_failures_total", "Failed publish calls, each retried.");

  const lanes: Lane[] = options.sinks.map((sink) => ({
    sink,
    buffer: new EventBuffer({ capacity: options.bufferSize, overflow: options.overflow }),
    lastOverflowLog: 0,
  }));

  const handle = (source: SourceName, result: ParseResult): void => {
    received.inc({ source });
    if ("skip" in result) return;
    const event = result.event;
    if (!index.matches(event)) {
      filtered.inc();
      return;
    }
    for (const lane of lanes) {
      if (lane.buffer.offer(event) !== "dropped") continue;
      const now = Date.now();
      if (now - lane.lastOverflowLog < OVERFLOW_LOG_INTERVAL_MS) continue;
      lane.lastOverflowLog = now;
      log.warn("event buffer full, dropping events", {
        sink: lane.sink.name,
        capacity: lane.buffer.capacity,
        overflow: lane.buffer.overflow,
        droppedTotal: lane.buffer.counters.get("dropped"),
      });
    }
  };

  const sources: Source[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(sources.map((s) => s.close()));
  };
  let metricsServer: http.Server | undefined;
  let auditPort: number | undefined;
  try {
    if (options.auditListen) {
      const l = await startAuditListener({
        ...options.auditListen,
        onLine: (line) => handle("audit-tcp", auditParser.parse(line)),
        logger: log,
      });
      sources.push(listenerSource("audit-tcp", l));
      auditPort = l.port;
      log.info(`audit listener on ${options.auditListen.host}:${l.port}`, { port: l.port });
    }
    if (options.auditSocketPath) {
      const l = await startAuditListener({
        socketPath: options.auditSocketPath,
        onLine: (line) => handle("audit-unix", auditParser.parse(line)),
        logger: log,
      });
      sources.push(listenerSource("audit-unix", l));
      log.info(`audit listener on ${options.auditSocketPath}`, { socketPath: options.auditSocketPath });
    }
    if (options.auditFile) {
      const path = options.auditFile;
      const tail = await tailAuditFile({
        path,
        onLine: (line) => handle("audit-file", auditParser.parse(line)),
        logger: log,
      });
      sources.push(tailSource(tail));
      log.info("following audit file", { path });
    }
    if (options.events) {
      const sub = subscribeVaultEvents({
        ...options.events,
        onMessage: (text) => handle("events", eventParser.parse(text)),
        onConnected: () =>
          log.info("vault events connected; changes made while disconnected were not seen", {
            address: options.events!.address,
          }),
        logger: log,
      });
      sources.push({
        name: "events",
        up: () => sub.connected(),
        detail: () => ({ connected: sub.connected() }),
        counters: sub.counters,
        close: () => sub.close(),
      });
    }
    if (sources.length === 0) throw new RangeError("the forwarder needs at least one source");

    if (options.metricsListen) {
      metricsServer = http.createServer(observabilityHandler(registry, () => health()));
      await listenOn(metricsServer, options.metricsListen);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  registerMetrics();

  function registerMetrics(): void {
    registry.collect(
      "pushsync_events_skipped_total",
      "Lines and messages that are no KV change.",
      "counter",
      () => {
        const reasons = new Counters();
        for (const parser of [auditParser, eventParser]) {
          for (const [reason, n] of Object.entries(parser.skipped.snapshot())) reasons.add(reason, n);
        }
        for (const s of sources) reasons.add("oversized", s.counters.get("oversized"));
        return Object.entries(reasons.snapshot()).map(([reason, value]) => ({ labels: { reason }, value }));
      },
    );
    const perLane = (
      name: string,
      help: string,
      type: "counter" | "gauge",
      read: (l: Lane) => number,
    ): void =>
      registry.collect(name, help, type, (): Sample[] =>
        lanes.map((l) => ({ labels: { sink: l.sink.name }, value: read(l) })),
      );
    perLane("pushsync_events_published_total", "Events each sink accepted.", "counter", (l) =>
      l.buffer.counters.get("published"),
    );
    perLane("pushsync_events_dropped_total", "Events dropped because the buffer was full.", "counter", (l) =>
      l.buffer.counters.get("dropped"),
    );
    perLane(
      "pushsync_events_coalesced_total",
      "Events merged into a queued event of the same secret.",
      "counter",
      (l) => l.buffer.counters.get("coalesced"),
    );
    perLane("pushsync_events_queued", "Events waiting to be published.", "gauge", (l) => l.buffer.size);
    perLane("pushsync_events_lag_seconds", "Age of the oldest queued event.", "gauge", (l) =>
      l.buffer.lagSeconds(),
    );
    perLane(
      "pushsync_sink_failing_seconds",
      "How long publishing has been failing (0 when fine).",
      "gauge",
      (l) => (l.failingSince === undefined ? 0 : (Date.now() - l.failingSince) / 1000),
    );
    registry.collect("pushsync_source_up", "1 while a source is listening or connected.", "gauge", () =>
      sources.map((s) => ({ labels: { source: s.name }, value: s.up() ? 1 : 0 })),
    );
  }

  function health(): HealthStatus {
    const now = Date.now();
    const failing = lanes.filter(
      (l) => l.failingSince !== undefined && now - l.failingSince > unhealthyAfterMs,
    );
    return {
      ok: sources.some((s) => s.up()) && failing.length === 0,
      detail: {
        sources: Object.fromEntries(sources.map((s) => [s.name, { up: s.up(), ...s.detail() }])),
        sinks: Object.fromEntries(
          lanes.map((l) => [
            l.sink.name,
            {
              queued: l.buffer.size,
              publishing: l.buffer.inFlight,
              failingSeconds: l.failingSince === undefined ? 0 : Math.round((now - l.failingSince) / 1000),
            },
          ]),
        ),
      },
    };
  }

  // Stopping: `draining` wakes idle loops so they end once their buffer is empty; `halt` ends
  // them at the flush deadline, whatever is left.
  let stopping = false;
  const draining = new AbortController();
  const halt = new AbortController();

  async function run(lane: Lane): Promise<void> {
    const batchSize = lane.sink.maxBatchSize ?? options.maxBatchSize ?? 100;
    let attempt = 0;
    for (;;) {
      if (halt.signal.aborted || (stopping && lane.buffer.size === 0)) return;
      await lane.buffer.whenNotEmpty(draining.signal);
      if (lane.buffer.size === 0) continue;
      const batch = lane.buffer.take(batchSize);
      try {
        await lane.sink.publish(batch.events);
        batch.ack();
        if (lane.failingSince !== undefined)
          log.info("sink recovered", { sink: lane.sink.name, attempts: attempt });
        lane.failingSince = undefined;
        attempt = 0;
      } catch (err) {
        batch.retry();
        failures.inc({ sink: lane.sink.name });
        lane.failingSince ??= Date.now();
        attempt += 1;
        const ceiling = Math.min(maxBackoff, initialBackoff * 2 ** (attempt - 1));
        const delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
        log.warn("publish failed, retrying", {
          sink: lane.sink.name,
          events: batch.events.length,
          attempt,
          delayMs,
          err,
        });
        await sleep(delayMs, undefined, { signal: halt.signal }).catch(() => undefined);
      }
    }
  }
  for (const lane of lanes) lane.loop = run(lane);

  return {
    ...(auditPort !== undefined ? { auditPort } : {}),
    ...(metricsServer ? { metricsPort: (metricsServer.address() as AddressInfo).port } : {}),
    registry,
    health,
    async stop(flushMs = 5_000) {
      if (stopping) return 0;
      stopping = true;
      await stopAll();
      draining.abort();
      const loops = Promise.all(lanes.map((l) => l.loop));
      const deadline = setTimeout(() => halt.abort(), flushMs);
      await Promise.race([loops, new Promise((resolve) => halt.signal.addEventListener("abort", resolve))]);
      clearTimeout(deadline);
      halt.abort();
      // Closing a sink ends a publish still in flight, so every loop ends.
      await Promise.all(lanes.map((l) => l.sink.close?.()));
      await loops;
      metricsServer?.closeAllConnections();
      await new Promise<void>((resolve) =>
        metricsServer ? metricsServer.close(() => resolve()) : resolve(),
      );
      const unpublished = lanes.reduce((n, l) => n + l.buffer.size, 0);
      log.info("forwarder stopped", {
        unpublished,
        published: Object.fromEntries(lanes.map((l) => [l.sink.name, l.buffer.counters.get("published")])),
      });
      return unpublished;
    },
  };
}

function listenerSource(name: SourceName, l: AuditListener): Source {
  let open = true;
  return {
    name,
    up: () => open,
    detail: () => ({ connections: l.activeConnections() }),
    counters: l.counters,
    close: () => ((open = false), l.close()),
  };
}

function tailSource(tail: AuditFileTail): Source {
  let open = true;
  return {
    name: "audit-file",
    up: () => open,
    detail: () => ({ opened: tail.counters.get("opened") }),
    counters: tail.counters,
    close: () => ((open = false), tail.close()),
  };
}

function listenOn(server: http.Server, at: { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
