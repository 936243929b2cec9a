/**
 * The API semantics on top of the store, per verb: what create, update, patch, delete and list
 * do to objects and metadata, as the API server does them.
 *
 * - create: name or generateName, uid, creationTimestamp, generation 1 for kinds that count it;
 *   the namespace must exist and not be terminating.
 * - update (PUT): optimistic concurrency on metadata.resourceVersion (409 Conflict when stale;
 *   custom resources and CRDs must send one); a write that changes nothing stores nothing.
 * - status subresource: writes to the resource keep the stored status, writes to /status change
 *   only status. metadata.generation grows when anything outside metadata (and status, with a
 *   status subresource) changes.
 * - delete: finalizers keep the object, marked with deletionTimestamp, until they are all removed;
 *   no finalizer can be added meanwhile. propagationPolicy Background (default), Foreground
 *   (finalizer foregroundDeletion) and Orphan (finalizer orphan).
 * - garbage collection, run after each relevant write: objects whose owners (ownerReferences, by
 *   uid) are all gone are deleted, references to vanished owners are dropped while another owner
 *   remains; terminating namespaces are emptied and then removed.
 * - CustomResourceDefinitions register their kinds on write; deleting one deletes its objects.
 * - list: label and field selectors, limit and continue (pages are consistent: each continue
 *   reads at the first page's resourceVersion), resourceVersion with resourceVersionMatch
 *   NotOlderThan or Exact; versions older than the retained history are 410 Expired.
 */
import { randomUUID } from "node:crypto";
import {
  alreadyExists,
  badRequest,
  conflict,
  expired,
  forbidden,
  invalid,
  KubeError,
  notFound,
  STALE_OBJECT,
} from "./errors.ts";
import { clone, deepEqual, isObject, timestamp, type Json, type KubeObject } from "./objects.ts";
import { jsonPatch, mergePatch, strategicMerge } from "./patch.ts";
import {
  apiVersionOf,
  CRD_TYPE,
  EXTERNAL_SECRETS_CRDS,
  NAMESPACE_TYPE,
  ResourceRegistry,
  storageKey,
  typesOfCrd,
  type ResourceType,
} from "./resources.ts";
import { parseFieldSelector, parseLabelSelector } from "./selectors.ts";
import { ObjectStore } from "./store.ts";
import { validate } from "./validation.ts";

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface DeleteOptions {
  propagationPolicy?: string;
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export type PatchType = "merge" | "json" | "strategic";

const gr = (t: ResourceType) => ({ group: t.group, resource: t.plural });
const INITIAL_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];
const GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
const FOREGROUND = "foregroundDeletion";
const ORPHAN = "orphan";

/** The object as served at `type`'s version. */
export function served(type: ResourceType, obj: KubeObject): KubeObject {
  const out = clone(obj);
  out.apiVersion = apiVersionOf(type);
  return out;
}

function withoutMetaAndStatus(obj: KubeObject, dropStatus: boolean): Json {
  const rest: Json = { ...obj };
  delete rest.metadata;
  delete rest.apiVersion;
  delete rest.kind;
  if (dropStatus) delete rest.status;
  return rest;
}

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", ...token })).toString("base64url");
}

function decodeContinue(text: string): ContinueToken {
  try {
    const parsed = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as Json;
    if (typeof parsed.rv === "number" && typeof parsed.start === "string")
      return { rv: parsed.rv, start: parsed.start };
  } catch {
    // reported below
  }
  throw badRequest(
    "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
  );
}

function parseRv(text: string): number {
  if (!/^\d+$/.test(text)) throw badRequest(`invalid resource version: ${text}`);
  return Number(text);
}

export class Cluster {
  readonly store: ObjectStore;
  readonly registry = new ResourceRegistry();
  private gcScheduled = false;
  private closed = false;

  constructor(historyLimit: number) {
    this.store = new ObjectStore(historyLimit);
    for (const name of INITIAL_NAMESPACES) this.create(NAMESPACE_TYPE, undefined, { metadata: { name } });
    for (const crd of EXTERNAL_SECRETS_CRDS) this.create(CRD_TYPE, undefined, clone(crd));
  }

  close(): void {
    this.closed = true;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.store.get(storageKey(type), namespace, name);
    if (!obj) throw notFound(gr(type), name);
    return served(type, obj);
  }

