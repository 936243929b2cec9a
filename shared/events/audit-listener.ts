/**
 * Receiving Vault audit entries: a server for the socket audit device (TCP or Unix socket) and a
 * tailer for the file audit device. Both hand complete lines to `onLine`.
 *
 * Vault's socket device blocks Vault's own requests (up to its write_timeout, 2 s by default)
 * when the reader stalls, so the server never pushes back: every chunk is split into lines and
 * handed over synchronously as it arrives, with no awaiting in between. `onLine` must be quick
 * (parse and `EventBuffer.offer` are). Lines may be split across chunks and a chunk may hold many
 * lines; each Vault node keeps its own connection and reconnects after a failure.
 *
 * A line longer than `maxLineBytes` is discarded up to its newline and counted as "oversized".
 */
import { open, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Counters } from "../observability/counters.ts";
import type { Logger } from "../observability/logger.ts";
import { silentLogger } from "../observability/logger.ts";

const NEWLINE = 0x0a;
const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;

/** Splits a byte stream into lines; decodes each complete line once, so split UTF-8 is safe. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private discarding = false;

  constructor(
    private readonly emit: (line: string) => void,
    private readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES,
    private readonly onOversized: () => void = () => undefined,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) {
        this.keep(chunk.subarray(start));
        return;
      }
      this.keep(chunk.subarray(start, nl));
      this.flush();
      start = nl + 1;
    }
  }

  /** Emits what is left when the stream ends without a final newline. */
  end(): void {
    this.flush();
  }

  private keep(part: Buffer): void {
    if (this.discarding || part.length === 0) return;
    this.size += part.length;
    if (this.size > this.maxLineBytes) {
      this.discarding = true;
      this.parts = [];
      this.size = 0;
      this.onOversized();
      return;
    }
    this.parts.push(part);
  }

  private flush(): void {
    const line =
      this.parts.length === 1 ? this.parts[0]!.toString("utf8") : Buffer.concat(this.parts).toString("utf8");
    this.parts = [];
    this.size = 0;
    this.discarding = false;
    if (line.trim() !== "") this.emit(line);
  }
}

export interface AuditListenerOptions {
  /** TCP host; default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /** Listen on this Unix socket path instead of TCP. */
  socketPath?: string;
  onLine: (line: string) => void;
  maxLineBytes?: number;
  logger?: Logger;
}

export interface AuditListener {
  /** TCP port (0 for a Unix socket). */
  port: number;
  /** Counters: connections, lines, oversized, errors. */
  counters: Counters;
  /** Connections open now. */
  activeConnections(): number;
  close(): Promise<void>;
}

