import type { LocalGcp } from "../../infra/local/gcp/server.ts";
import { crc32c } from "../../shared/providers/gcp-secret-manager/crc32c.ts";

export interface ApiResponse {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** One REST call to the local GCP, as Google's REST reference describes it. */
export async function api(gcp: LocalGcp, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  const res = await fetch(`${gcp.url}${path}`, {
    method,
    headers: { authorization: "Bearer test-token", "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

export function payload(value: string, checksum = crc32c(Buffer.from(value))): unknown {
  return { payload: { data: Buffer.from(value).toString("base64"), dataCrc32c: String(checksum) } };
}

/** Creates a secret with automatic replication and adds one version per value. */
export async function seed(
  gcp: LocalGcp,
  id: string,
  values: string[] = [],
  labels: Record<string, string> = {},
  project = "proj",
): Promise<void> {
  const created = await api(gcp, "POST", `/v1/projects/${project}/secrets?secretId=${id}`, {
    replication: { automatic: {} },
    labels,
  });
  if (created.status !== 200) throw new Error(`seed ${id}: ${JSON.stringify(created.json)}`);
  for (const v of values) {
    const added = await api(gcp, "POST", `/v1/projects/${project}/secrets/${id}:addVersion`, payload(v));
    if (added.status !== 200) throw new Error(`seed ${id}: ${JSON.stringify(added.json)}`);
  }
}