  list(type: ResourceType, namespace: string | undefined, query: ListQuery): Json {
    const resource = storageKey(type);
    let rv = this.store.resourceVersion;
    let items: KubeObject[];
    let start = "";
    if (query.continue) {
      if (query.resourceVersion)
        throw badRequest("specifying resource version is not allowed when using continue");
      const token = decodeContinue(query.continue);
      rv = token.rv;
      start = token.start;
      try {
        items = this.store.listAt(resource, rv, namespace);
      } catch {
        throw expired(
          "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
        );
      }
    } else if (query.resourceVersionMatch === "Exact") {
      if (!query.resourceVersion || query.resourceVersion === "0") {
        throw badRequest(
          `resourceVersionMatch "Exact" is forbidden for resourceVersion "${query.resourceVersion ?? ""}"`,
        );
      }
      rv = parseRv(query.resourceVersion);
      if (rv > this.store.resourceVersion) throw tooLarge(rv, this.store.resourceVersion);
      try {
        items = this.store.listAt(resource, rv, namespace);
      } catch {
        throw expired("The resourceVersion for the provided list is too old.");
      }
    } else {
      if (query.resourceVersionMatch !== undefined && query.resourceVersionMatch !== "NotOlderThan") {
        throw badRequest(`unsupported resourceVersionMatch: ${query.resourceVersionMatch}`);
      }
      if (query.resourceVersionMatch !== undefined && !query.resourceVersion) {
        throw badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided");
      }
      if (query.resourceVersion && parseRv(query.resourceVersion) > rv)
        throw tooLarge(parseRv(query.resourceVersion), rv);
      items = this.store.list(resource, namespace);
    }
    const matches = this.matcher(type, query);
    const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    const selected = items.filter((o) => keyOf(o) > start && matches(o));
    const limit = query.limit && query.limit > 0 ? query.limit : selected.length;
    const page = selected.slice(0, limit);
    const more = selected.length > page.length;
    const filtered = Boolean(query.labelSelector || query.fieldSelector);
    return {
      kind: type.listKind,
      apiVersion: apiVersionOf(type),
      metadata: {
        resourceVersion: String(rv),
        ...(more ? { continue: encodeContinue({ rv, start: keyOf(page[page.length - 1]!) }) } : {}),
        ...(more && !filtered ? { remainingItemCount: selected.length - page.length } : {}),
      },
      items: page.map((o) => this.listItem(type, o)),
    };
  }

  /** A list item: typed kinds leave out apiVersion and kind, as the API server encodes them. */
  listItem(type: ResourceType, obj: KubeObject): Json {
    const item: Json = served(type, obj);
    if (type.typed) {
      delete item.apiVersion;
      delete item.kind;
    }
    return item;
  }

  /** The predicate a list or watch's label and field selectors stand for. */
  matcher(
    type: ResourceType,
    query: Pick<ListQuery, "labelSelector" | "fieldSelector">,
  ): (o: KubeObject) => boolean {
    const labels = parseLabelSelector(query.labelSelector ?? "");
    const fields = parseFieldSelector(query.fieldSelector ?? "", type.selectableFields);
    return (o) => labels(o) && fields(o);
  }

