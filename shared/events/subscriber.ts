/**
 * WebSocket client for Vault event notifications:
 *   GET <address>/v1/sys/events/subscribe/<eventType>?json=true[&namespaces=<pattern>...]
 *   with X-Vault-Token and X-Vault-Namespace
 * Each text frame holds one CloudEvents JSON object (Vault adds a trailing newline); every
 * non-empty line goes to `onMessage`. Binary frames (protobuf, sent without json=true) are
 * counted and ignored.
 *
 * Standby nodes answer the upgrade with 307 to the active node; the redirect is followed (the
 * token header goes along, as Vault's own clients do). After any disconnect or failed dial the
 * client reconnects with exponential backoff and jitter, starting again from `address` since
 * the active node may have changed. Vault pings every 30 s; a connection silent for
 * `idleTimeoutMs` is presumed dead and replaced.
 *
 * Events sent while disconnected are lost (Vault keeps no backlog), so callers should run a full
 * reconcile after a reconnect.
 */
import { setTimeout as sleep } from "node:timers/promises";
import WebSocket from "ws";
import { Counters } from "../observability/counters.ts";
import type { Logger } from "../observability/logger.ts";
import { silentLogger } from "../observability/logger.ts";

export interface VaultEventSubscriberOptions {
  /** Vault address, e.g. "https://vault.example:8200". */
  address: string;
  /** A token, or a function returning the current one (read at every dial). */
  token: string | (() => string | Promise<string>);
  namespace?: string;
  /** Namespaces below `namespace` to receive events from too (Vault's `namespaces` parameter, globs allowed, e.g. "*"). */
  namespaces?: string[];
  /** Event type pattern; default "kv*" (every kv-v1/ and kv-v2/ event). */
  eventType?: string;
  onMessage: (text: string) => void;
  /** Called after every successful (re)connection, e.g. to start a reconcile. */
  onConnected?: () => void;
  /** Extra trusted CA (PEM) for https addresses. */
  ca?: string;
  /** Default 500 ms. */
  initialBackoffMs?: number;
  /** Default 30 s. */
  maxBackoffMs?: number;
  /** Default 90 s (three of Vault's pings). */
  idleTimeoutMs?: number;
  /** Default 5. */
  maxRedirects?: number;
  logger?: Logger;
}

export interface VaultEventSubscriber {
  connected(): boolean;
  /** Counters: dials, connections, disconnects, failures, messages, binary, handlerErrors. */
  counters: Counters;
  close(): Promise<void>;
}

export function subscribeVaultEvents(options: VaultEventSubscriberOptions): VaultEventSubscriber {
  const log = options.logger ?? silentLogger;
  const counters = new Counters();
  const initial = options.initialBackoffMs ?? 500;
  const max = options.maxBackoffMs ?? 30_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 90_000;
  const stop = new AbortController();
  let current: WebSocket | undefined;
  let isOpen = false;

  const url = new URL(options.address);
  url.protocol = url.protocol === "https:" || url.protocol === "wss:" ? "wss:" : "ws:";
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/sys/events/subscribe/${options.eventType ?? "kv*"}`;
  url.searchParams.set("json", "true");
  for (const ns of options.namespaces ?? []) url.searchParams.append("namespaces", ns);

  /** One connection, from dial to close. Resolves with whether it ever opened. */
  async function connectOnce(): Promise<boolean> {
    const token = typeof options.token === "function" ? await options.token() : options.token;
    if (stop.signal.aborted) return false;
    const headers: Record<string, string> = { "X-Vault-Token": token };
    if (options.namespace) headers["X-Vault-Namespace"] = options.namespace;
    counters.add("dials");
    return new Promise((resolve) => {
      const ws = new WebSocket(url, {
        headers,
        followRedirects: true,
        maxRedirects: options.maxRedirects ?? 5,
        handshakeTimeout: 10_000,
        ...(options.ca ? { ca: options.ca } : {}),
      });
      current = ws;
      let opened = false;
      let idle: NodeJS.Timeout | undefined;
      const alive = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => {
          log.warn("vault event stream idle, reconnecting", { idleTimeoutMs });
          ws.terminate();
        }, idleTimeoutMs);
      };
      ws.on("open", () => {
        opened = isOpen = true;
        counters.add("connections");
        log.info("subscribed to vault events", { eventType: options.eventType ?? "kv*" });
        alive();
        options.onConnected?.();
      });
      ws.on("ping", alive);
      ws.on("message", (data, isBinary) => {
        alive();
        if (isBinary) {
          counters.add("binary");
          return;
        }
        for (const line of data.toString().split("\n")) {
          if (line.trim() === "") continue;
          counters.add("messages");
          try {
            options.onMessage(line);
          } catch (err) {
            counters.add("handlerErrors");
            log.error("vault event handler failed", { err });
          }
        }
      });
      ws.on("error", (err) => {
        if (!opened) counters.add("failures");
        log.warn("vault event stream error", { err });
      });
      ws.on("close", (code) => {
        clearTimeout(idle);
        isOpen = false;
        current = undefined;
        if (opened) {
          counters.add("disconnects");
          log.warn("vault event stream closed", { code });
        }
        resolve(opened);
      });
    });
  }

  const loop = (async () => {
    let attempt = 0;
    while (!stop.signal.aborted) {
      let opened = false;
      try {
        opened = await connectOnce();
      } catch (err) {
        counters.add("failures");
        log.warn("vault event stream dial failed", { err });
      }
      if (stop.signal.aborted) break;
      attempt = opened ? 1 : attempt + 1;
      // Half fixed, half random: never zero, so a server that drops at once cannot spin us.
      const ceiling = Math.min(max, initial * 2 ** (attempt - 1));
      const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
      await sleep(delay, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  })();

  return {
    connected: () => isOpen,
    counters,
    close: async () => {
      stop.abort();
      current?.terminate();
      await loop;
    },
  };
}
