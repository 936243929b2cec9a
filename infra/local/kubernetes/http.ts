/**
 * HTTP in front of the cluster: authentication, URL routing to a resource and verb, query
 * parameters, request bodies, content negotiation (JSON, Tables, aggregated discovery) and
 * Status replies. Request counts and injected faults use operation names:
 *   "<verb> <resource>" with verb get, list, watch, create, update, patch, delete or
 *   deletecollection and the resource as "secrets" or "externalsecrets.external-secrets.io",
 *   plus "/status" for the subresource (e.g. "update externalsecrets.external-secrets.io/status");
 *   "discovery" (/api, /apis and below), "openapi" (/openapi/v3...) and "version".
 */
import { timingSafeEqual } from "node:crypto";
import type http from "node:http";
import { parse as parseYaml } from "yaml";
import { readBody, sendJson, type Faults, type RequestCounter } from "../common/server.ts";
import type { Cluster, DeleteOptions, PatchType } from "./cluster.ts";
import {
  aggregated,
  AGGREGATED_CONTENT_TYPE,
  apiVersions,
  groupDocument,
  groupList,
  openApiDocument,
  openApiRoot,
  resourceList,
  SERVER_VERSION,
  wantsAggregated,
} from "./discovery.ts";
import { badRequest, faultError, KubeError, methodNotAllowed, qualified, unauthorized } from "./errors.ts";
import { isObject, type Json, type KubeObject } from "./objects.ts";
import { decodeProtobuf } from "./protobuf.ts";
import { apiVersionOf, CRD_TYPE, storageKey, type ResourceType } from "./resources.ts";
import { toTable, type IncludeObject } from "./tables.ts";
import type { Watches } from "./watch.ts";

/** The API server's limit on request bodies. */
const MAX_BODY_BYTES = 3 * 1024 * 1024;

interface HttpContext {
  cluster: Cluster;
  watches: Watches;
  token: string;
  faults: Faults;
  requests: RequestCounter;
  /** host:port, for /api's serverAddressByClientCIDRs. */
  address: string;
}

const notFoundPath = () =>
  new KubeError(404, "NotFound", "the server could not find the requested resource", {});

function sendError(res: http.ServerResponse, err: unknown): void {
  const e =
    err instanceof KubeError
      ? err
      : new KubeError(500, "InternalError", `Internal error occurred: ${String(err)}`);
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, e.code, e.status(), e.headers);
}

function authorized(req: http.IncomingMessage, token: string): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The Table flavour the Accept header asks for, if any. */
function tableRequested(accept: string | undefined, query: URLSearchParams): IncludeObject | undefined {
  const asTable = (accept ?? "")
    .split(",")
    .some((entry) => /;\s*as=Table/.test(entry) && /;\s*g=meta\.k8s\.io/.test(entry));
  if (!asTable) return undefined;
  const include = query.get("includeObject") ?? "Metadata";
  if (include !== "None" && include !== "Metadata" && include !== "Object") {
    throw badRequest(
      `includeObject: Unsupported value: "${include}": supported values: "None", "Metadata", "Object"`,
    );
  }
  return include;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  let body: Buffer;
  try {
    body = await readBody(req, MAX_BODY_BYTES);
  } catch {
    throw new KubeError(413, "RequestEntityTooLarge", `Request entity too large: limit is ${MAX_BODY_BYTES}`);
  }
  const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim();
  if (contentType === "application/vnd.kubernetes.protobuf") return decodeProtobuf(body);
  const text = body.toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return /yaml/.test(contentType) ? parseYaml(text) : JSON.parse(text);
  } catch {
    // Parser messages quote the input, which may hold secret values: never pass them on.
    throw badRequest(
      "couldn't get version/kind; json parse error: the request body is not valid JSON or YAML",
    );
  }
}

const flag = (q: URLSearchParams, name: string) => {
  const v = q.get(name);
  return v === null ? undefined : v === "true" || v === "1";
};

interface Target {
  type: ResourceType;
  namespace?: string;
  name?: string;
  status: boolean;
  watchPath: boolean;
}

/** /api/v1/... or /apis/<group>/<version>/... after the group version, to a resource. */
function resolveTarget(cluster: Cluster, group: string, version: string, segs: string[]): Target {
  const watchPath = segs[0] === "watch";
  if (watchPath) segs = segs.slice(1);
  let namespace: string | undefined;
  if (
    segs[0] === "namespaces" &&
    segs.length >= 3 &&
    !(group === "" && segs.length === 3 && segs[2] === "status")
  ) {
    namespace = segs[1];
    segs = segs.slice(2);
  }
  const [plural, name, sub, ...extra] = segs;
  const type = plural === undefined ? undefined : cluster.registry.find(group, version, plural);
  if (!type || extra.length > 0 || (type.namespaced && name !== undefined && namespace === undefined))
    throw notFoundPath();
  if (!type.namespaced && namespace !== undefined) throw notFoundPath();
  if (sub !== undefined && (sub !== "status" || !type.statusSubresource || watchPath)) throw notFoundPath();
  return { type, namespace, name, status: sub === "status", watchPath };
}