  create(type: ResourceType, namespace: string | undefined, body: unknown, dryRun = false): KubeObject {
    const obj = this.decode(type, body);
    const meta = obj.metadata;
    if (meta.resourceVersion) throw badRequest("resourceVersion should not be set on objects to be created");
    if (type.namespaced) {
      if (meta.namespace && meta.namespace !== namespace) {
        throw badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      }
      meta.namespace = namespace;
      const ns = this.store.get(storageKey(NAMESPACE_TYPE), undefined, namespace!);
      if (!ns) throw notFound(gr(NAMESPACE_TYPE), namespace!);
      if (ns.metadata.deletionTimestamp) {
        throw forbidden(
          gr(type),
          meta.name ?? meta.generateName ?? "",
          `unable to create new content in namespace ${namespace} because it is being terminated`,
        );
      }
    } else delete meta.namespace;
    if (!meta.name) {
      if (!meta.generateName) {
        throw invalid({ group: type.group, kind: type.kind }, "", [
          { field: "metadata.name", problem: "Required", detail: "name or generateName is required" },
        ]);
      }
      do {
        const suffix = Array.from(
          { length: 5 },
          () => GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)],
        );
        meta.name = meta.generateName + suffix.join("");
      } while (this.store.get(storageKey(type), meta.namespace, meta.name));
    }
    if (this.store.get(storageKey(type), meta.namespace, meta.name)) throw alreadyExists(gr(type), meta.name);
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (type.tracksGeneration) meta.generation = 1;
    else delete meta.generation;
    if (type.statusSubresource && !type.typed) delete obj.status;
    return this.commit(type, obj, undefined, dryRun);
  }

  /**
   * PUT of the resource or its /status. `conditional` is false for patches whose body dropped
   * metadata.resourceVersion (they apply to whatever is stored).
   */
  update(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    options: { status?: boolean; dryRun?: boolean; conditional?: boolean } = {},
  ): KubeObject {
    const prev = this.store.get(storageKey(type), namespace, name);
    if (!prev) throw notFound(gr(type), name);
    let next = this.decode(type, body);
    const meta = next.metadata;
    if (meta.name && meta.name !== name) {
      throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`);
    }
    if (type.namespaced && meta.namespace && meta.namespace !== namespace) {
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    if (meta.resourceVersion) {
      if (meta.resourceVersion !== prev.metadata.resourceVersion)
        throw conflict(gr(type), name, STALE_OBJECT);
    } else if (type.requiresResourceVersion && options.conditional !== false) {
      throw invalid({ group: type.group, kind: type.kind }, name, [
        {
          field: "metadata.resourceVersion",
          problem: "Invalid",
          shown: "0x0",
          detail: "must be specified for an update",
        },
      ]);
    }
    if (options.status) {
      const status = next.status;
      next = clone(prev);
      if (status === undefined) delete next.status;
      else next.status = status;
    } else {
      for (const f of [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
      ] as const) {
        if (prev.metadata[f] === undefined) delete meta[f];
        else (meta as Json)[f] = prev.metadata[f];
      }
      meta.name = name;
      if (type.namespaced) meta.namespace = namespace;
      else delete meta.namespace;
      if (type.statusSubresource) {
        if (prev.status === undefined) delete next.status;
        else next.status = clone(prev.status);
      }
    }
    next.metadata.resourceVersion = prev.metadata.resourceVersion;
    if (type.tracksGeneration) {
      const changed = !deepEqual(
        withoutMetaAndStatus(next, type.statusSubresource),
        withoutMetaAndStatus(prev, type.statusSubresource),
      );
      next.metadata.generation = (prev.metadata.generation ?? 1) + (changed ? 1 : 0);
    }
    return this.commit(type, next, prev, options.dryRun ?? false);
  }

  patch(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patchType: PatchType,
    patch: unknown,
    options: { status?: boolean; dryRun?: boolean } = {},
  ): KubeObject {
    const current = this.get(type, namespace, name);
    let patched: unknown;
    if (patchType === "json") patched = jsonPatch(current, patch);
    else if (!isObject(patch)) throw badRequest("the patch must be a JSON object");
    else if (patchType === "merge") patched = mergePatch(current, patch);
    else patched = strategicMerge(current, patch);
    if (!isObject(patched)) throw new KubeError(422, "Invalid", "the patched object is not a JSON object");
    const meta = isObject(patched.metadata) ? patched.metadata : {};
    return this.update(type, namespace, name, patched, {
      ...options,
      conditional: meta.resourceVersion !== undefined && meta.resourceVersion !== null,
    });
  }

  /** Deletes one object; returns it while finalizers keep it, else a Status of kind Success. */
  delete(type: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): Json {
    const resource = storageKey(type);
    const obj = this.store.get(resource, namespace, name);
    if (!obj) throw notFound(gr(type), name);
    const pre = options.preconditions ?? {};
    if (pre.uid && pre.uid !== obj.metadata.uid) {
      throw conflict(
        gr(type),
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`,
      );
    }
    if (pre.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
      throw conflict(
        gr(type),
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`,
      );
    }
    const policy = options.propagationPolicy ?? (options.orphanDependents === true ? "Orphan" : "Background");
    if (!["Background", "Foreground", "Orphan"].includes(policy)) {
      throw badRequest(
        `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
      );
    }
    const removed = this.deleteStored(resource, obj, policy, options.dryRun ?? false);
    if (removed) {
      return {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: {
          name,
          ...(type.group ? { group: type.group } : {}),
          kind: type.plural,
          uid: obj.metadata.uid,
        },
      };
    }
    return served(type, options.dryRun ? obj : this.store.get(resource, namespace, name)!);
  }

  deleteCollection(
    type: ResourceType,
    namespace: string | undefined,
    query: ListQuery,
    options: DeleteOptions,
  ): Json {
    const list = this.list(type, namespace, {
      labelSelector: query.labelSelector,
      fieldSelector: query.fieldSelector,
    });
    const items = (list.items as Json[]).map((item) => {
      const meta = item.metadata as Json;
      this.delete(type, meta.namespace as string | undefined, String(meta.name), options);
      return item;
    });
    return { ...list, items };
  }

  /** Checks and completes a request body: a JSON object of this kind, at a served version. */
  private decode(type: ResourceType, body: unknown): KubeObject {
    if (!isObject(body))
      throw badRequest(
        `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: the body is not a JSON object`,
      );
    const obj = clone(body) as KubeObject;
    const expected = apiVersionOf(type);
    if (obj.apiVersion !== undefined && obj.apiVersion !== expected) {
      throw badRequest(
        `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${expected})`,
      );
    }
    if (obj.kind !== undefined && obj.kind !== type.kind) {
      throw badRequest(
        `${String(obj.kind)} in version "${type.version}" cannot be handled as a ${type.kind}: the kind does not match the resource`,
      );
    }
    if (!isObject(obj.metadata)) obj.metadata = {};
    delete obj.metadata.managedFields;
    delete obj.metadata.selfLink;
    obj.apiVersion = type.group === "" ? type.storageVersion : `${type.group}/${type.storageVersion}`;
    obj.kind = type.kind;
    return obj;
  }

  /** Validates and stores `next` (or, for a deleting object whose last finalizer went, removes it). */
  private commit(
    type: ResourceType,
    next: KubeObject,
    prev: KubeObject | undefined,
    dryRun: boolean,
  ): KubeObject {
    validate(type, next, prev);
    const resource = storageKey(type);
    if (prev?.metadata.deletionTimestamp) {
      const before = new Set(prev.metadata.finalizers ?? []);
      if ((next.metadata.finalizers ?? []).some((f) => !before.has(f))) {
        throw invalid({ group: type.group, kind: type.kind }, next.metadata.name!, [
          {
            field: "metadata.finalizers",
            problem: "Forbidden",
            detail: "no new finalizers can be added if the object is being deleted",
          },
        ]);
      }
    }
    if (prev && deepEqual(next, prev)) return served(type, prev);
    if (dryRun) return served(type, next);
    if (
      prev?.metadata.deletionTimestamp &&
      (next.metadata.finalizers ?? []).length === 0 &&
      !this.heldByNamespaceSpec(type, next)
    ) {
      next.metadata.resourceVersion = this.removeStored(resource, prev).metadata.resourceVersion;
      return served(type, next);
    }
    const stored = this.store.put(resource, next);
    if (type === CRD_TYPE) this.registry.setCrdTypes(stored.metadata.name!, typesOfCrd(stored));
    if (stored.metadata.ownerReferences?.length || stored.metadata.deletionTimestamp) this.scheduleGc();
    return served(type, stored);
  }

  /** A terminating namespace stays until its spec.finalizers are done (its content is gone). */
  private heldByNamespaceSpec(type: ResourceType, obj: KubeObject): boolean {
    return (
      type === NAMESPACE_TYPE &&
      (((obj.spec as Json | undefined)?.finalizers as string[] | undefined) ?? []).length > 0
    );
  }

  /** Removes an object for good, with what that sets off: CRD kinds go, dependents get collected. */
  private removeStored(resource: string, obj: KubeObject): KubeObject {
    const last = this.store.remove(resource, obj)!;
    if (resource === storageKey(CRD_TYPE)) {
      const spec = obj.spec as Json;
      const instances = `${String(spec.group)}/${String((spec.names as Json).plural)}`;
      for (const instance of this.store.list(instances)) this.store.remove(instances, instance);
      this.registry.setCrdTypes(obj.metadata.name!, []);
    }
    this.scheduleGc();
    return last;
  }

  /** Starts deleting a stored object; true when it is gone, false when finalizers keep it for now. */
  private deleteStored(resource: string, obj: KubeObject, policy: string, dryRun: boolean): boolean {
    const type = this.typeOf(resource);
    if (obj.metadata.deletionTimestamp) return false;
    const next = clone(obj);
    const finalizers = new Set(next.metadata.finalizers ?? []);
    if (policy === "Foreground") finalizers.add(FOREGROUND);
    if (policy === "Orphan") finalizers.add(ORPHAN);
    if (finalizers.size === 0 && !this.heldByNamespaceSpec(type, next)) {
      if (!dryRun) this.removeStored(resource, obj);
      return true;
    }
    if (dryRun) return false;
    next.metadata.finalizers = [...finalizers];
    if (next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
    if ((next.metadata.generation ?? 0) > 0) next.metadata.generation! += 1;
    next.metadata.deletionTimestamp = timestamp();
    next.metadata.deletionGracePeriodSeconds = 0;
    if (type === NAMESPACE_TYPE) next.status = { ...(next.status as Json | undefined), phase: "Terminating" };
    this.store.put(resource, next);
    this.scheduleGc();
    return false;
  }

  /** The preferred served type of a stored resource. */
  private typeOf(resource: string): ResourceType {
    const slash = resource.indexOf("/");
    return this.registry.versionsOf(resource.slice(0, slash), resource.slice(slash + 1))[0]!;
  }

  private scheduleGc(): void {
    if (this.gcScheduled || this.closed) return;
    this.gcScheduled = true;
    setImmediate(() => {
      this.gcScheduled = false;
      if (!this.closed) this.collectGarbage();
    });
  }

  /** One pass of the garbage collector and namespace controller; writes schedule the next pass. */
  private collectGarbage(): void {
    const all = this.store.all();
    const uids = new Set(all.map((e) => e.object.metadata.uid));
    const fresh = (resource: string, o: KubeObject) =>
      this.store.get(resource, o.metadata.namespace, o.metadata.name!);
    const dependentsOf = (uid: string | undefined) =>
      all.filter((e) => e.object.metadata.ownerReferences?.some((r) => r.uid === uid));
    const setOwners = (resource: string, o: KubeObject, keep: (uid: string) => boolean) => {
      const current = fresh(resource, o);
      if (!current) return;
      const next = clone(current);
      next.metadata.ownerReferences = (current.metadata.ownerReferences ?? []).filter((r) => keep(r.uid));
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      this.store.put(resource, next);
    };
    const dropFinalizer = (resource: string, o: KubeObject, finalizer: string) => {
      const current = fresh(resource, o);
      if (!current) return;
      const next = clone(current);
      next.metadata.finalizers = (current.metadata.finalizers ?? []).filter((f) => f !== finalizer);
      if (next.metadata.finalizers.length > 0 || this.heldByNamespaceSpec(this.typeOf(resource), next)) {
        this.store.put(resource, next);
      } else this.removeStored(resource, current);
    };

    for (const { resource, object } of all) {
      const refs = object.metadata.ownerReferences ?? [];
      if (refs.length === 0) continue;
      const live = refs.filter((r) => uids.has(r.uid));
      if (live.length === 0) {
        const current = fresh(resource, object);
        if (current) this.deleteStored(resource, current, "Background", false);
      } else if (live.length < refs.length) setOwners(resource, object, (uid) => uids.has(uid));
    }
    for (const { resource, object } of all) {
      const finalizers = object.metadata.finalizers ?? [];
      if (!object.metadata.deletionTimestamp) continue;
      if (finalizers.includes(ORPHAN)) {
        for (const d of dependentsOf(object.metadata.uid))
          setOwners(d.resource, d.object, (uid) => uid !== object.metadata.uid);
        dropFinalizer(resource, object, ORPHAN);
      } else if (finalizers.includes(FOREGROUND)) {
        const dependents = dependentsOf(object.metadata.uid);
        if (dependents.length === 0) dropFinalizer(resource, object, FOREGROUND);
        for (const d of dependents) {
          const current = fresh(d.resource, d.object);
          if (current) this.deleteStored(d.resource, current, "Background", false);
        }
      }
    }
    for (const { resource, object } of all) {
      if (resource !== storageKey(NAMESPACE_TYPE) || !object.metadata.deletionTimestamp) continue;
      const content = all.filter(
        (e) => e.resource !== resource && e.object.metadata.namespace === object.metadata.name,
      );
      for (const e of content) {
        const current = fresh(e.resource, e.object);
        if (current) this.deleteStored(e.resource, current, "Background", false);
      }
      if (content.length > 0) continue;
      const current = fresh(resource, object);
      if (!current) continue;
      if ((current.metadata.finalizers ?? []).length === 0) this.removeStored(resource, current);
      else if (this.heldByNamespaceSpec(NAMESPACE_TYPE, current)) {
        this.store.put(resource, { ...clone(current), spec: { ...(current.spec as Json), finalizers: [] } });
      }
    }
  }
}

function tooLarge(requested: number, current: number): KubeError {
  return new KubeError(
    504,
    "Timeout",
    `Timeout: Too large resource version: ${requested}, current: ${current}`,
    {
      causes: [{ reason: "ResourceVersionTooLarge", message: `Too large resource version` }],
      retryAfterSeconds: 1,
    },
  );
}
