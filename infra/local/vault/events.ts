/**
 * Event notifications, as Vault streams them on /v1/sys/events/subscribe/<event-type>?json=true:
 * one CloudEvents JSON text message per event. Subscriptions filter on the event type (glob
 * with `*`) and on namespaces (the subscriber's own, plus `namespaces=` patterns below it).
 * Paths in the metadata get the mount path prepended, as Vault's event bus does.
 */
import type { WebSocket } from "ws";
import type { Mount } from "./model.ts";
import { glob, newUuid, rfc3339 } from "./wire.ts";

interface Subscription {
  socket: WebSocket;
  typePattern: string;
  /** Namespace paths without slashes at either end ("" is root); globs allowed. */
  namespacePatterns: string[];
}

/** Namespace filters as Vault builds them: the request's namespace, plus patterns joined below it. */
export function namespacePatterns(requestNs: string, requested: string[]): string[] {
  const base = requestNs.replace(/^\/+|\/+$/g, "");
  const below = requested
    .map((p) => p.trim().replace(/^\/+|\/+$/g, ""))
    .filter((p) => p !== "")
    .map((p) => (base ? `${base}/${p}` : p));
  return [base, ...below];
}

export class EventBus {
  private subscriptions = new Set<Subscription>();

  subscribe(socket: WebSocket, typePattern: string, namespacePatterns: string[]): void {
    const sub = { socket, typePattern, namespacePatterns };
    this.subscriptions.add(sub);
    socket.on("close", () => this.subscriptions.delete(sub));
  }

  get subscriberCount(): number {
    return this.subscriptions.size;
  }

  publish(nsPath: string, mount: Mount, eventType: string, metadata: Record<string, string>): void {
    if (this.subscriptions.size === 0) return;
    const patched = { ...metadata };
    for (const field of ["path", "data_path"]) {
      if (patched[field] !== undefined) patched[field] = joinPath(mount, patched[field]);
    }
    const id = newUuid();
    const message = JSON.stringify({
      id,
      source: "https://vaultproject.io/",
      specversion: "1.0",
      type: "*",
      data: {
        event: {
          id,
          metadata: Object.fromEntries(Object.entries(patched).sort(([a], [b]) => a.localeCompare(b))),
        },
        ...(nsPath ? { namespace: nsPath } : {}),
        event_type: eventType,
        plugin_info: {
          mount_class: mount.mountClass,
          mount_accessor: mount.accessor,
          mount_path: mount.path,
          plugin: mount.type,
          plugin_version: mount.runningVersion,
        },
      },
      datacontentype: "application/cloudevents",
      time: rfc3339(Date.now()),
    });
    const ns = nsPath.replace(/^\/+|\/+$/g, "");
    for (const sub of this.subscriptions) {
      if (!glob(sub.typePattern, eventType)) continue;
      if (!sub.namespacePatterns.some((p) => glob(p, ns))) continue;
      sub.socket.send(message);
    }
  }

  close(): void {
    for (const sub of this.subscriptions) sub.socket.terminate();
    this.subscriptions.clear();
  }
}

/** Go's path.Join of the mount path and a plugin-relative path ("secret/" + "data/x" = "secret/data/x"). */
function joinPath(mount: Mount, rel: string): string {
  const joined = `${mount.mountClass === "auth" ? "auth/" : ""}${mount.path}${rel}`;
  return joined.replace(/\/+/g, "/").replace(/\/$/, "");
}
