/**
 * Kubernetes Events (core/v1) about ExternalSecrets, as ESO's recorder writes them: reasons
 * Created, Updated, Deleted, UpdateFailed, MissingProviderSecret, the ExternalSecret as
 * involvedObject. Like client-go's recorder, an event identical to one sent in the last
 * 10 minutes (same object, type, reason and message) bumps that Event's count instead of
 * creating another. Messages are built from value-free errors and pass through the redactor.
 * Recording never fails a reconcile: problems are logged.
 */
import { randomBytes } from "node:crypto";
import { redact, type Logger } from "../../shared/observability/logger.ts";
import { isNotFound, type KubeClient, type KubeObject } from "./kube.ts";

const AGGREGATE_MS = 10 * 60_000;
const MAX_REMEMBERED = 4096;

export type EventType = "Normal" | "Warning";

/** metav1.Time: RFC 3339 in whole seconds. */
export function kubeTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export class EventRecorder {
  private readonly recent = new Map<string, { name: string; count: number; at: number }>();

  constructor(
    private readonly client: KubeClient,
    private readonly source: { component: string; host: string },
    private readonly log: Logger,
  ) {}

  async record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace ?? "default";
    const text = redact(message).slice(0, 1024);
    const id = [obj.metadata.uid, type, reason, text].join("\u0000");
    const now = Date.now();
    const seen = this.recent.get(id);
    try {
      if (seen && now - seen.at < AGGREGATE_MS) {
        seen.count += 1;
        seen.at = now;
        try {
          await this.client.request("PATCH", `/api/v1/namespaces/${ns}/events/${seen.name}`, {
            body: { count: seen.count, lastTimestamp: kubeTime(now) },
            contentType: "application/merge-patch+json",
          });
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      const name = `${obj.metadata.name}.${randomBytes(8).toString("hex")}`;
      await this.client.request("POST", `/api/v1/namespaces/${ns}/events`, {
        body: {
          apiVersion: "v1",
          kind: "Event",
          metadata: { name, namespace: ns },
          involvedObject: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: obj.metadata.name,
            namespace: ns,
            uid: obj.metadata.uid,
            resourceVersion: obj.metadata.resourceVersion,
          },
          type,
          reason,
          message: text,
          count: 1,
          firstTimestamp: kubeTime(now),
          lastTimestamp: kubeTime(now),
          source: this.source,
          reportingComponent: this.source.component,
          reportingInstance: this.source.host,
        },
      });
      this.recent.delete(id);
      this.recent.set(id, { name, count: 1, at: now });
      if (this.recent.size > MAX_REMEMBERED) this.recent.delete(this.recent.keys().next().value!);
    } catch (err) {
      this.log.warn("cannot record an event", { reason, object: `${ns}/${obj.metadata.name}`, err });
    }
  }
}
