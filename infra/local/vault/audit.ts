/**
 * Audit devices (sys/audit): `socket` (TCP or unix socket, dialled by the server) and `file`.
 * Each writes one JSON entry per line: a `request` entry before the request runs and a
 * `response` entry after, in Vault's field layout. Every string value in tokens and in request
 * and response data is replaced by "hmac-sha256:<hex>", keyed with the device's own salt
 * (sys/audit-hash/<name> computes the same); numbers, booleans and paths stay readable.
 *
 * Vault refuses a request (500) when audit devices are enabled and none of them could log it.
 * The server does the same when `strict` is set; otherwise a failed write is only skipped.
 * A socket that fails is dialled again for the next entry.
 */
import { createHmac } from "node:crypto";
import { appendFile } from "node:fs/promises";
import net from "node:net";
import type { Mount, Namespace } from "./model.ts";
import type { Token } from "./tokens.ts";
import {
  badRequest,
  isObject,
  newUuid,
  parseDuration,
  rfc3339,
  VaultApiError,
  type Json,
  type Operation,
  type Result,
} from "./wire.ts";

/** What one request looked like, for its two audit entries. */
export interface AuditRecord {
  requestId: string;
  operation: Operation;
  ns: Namespace;
  /** Path inside the namespace. */
  path: string;
  data: Json;
  mount: Mount;
  /** The token as presented, if any. */
  clientToken?: string;
  /** The token it resolved to; absent on unauthenticated paths and when authentication failed. */
  token?: Token;
  remoteAddress?: string;
  remotePort?: number;
}

export interface AuditOutcome {
  result?: Result;
  /** A token the response handed out (login, auth/token/create). */
  issued?: Token;
  error?: string;
}

interface Sink {
  write(line: string): Promise<void>;
  close(): void;
}

/** Dials on the first entry, writes entries in order, redials once when a write fails. */
class SocketSink implements Sink {
  private socket: net.Socket | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly target: net.NetConnectOpts,
    private readonly timeoutMs: number,
  ) {}

  write(line: string): Promise<void> {
    const next = this.queue.then(() => this.send(line).catch(() => (this.drop(), this.send(line))));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.drop();
  }

  private drop(s = this.socket): void {
    s?.destroy();
    if (this.socket === s) this.socket = undefined;
  }

  private async send(line: string): Promise<void> {
    const socket = this.socket ?? (await this.connect());
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("audit socket write timed out")), this.timeoutMs);
      socket.write(line, (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  private connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.target);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error("audit socket connect timed out"));
      }, this.timeoutMs);
      s.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      s.once("connect", () => {
        clearTimeout(timer);
        s.on("error", () => this.drop(s));
        s.on("close", () => this.drop(s));
        this.socket = s;
        resolve(s);
      });
    });
  }
}

class FileSink implements Sink {
  constructor(private readonly path: string) {}

  async write(line: string): Promise<void> {
    if (this.path === "discard") return;
    if (this.path === "stdout") process.stdout.write(line);
    else await appendFile(this.path, line);
  }

  close(): void {}
}

interface Device {
  path: string;
  type: string;
  description: string;
  options: Record<string, string>;
  salt: string;
  hmacAccessor: boolean;
  raw: boolean;
  prefix: string;
  sink: Sink;
}

/** Replaces every string in a JSON value; keys are kept and sorted, as Go's encoder writes maps. */
function hashValues(v: unknown, hash: (s: string) => string): unknown {
  if (typeof v === "string") return hash(v);
  if (Array.isArray(v)) return v.map((x) => hashValues(x, hash));
  if (isObject(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, hashValues(v[k], hash)]),
    );
  return v;
}

const secondsRfc3339 = (ms: number): string => rfc3339(Math.floor(ms / 1000) * 1000).replace(".000Z", "Z");
const nonEmpty = (v: Json | null | undefined): Json | undefined =>
  v && Object.keys(v).length > 0 ? v : undefined;

export class AuditBroker {
  private devices = new Map<string, Device>();

  constructor(private readonly strict: boolean) {}

  enable(name: string, data: Json): void {
    const path = name.endsWith("/") ? name : `${name}/`;
    if (this.devices.has(path)) throw badRequest("path already in use");
    const type = String(data.type ?? "");
    const options: Record<string, string> = isObject(data.options)
      ? Object.fromEntries(Object.entries(data.options).map(([k, v]) => [k, String(v)]))
      : {};
    if ((options.format ?? "json") !== "json") throw badRequest(`unsupported format "${options.format}"`);
    let sink: Sink;
    if (type === "socket") {
      const address = options.address ?? "";
      if (address === "") throw badRequest("address is required");
      const socketType = options.socket_type ?? "tcp";
      const timeoutMs = parseDuration(options.write_timeout ?? "2s", "write_timeout") * 1000;
      if (socketType === "unix") sink = new SocketSink({ path: address }, timeoutMs);
      else if (socketType === "tcp") {
        const colon = address.lastIndexOf(":");
        const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
        sink = new SocketSink({ host, port: Number(address.slice(colon + 1)) }, timeoutMs);
      } else throw badRequest(`socket_type "${socketType}" is not supported by the local Vault`);
    } else if (type === "file") {
      const file = options.file_path ?? options.path ?? "";
      if (file === "") throw badRequest("file_path is required");
      sink = new FileSink(file);
    } else if (type === "syslog") {
      throw badRequest("syslog audit devices are not supported by the local Vault");
    } else {
      throw badRequest(`unknown backend type: "${type}"`);
    }
    this.devices.set(path, {
      path,
      type,
      description: String(data.description ?? ""),
      options,
      salt: newUuid(),
      hmacAccessor: options.hmac_accessor !== "false",
      raw: options.log_raw === "true",
      prefix: options.prefix ?? "",
      sink,
    });
  }

