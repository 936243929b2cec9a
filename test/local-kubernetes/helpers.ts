/**
 * A local Kubernetes API server in a temporary directory, plain HTTPS calls to it as any client
 * would make them, raw watch streams, and kubectl with the written kubeconfig.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { KubeConfig } from "@kubernetes/client-node";
import {
  startLocalKubernetes,
  type LocalKubernetes,
  type LocalKubernetesOptions,
} from "../../infra/local/kubernetes/index.ts";

/** A parsed response body; tests read it field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonBody = any;

export interface Cluster {
  k8s: LocalKubernetes;
  kc: KubeConfig;
  dir: string;
  close(): Promise<void>;
}

export async function startCluster(options: LocalKubernetesOptions = {}): Promise<Cluster> {
  const dir = await mkdtemp(path.join(tmpdir(), "pushsync-k8s-"));
  const k8s = await startLocalKubernetes({
    port: 0,
    kubeconfigPath: path.join(dir, "kubeconfig"),
    ...options,
  });
  const kc = new KubeConfig();
  kc.loadFromFile(k8s.kubeconfigPath);
  return {
    k8s,
    kc,
    dir,
    async close() {
      await k8s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: JsonBody;
  text: string;
}

export interface CallOptions {
  /** JSON-encoded unless a string or a Buffer. */
  body?: unknown;
  /** Default application/json (application/merge-patch+json for PATCH). */
  contentType?: string;
  headers?: Record<string, string>;
  /** Default: the server's token; null sends no Authorization header. */
  token?: string | null;
}

export function api(
  k8s: LocalKubernetes,
  method: string,
  urlPath: string,
  options: CallOptions = {},
): Promise<Reply> {
  const token = options.token === undefined ? k8s.token : options.token;
  const body =
    options.body === undefined || Buffer.isBuffer(options.body) || typeof options.body === "string"
      ? options.body
      : JSON.stringify(options.body);
  const headers: Record<string, string> = {
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    ...(body === undefined
      ? {}
      : {
          "content-type":
            options.contentType ?? (method === "PATCH" ? "application/merge-patch+json" : "application/json"),
          "content-length": String(Buffer.byteLength(body)),
        }),
    ...options.headers,
  };
  return new Promise((resolve, reject) => {
    const req = https.request(`${k8s.url}${urlPath}`, { method, headers, ca: k8s.caCertPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: JsonBody;
        try {
          parsed = text === "" ? undefined : JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

export interface RawWatch {
  status: number;
  events: JsonBody[];
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  stop(): void;
}

/** Opens a watch (GET with the query already in `urlPath`) and collects its events. */
export function watch(
  k8s: LocalKubernetes,
  urlPath: string,
  headers: Record<string, string> = {},
): Promise<RawWatch> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${k8s.url}${urlPath}`,
      { headers: { authorization: `Bearer ${k8s.token}`, ...headers }, ca: k8s.caCertPem },
      (res) => {
        const events: JsonBody[] = [];
        const ended = new Promise<void>((done) => res.on("close", () => done()));
        const lines = createInterface(res).on("line", (line) => {
          if (line.trim() !== "") events.push(JSON.parse(line));
        });
        // stop() aborts the response on purpose.
        res.on("error", () => {});
        lines.on("error", () => {});
        resolve({ status: res.statusCode ?? 0, events, ended, stop: () => req.destroy() });
      },
    );
    req.on("error", (err) => {
      if ((err as NodeJS.ErrnoException).code !== "ECONNRESET") reject(err);
    });
    req.end();
  });
}

export { until } from "../support/until.ts";

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the kubectl binary with the cluster's kubeconfig and a private discovery cache. */
export function kubectl(
  cluster: Cluster,
  args: string[],
  kubeconfig = cluster.k8s.kubeconfigPath,
): Promise<KubectlResult> {
  const env = { ...process.env, KUBECONFIG: kubeconfig, KUBECACHEDIR: path.join(cluster.dir, "cache") };
  return new Promise((resolve, reject) => {
    execFile("kubectl", args, { env, timeout: 15_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") return reject(err);
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

export const b64 = (s: string) => Buffer.from(s).toString("base64");

export function secret(name: string, data: Record<string, string> = {}, extra: JsonBody = {}): JsonBody {
  const { metadata, ...rest } = extra;
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, ...metadata },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    ...rest,
  };
}

export const ES_V1 = "/apis/external-secrets.io/v1";

export function externalSecret(name: string, extra: JsonBody = {}): JsonBody {
  const { metadata, spec, ...rest } = extra;
  return {
    apiVersion: "external-secrets.io/v1",
    kind: "ExternalSecret",
    metadata: { name, ...metadata },
    spec: {
      secretStoreRef: { kind: "SecretStore", name: "vault" },
      target: { name },
      refreshInterval: "1h",
      ...spec,
    },
    ...rest,
  };
}