export async function startAuditListener(options: AuditListenerOptions): Promise<AuditListener> {
  const log = options.logger ?? silentLogger;
  const counters = new Counters();
  const sockets = new Set<net.Socket>();
  const emit = safeEmitter(options.onLine, counters, log);

  const server = net.createServer((socket) => {
    counters.add("connections");
    sockets.add(socket);
    socket.setKeepAlive(true, 30_000);
    const splitter = new LineSplitter(emit, options.maxLineBytes, () => counters.add("oversized"));
    socket.on("data", (chunk: Buffer) => splitter.push(chunk));
    socket.on("end", () => splitter.end());
    socket.on("error", (err) => {
      counters.add("errors");
      log.warn("audit connection error", { err });
    });
    socket.on("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    const ready = (): void => {
      server.off("error", reject);
      resolve();
    };
    if (options.socketPath) server.listen(options.socketPath, ready);
    else server.listen(options.port ?? 0, options.host ?? "127.0.0.1", ready);
  });
  const address = server.address();
  server.on("error", (err) => log.error("audit listener error", { err }));

  return {
    port: typeof address === "object" && address ? address.port : 0,
    counters,
    activeConnections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface AuditFileTailOptions {
  path: string;
  onLine: (line: string) => void;
  /** Read the existing content first; default false (start at the end). */
  fromStart?: boolean;
  /** Default 200 ms. */
  pollMs?: number;
  /** How long a rotated-away file is still read after its last growth. Default 5 s. */
  rotationGraceMs?: number;
  maxLineBytes?: number;
  logger?: Logger;
}

export interface AuditFileTail {
  /** Counters: lines, oversized, errors, opened (files opened, including after rotation). */
  counters: Counters;
  close(): Promise<void>;
}

interface OpenFile {
  handle: FileHandle;
  ino: number;
  pos: number;
  /** One per file, so a partial line of one file never joins a line of another. */
  splitter: LineSplitter;
  /** Last time reading it returned data (for the rotated-away file). */
  lastDataAt: number;
}

/**
 * Follows the file audit device's log by polling. Survives rotation: a rotator renames the log
 * (and may create a new one) before Vault reopens it on SIGHUP, so Vault keeps writing to the
 * old file for a while. When a new file appears at the path, reading starts at its beginning
 * and the old file keeps being read until it has been quiet for `rotationGraceMs`. A file that
 * shrinks (truncation) is read again from the start. A missing file is waited for.
 */
export async function tailAuditFile(options: AuditFileTailOptions): Promise<AuditFileTail> {
  const log = options.logger ?? silentLogger;
  const counters = new Counters();
  const pollMs = options.pollMs ?? 200;
  const graceMs = options.rotationGraceMs ?? 5_000;
  const emit = safeEmitter(options.onLine, counters, log);
  const stop = new AbortController();
  const chunk = Buffer.alloc(64 * 1024);
  let current: OpenFile | undefined;
  let rotated: OpenFile | undefined;

  async function openFile(atEnd: boolean): Promise<OpenFile | undefined> {
    try {
      const handle = await open(options.path, "r");
      const st = await handle.stat();
      counters.add("opened");
      const splitter = new LineSplitter(emit, options.maxLineBytes, () => counters.add("oversized"));
      return { handle, ino: st.ino, pos: atEnd ? st.size : 0, splitter, lastDataAt: Date.now() };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      return undefined;
    }
  }

  async function drain(f: OpenFile): Promise<void> {
    for (;;) {
      const { bytesRead } = await f.handle.read(chunk, 0, chunk.length, f.pos);
      if (bytesRead === 0) return;
      f.pos += bytesRead;
      f.lastDataAt = Date.now();
      f.splitter.push(chunk.subarray(0, bytesRead));
    }
  }

  async function retire(f: OpenFile): Promise<void> {
    await drain(f);
    f.splitter.end();
    await f.handle.close();
  }

  async function step(): Promise<void> {
    if (rotated) {
      await drain(rotated);
      if (Date.now() - rotated.lastDataAt > graceMs) {
        await retire(rotated);
        rotated = undefined;
      }
    }
    current ??= await openFile(false);
    if (!current) return;
    await drain(current);
    const st = await stat(options.path).catch(() => undefined);
    if (!st) return; // renamed or removed: keep reading the open file until a new one appears
    if (st.ino === current.ino) {
      if (st.size < current.pos) {
        current.pos = 0; // truncated in place
        await drain(current);
      }
      return;
    }
    if (rotated) await retire(rotated);
    rotated = current;
    current = await openFile(false);
    if (current) await drain(current);
  }

  current = await openFile(!options.fromStart);
  const loop = (async () => {
    while (!stop.signal.aborted) {
      try {
        await step();
      } catch (err) {
        counters.add("errors");
        log.warn("audit file read error", { path: options.path, err });
      }
      await sleep(pollMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  })();

  return {
    counters,
    close: async () => {
      stop.abort();
      await loop;
      for (const f of [rotated, current]) await f?.handle.close();
      rotated = current = undefined;
    },
  };
}

function safeEmitter(
  onLine: (line: string) => void,
  counters: Counters,
  log: Logger,
): (line: string) => void {
  return (line) => {
    counters.add("lines");
    try {
      onLine(line);
    } catch (err) {
      counters.add("errors");
      log.error("audit line handler failed", { err });
    }
  };
}
