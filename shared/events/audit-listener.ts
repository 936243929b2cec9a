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
  maxLineBytes?: number;
  logger?: Logger;
}

export interface AuditFileTail {
  /** Counters: lines, oversized, errors, opened (files opened, including after rotation). */
  counters: Counters;
  close(): Promise<void>;
}

/**
 * Follows the file audit device's log by polling. Survives rotation: when the path points to a
 * new file (rename and SIGHUP) or the file shrinks (truncation), the rest of the old file is
 * read and reading starts over at the beginning of the new one. Waits for a missing file.
 */
export async function tailAuditFile(options: AuditFileTailOptions): Promise<AuditFileTail> {
  const log = options.logger ?? silentLogger;
  const counters = new Counters();
  const pollMs = options.pollMs ?? 200;
  const emit = safeEmitter(options.onLine, counters, log);
  const splitter = new LineSplitter(emit, options.maxLineBytes, () => counters.add("oversized"));
  const stop = new AbortController();
  const chunk = Buffer.alloc(64 * 1024);
  let file: { handle: FileHandle; ino: number; pos: number } | undefined;

  async function openFile(atEnd: boolean): Promise<void> {
    try {
      const handle = await open(options.path, "r");
      const st = await handle.stat();
      file = { handle, ino: st.ino, pos: atEnd ? st.size : 0 };
      counters.add("opened");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }

  async function drain(): Promise<void> {
    if (!file) return;
    for (;;) {
      const { bytesRead } = await file.handle.read(chunk, 0, chunk.length, file.pos);
      if (bytesRead === 0) return;
      file.pos += bytesRead;
      splitter.push(chunk.subarray(0, bytesRead));
    }
  }

  async function step(): Promise<void> {
    if (!file) {
      await openFile(false);
      if (!file) return;
    }
    await drain();
    const st = await stat(options.path).catch(() => undefined);
    if (st && st.ino === file.ino) {
      if (st.size < file.pos) {
        file.pos = 0; // truncated in place
        await drain();
      }
      return;
    }
    // Rotated or removed: take the last lines written to the old file, then switch.
    await drain();
    await file.handle.close();
    file = undefined;
    splitter.end();
    await openFile(false);
    await drain();
  }

  await openFile(!options.fromStart);
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
      await file?.handle.close();
      file = undefined;
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