  disable(name: string): void {
    const path = name.endsWith("/") ? name : `${name}/`;
    this.devices.get(path)?.sink.close();
    this.devices.delete(path);
  }

  list(): Json {
    const out: Json = {};
    for (const d of [...this.devices.values()].sort((a, b) => a.path.localeCompare(b.path))) {
      out[d.path] = {
        description: d.description,
        local: false,
        options: d.options,
        path: d.path,
        type: d.type,
      };
    }
    return out;
  }

  /** sys/audit-hash/<name>: the HMAC this device writes for `input`. */
  hash(name: string, input: string): string {
    const d = this.devices.get(name.endsWith("/") ? name : `${name}/`);
    if (!d) throw badRequest(`unknown audit backend "${name}"`);
    return this.hmac(d, input);
  }

  async logRequest(rec: AuditRecord, error?: string): Promise<void> {
    await this.broadcast((d) => ({
      time: rfc3339(Date.now()),
      type: "request",
      auth: this.authEntry(d, rec, error),
      request: this.requestEntry(d, rec),
      ...(error ? { error } : {}),
    }));
  }

  async logResponse(rec: AuditRecord, outcome: AuditOutcome): Promise<void> {
    const r = outcome.result;
    await this.broadcast((d) => ({
      time: rfc3339(Date.now()),
      type: "response",
      auth: this.authEntry(d, rec, outcome.error),
      request: this.requestEntry(d, rec),
      response: {
        ...(outcome.issued ? { auth: this.tokenEntry(d, outcome.issued) } : {}),
        ...this.mountEntry(rec.mount, "mount_running_plugin_version"),
        ...(nonEmpty(r?.data) ? { data: this.hashData(d, r!.data) } : {}),
        ...(r?.warnings?.length ? { warnings: r.warnings } : {}),
      },
      ...(outcome.error ? { error: outcome.error } : {}),
    }));
  }

  close(): void {
    for (const d of this.devices.values()) d.sink.close();
  }

  private hmac(d: Device, s: string): string {
    return `hmac-sha256:${createHmac("sha256", d.salt).update(s).digest("hex")}`;
  }

  private hashData(d: Device, data: unknown): unknown {
    return hashValues(data, d.raw ? (s) => s : (s) => this.hmac(d, s));
  }

  private secret(d: Device, s: string): string {
    return d.raw ? s : this.hmac(d, s);
  }

  private accessor(d: Device, s: string): string {
    return d.hmacAccessor ? this.secret(d, s) : s;
  }

  private tokenEntry(d: Device, t: Token): Json {
    return {
      client_token: this.secret(d, t.id),
      accessor: this.accessor(d, t.accessor),
      display_name: t.displayName,
      policies: t.policies,
      token_policies: t.policies,
      ...(nonEmpty(t.meta) ? { metadata: t.meta } : {}),
      token_type: "service",
      ...(t.creationTtl ? { token_ttl: t.creationTtl } : {}),
      token_issue_time: secondsRfc3339(t.issueTime),
    };
  }

  private authEntry(d: Device, rec: AuditRecord, error?: string): Json {
    const t = rec.token;
    if (!t) return { policy_results: { allowed: !error }, token_type: "default" };
    const { client_token, accessor, display_name, policies, token_policies, metadata, ...rest } =
      this.tokenEntry(d, t);
    const granting = t.policies.map((name) => ({ name, namespace_id: t.ns.id, type: "acl" }));
    return {
      client_token,
      accessor,
      display_name,
      policies,
      token_policies,
      policy_results: { allowed: !error, granting_policies: granting },
      ...(metadata ? { metadata } : {}),
      ...rest,
    };
  }

  private mountEntry(m: Mount, versionKey: string): Json {
    return {
      mount_point: m.mountClass === "auth" ? `auth/${m.path}` : m.path,
      mount_type: m.type,
      mount_accessor: m.accessor,
      [versionKey]: m.runningVersion,
      mount_class: m.mountClass,
    };
  }

  private requestEntry(d: Device, rec: AuditRecord): Json {
    return {
      id: rec.requestId,
      operation: rec.operation,
      ...this.mountEntry(rec.mount, "mount_running_version"),
      ...(rec.clientToken ? { client_token: this.secret(d, rec.clientToken) } : {}),
      ...(rec.token ? { client_token_accessor: this.accessor(d, rec.token.accessor) } : {}),
      namespace: rec.ns.path === "" ? { id: rec.ns.id } : { id: rec.ns.id, path: rec.ns.path },
      path: rec.path,
      ...(nonEmpty(rec.data) ? { data: this.hashData(d, rec.data) } : {}),
      ...(rec.remoteAddress ? { remote_address: rec.remoteAddress, remote_port: rec.remotePort } : {}),
    };
  }

  /** Writes one entry per device; fails the request when strict and no device could write it. */
  private async broadcast(entry: (d: Device) => Json): Promise<void> {
    if (this.devices.size === 0) return;
    const devices = [...this.devices.values()];
    const results = await Promise.allSettled(
      devices.map((d) => d.sink.write(`${d.prefix}${JSON.stringify(entry(d))}\n`)),
    );
    if (this.strict && results.every((r) => r.status === "rejected")) {
      throw new VaultApiError(500, ["internal error"]);
    }
  }
}