function verbOf(method: string, t: Target, query: URLSearchParams): string {
  const item = t.name !== undefined;
  switch (method) {
    case "GET":
      if (t.watchPath || (!item && flag(query, "watch"))) return "watch";
      return item ? "get" : "list";
    case "POST":
      if (item) throw methodNotAllowed(method);
      return "create";
    case "PUT":
      if (!item) throw methodNotAllowed(method);
      return "update";
    case "PATCH":
      if (!item) throw methodNotAllowed(method);
      return "patch";
    case "DELETE":
      return item ? "delete" : "deletecollection";
    default:
      throw methodNotAllowed(method);
  }
}

function patchTypeOf(contentType: string, type: ResourceType): PatchType {
  const media = contentType.split(";")[0]!.trim();
  if (media === "application/merge-patch+json") return "merge";
  if (media === "application/json-patch+json") return "json";
  if (media === "application/strategic-merge-patch+json" && type.typed) return "strategic";
  const accepted = [
    "application/json-patch+json",
    "application/merge-patch+json",
    ...(type.typed ? ["application/strategic-merge-patch+json"] : []),
  ];
  const why =
    media === "application/apply-patch+yaml"
      ? " (server-side apply is not supported by the local Kubernetes API)"
      : "";
  throw new KubeError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}${why}`,
  );
}

function deleteOptions(body: unknown, query: URLSearchParams): DeleteOptions {
  const b = isObject(body) ? body : {};
  return {
    propagationPolicy:
      (b.propagationPolicy as string | undefined) ?? query.get("propagationPolicy") ?? undefined,
    orphanDependents: (b.orphanDependents as boolean | undefined) ?? flag(query, "orphanDependents"),
    preconditions: isObject(b.preconditions)
      ? (b.preconditions as DeleteOptions["preconditions"])
      : undefined,
    dryRun: (Array.isArray(b.dryRun) && b.dryRun.includes("All")) || query.get("dryRun") === "All",
  };
}

function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === "") return undefined;
  if (!/^\d+$/.test(v))
    throw badRequest(`${name}: invalid value ${JSON.stringify(v)}: must be a non-negative integer`);
  return Number(v);
}

export function createHandler(ctx: HttpContext): http.RequestListener {
  const { cluster, faults, requests } = ctx;

  const count = (operation: string) => {
    requests.add(operation);
    const fault = faults.take(operation);
    if (fault) throw faultError(fault.status, fault.retryAfterSeconds);
  };

  const crdsByName = () =>
    new Map(
      cluster.store.list(storageKey(CRD_TYPE)).map((o) => [o.metadata.name!, o] as [string, KubeObject]),
    );

  const discovery = (req: http.IncomingMessage, res: http.ServerResponse, segs: string[]) => {
    count("discovery");
    const accept = req.headers.accept;
    if (segs.length === 1 && wantsAggregated(accept)) {
      const doc = aggregated(cluster.registry, segs[0] === "api");
      sendJson(res, 200, doc, { "content-type": AGGREGATED_CONTENT_TYPE, vary: "Accept" });
      return;
    }
    if (segs[0] === "api") {
      if (segs.length === 1) return sendJson(res, 200, apiVersions(ctx.address));
      const types = cluster.registry
        .groups()
        .find((g) => g.name === "")
        ?.versions.find((v) => v.version === segs[1]);
      if (segs.length === 2 && types) return sendJson(res, 200, resourceList(segs[1]!, types.types));
    } else {
      if (segs.length === 1) return sendJson(res, 200, groupList(cluster.registry));
      const group = segs[1]!;
      if (segs.length === 2) {
        const doc = groupDocument(cluster.registry, group);
        if (doc) return sendJson(res, 200, doc);
      }
      const types = cluster.registry
        .groups()
        .find((g) => g.name === group)
        ?.versions.find((v) => v.version === segs[2]);
      if (segs.length === 3 && types)
        return sendJson(res, 200, resourceList(`${group}/${segs[2]}`, types.types));
    }
    throw notFoundPath();
  };

  const openapi = (res: http.ServerResponse, segs: string[]) => {
    count("openapi");
    if (segs[1] !== "v3") throw notFoundPath();
    if (segs.length === 2) return sendJson(res, 200, openApiRoot(cluster.registry, crdsByName()));
    const doc = openApiDocument(cluster.registry, segs.slice(2).join("/"), crdsByName());
    if (!doc) throw notFoundPath();
    sendJson(res, 200, doc);
  };

  const resource = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL, segs: string[]) => {
    const core = segs[0] === "api";
    const group = core ? "" : segs[1]!;
    const version = core ? segs[1]! : segs[2]!;
    const target = resolveTarget(cluster, group, version, segs.slice(core ? 2 : 3));
    const { type, namespace, name, status } = target;
    const q = url.searchParams;
    const verb = verbOf(req.method ?? "GET", target, q);
    count(`${verb} ${qualified({ group: type.group, resource: type.plural })}${status ? "/status" : ""}`);
    const table = tableRequested(req.headers.accept, q);
    const dryRun = q.get("dryRun") === "All";
    const headers: Record<string, string> = type.deprecated
      ? { warning: `299 - "${apiVersionOf(type)} ${type.kind} is deprecated"` }
      : {};
    const reply = (code: number, obj: Json) => {
      const body =
        table && obj.kind !== "Status"
          ? toTable(
              type,
              [obj as KubeObject],
              { resourceVersion: (obj.metadata as Json).resourceVersion },
              table,
            )
          : obj;
      sendJson(res, code, body, headers);
    };
    const listQuery = {
      labelSelector: q.get("labelSelector") ?? undefined,
      fieldSelector: q.get("fieldSelector") ?? undefined,
      resourceVersion: q.get("resourceVersion") ?? undefined,
      resourceVersionMatch: q.get("resourceVersionMatch") ?? undefined,
    };

    switch (verb) {
      case "get":
        return reply(200, cluster.get(type, namespace, name!));
      case "list": {
        const list = cluster.list(type, namespace, {
          ...listQuery,
          limit: intParam(q, "limit"),
          continue: q.get("continue") ?? undefined,
        });
        if (!table) return sendJson(res, 200, list, headers);
        const items = (list.items as Json[]).map(
          (item) => ({ apiVersion: list.apiVersion, kind: type.kind, ...item }) as KubeObject,
        );
        return sendJson(res, 200, toTable(type, items, list.metadata as Json, table), headers);
      }
      case "watch": {
        const fieldSelector =
          target.watchPath && name !== undefined
            ? [listQuery.fieldSelector, `metadata.name=${name}`].filter(Boolean).join(",")
            : listQuery.fieldSelector;
        const sendInitialEvents = flag(q, "sendInitialEvents");
        return ctx.watches.serve(
          type,
          namespace,
          {
            ...listQuery,
            fieldSelector,
            allowWatchBookmarks: flag(q, "allowWatchBookmarks"),
            sendInitialEvents,
            timeoutSeconds: intParam(q, "timeoutSeconds"),
            table,
          },
          res,
        );
      }
      case "create":
        return reply(201, cluster.create(type, namespace, await readJson(req), dryRun));
      case "update":
        return reply(200, cluster.update(type, namespace, name!, await readJson(req), { status, dryRun }));
      case "patch": {
        const patchType = patchTypeOf(req.headers["content-type"] ?? "", type);
        const patch = await readJson(req);
        return reply(200, cluster.patch(type, namespace, name!, patchType, patch, { status, dryRun }));
      }
      case "delete":
        return reply(200, cluster.delete(type, namespace, name!, deleteOptions(await readJson(req), q)));
      default:
        return sendJson(
          res,
          200,
          cluster.deleteCollection(type, namespace, listQuery, deleteOptions(await readJson(req), q)),
          headers,
        );
    }
  };

  return (req, res) => {
    const run = async () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      let segs: string[];
      try {
        segs = url.pathname
          .split("/")
          .filter((s) => s !== "")
          .map(decodeURIComponent);
      } catch {
        throw badRequest("invalid URL path encoding");
      }
      if (["healthz", "livez", "readyz"].includes(segs[0] ?? "") && segs.length === 1) {
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        res.end("ok");
        return;
      }
      if (!authorized(req, ctx.token)) throw unauthorized();
      await faults.delay();
      if (segs.length === 1 && segs[0] === "version") {
        count("version");
        return sendJson(res, 200, SERVER_VERSION);
      }
      if (segs[0] === "openapi") return openapi(res, segs);
      const isResource = (segs[0] === "api" && segs.length > 2) || (segs[0] === "apis" && segs.length > 3);
      if (isResource) return resource(req, res, url, segs);
      if (segs[0] === "api" || segs[0] === "apis") return discovery(req, res, segs);
      throw notFoundPath();
    };
    run().catch((err: unknown) => sendError(res, err));
  };
}
