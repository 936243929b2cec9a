/** Problems found in manifests, each pointing at a file, line, column, resource and field. */
import { describeResource, type Resource } from "./common.ts";
import { positionOf } from "./schema.ts";

export interface Diagnostic {
  file: string;
  /** 1-based; 0 when the problem is with the file as a whole. */
  line: number;
  column: number;
  /** "PushSecret default/push-to-aws". */
  resource?: string;
  /** Field path, e.g. "spec.data[0].match.remoteRef.remoteKey". */
  field?: string;
  message: string;
}

/** `manifests/push.yaml:14:9 PushSecret default/push-to-aws: spec.data[0].match.remoteRef.remoteKey: required` */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file;
  const what = [d.resource, d.field].filter(Boolean).join(": ");
  return what ? `${where} ${what}: ${d.message}` : `${where}: ${d.message}`;
}

/** A diagnostic about a field of a loaded resource, placed at the field (or its nearest parent). */
export function resourceDiagnostic(r: Resource<string>, field: string, message: string): Diagnostic {
  const at = positionOf(r.source.fields, field) ?? r.source;
  return {
    file: r.source.file,
    line: at.line,
    column: at.column,
    resource: describeResource(r),
    field,
    message,
  };
}
