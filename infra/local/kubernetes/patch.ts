/**
 * The three patch formats of PATCH requests:
 * - JSON merge patch (RFC 7386, application/merge-patch+json): maps merge, null deletes, lists are replaced.
 * - JSON patch (RFC 6902, application/json-patch+json): add, remove, replace, move, copy, test.
 * - Strategic merge patch (application/strategic-merge-patch+json, built-in kinds only): a merge
 *   patch where some lists merge instead of being replaced, with the `$patch`, `$retainKeys`,
 *   `$setElementOrder/` and `$deleteFromPrimitiveList/` directives. The lists that merge are the
 *   ones the built-in kinds served here declare: metadata.finalizers (a set of strings) and
 *   metadata.ownerReferences (merged by uid); every other list is replaced.
 * Errors name the patch operation or path, never values.
 */
import { badRequest, KubeError } from "./errors.ts";
import { clone, deepEqual, isObject, type Json } from "./objects.ts";

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: Json = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const unprocessable = (message: string) => new KubeError(422, "Invalid", message);

function pointer(path: unknown): string[] {
  if (typeof path !== "string" || (path !== "" && !path.startsWith("/"))) {
    throw badRequest(`invalid JSON patch path: ${String(path)}`);
  }
  return path === ""
    ? []
    : path
        .slice(1)
        .split("/")
        .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

type Container = Json | unknown[];

/** The parent container of a path and the last segment. */
function locate(doc: unknown, parts: string[], path: string): { parent: Container; last: string } {
  let cur: unknown = doc;
  for (const part of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(part)];
    else if (isObject(cur)) cur = cur[part];
    else cur = undefined;
    if (cur === undefined) throw unprocessable(`doc is missing path: "${path}": missing value`);
  }
  if (!Array.isArray(cur) && !isObject(cur))
    throw unprocessable(`doc is missing path: "${path}": missing value`);
  return { parent: cur, last: parts[parts.length - 1]! };
}

function arrayIndex(list: unknown[], last: string, path: string, forAdd: boolean): number {
  if (forAdd && last === "-") return list.length;
  const i = Number(last);
  if (!/^\d+$/.test(last) || i > list.length || (!forAdd && i === list.length)) {
    throw unprocessable(`unable to access invalid index: ${last} in "${path}"`);
  }
  return i;
}

function read(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const part of pointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(part)];
    else if (isObject(cur)) cur = cur[part];
    else cur = undefined;
    if (cur === undefined) throw unprocessable(`doc is missing path: "${path}": missing value`);
  }
  return cur;
}

function remove(doc: unknown, path: string): unknown {
  const { parent, last } = locate(doc, pointer(path), path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, path, false), 1)[0];
  if (!(last in parent)) throw unprocessable(`doc is missing path: "${path}": missing value`);
  const old = parent[last];
  delete parent[last];
  return old;
}

function add(doc: unknown, path: string, value: unknown): unknown {
  const parts = pointer(path);
  if (parts.length === 0) return clone(value);
  const { parent, last } = locate(doc, parts, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, path, true), 0, clone(value));
  else parent[last] = clone(value);
  return doc;
}

export function jsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw badRequest("json patch must be a list of operations");
  let doc = clone(target);
  for (const op of operations) {
    if (!isObject(op)) throw badRequest("json patch operation must be an object");
    const path = String(op.path);
    switch (op.op) {
      case "add":
        doc = add(doc, path, op.value);
        break;
      case "remove":
        remove(doc, path);
        break;
      case "replace":
        read(doc, path);
        if (pointer(path).length === 0) doc = clone(op.value);
        else {
          remove(doc, path);
          doc = add(doc, path, op.value);
        }
        break;
      case "move": {
        const value = remove(doc, String(op.from));
        doc = add(doc, path, value);
        break;
      }
      case "copy":
        doc = add(doc, path, read(doc, String(op.from)));
        break;
      case "test":
        if (!deepEqual(read(doc, path), op.value))
          throw unprocessable(`testing value "${path}" failed: test failed`);
        break;
      default:
        throw badRequest(`unexpected json patch operation: ${String(op.op)}`);
    }
  }
  return doc;
}

/** Lists of the built-in kinds that merge under a strategic merge patch; `key` for lists of objects. */
const MERGING_LISTS: Record<string, { key?: string }> = {
  "metadata.finalizers": {},
  "metadata.ownerReferences": { key: "uid" },
};

const isDirective = (key: string) =>
  key === "$patch" ||
  key === "$retainKeys" ||
  key.startsWith("$setElementOrder/") ||
  key.startsWith("$deleteFromPrimitiveList/");

function withoutDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutDirectives);
  if (!isObject(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !isDirective(k))
      .map(([k, x]) => [k, withoutDirectives(x)]),
  );
}

function mergeList(original: unknown, patch: unknown[], rule: { key?: string }, path: string): unknown[] {
  if (patch.some((item) => isObject(item) && item.$patch === "replace")) {
    return patch.filter((item) => !(isObject(item) && item.$patch === "replace")).map(withoutDirectives);
  }
  const result = Array.isArray(original) ? clone(original) : [];
  const key = rule.key;
  if (key === undefined) {
    for (const item of patch) if (!result.some((x) => deepEqual(x, item))) result.push(clone(item));
    return result;
  }
  for (const item of patch) {
    if (!isObject(item) || item[key] === undefined)
      throw badRequest(`${path}: list item without merge key ${key}`);
    const at = result.findIndex((x) => isObject(x) && x[key] === item[key]);
    if (item.$patch === "delete") {
      if (at >= 0) result.splice(at, 1);
    } else if (at >= 0) result[at] = strategicMerge(result[at], item, path);
    else result.push(withoutDirectives(item));
  }
  return result;
}

function reorder(list: unknown[], order: unknown[], key: string | undefined): unknown[] {
  const rank = (item: unknown) => {
    const i = order.findIndex((o) =>
      key && isObject(o) && isObject(item) ? o[key] === item[key] : deepEqual(o, item),
    );
    return i < 0 ? order.length : i;
  };
  return [...list].sort((a, b) => rank(a) - rank(b));
}

export function strategicMerge(original: unknown, patch: unknown, path = ""): unknown {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === "replace") return withoutDirectives(patch);
  if (patch.$patch === "delete") return undefined;
  const result: Json = isObject(original) ? clone(original) : {};
  if (Array.isArray(patch.$retainKeys)) {
    for (const k of Object.keys(result)) if (!patch.$retainKeys.includes(k)) delete result[k];
  }
  const child = (k: string) => (path === "" ? k : `${path}.${k}`);
  for (const [k, value] of Object.entries(patch)) {
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      const drop = Array.isArray(value) ? value : [];
      if (Array.isArray(result[field]))
        result[field] = (result[field] as unknown[]).filter((x) => !drop.some((d) => deepEqual(d, x)));
      continue;
    }
    if (isDirective(k)) continue;
    const rule = MERGING_LISTS[child(k)];
    if (value === null) delete result[k];
    else if (Array.isArray(value) && rule) result[k] = mergeList(result[k], value, rule, child(k));
    else if (isObject(value)) {
      const merged = strategicMerge(result[k], value, child(k));
      if (merged === undefined) delete result[k];
      else result[k] = merged;
    } else result[k] = clone(value);
  }
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith("$setElementOrder/") || !Array.isArray(order)) continue;
    const field = k.slice("$setElementOrder/".length);
    if (Array.isArray(result[field]))
      result[field] = reorder(result[field] as unknown[], order, MERGING_LISTS[child(field)]?.key);
  }
  return result;
}
