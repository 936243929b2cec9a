/**
 * A tiny metrics registry rendering the Prometheus text exposition format 0.0.4, plus the
 * HTTP handler serving it at /metrics next to /healthz.
 *
 * Metrics either hold their own values (`counter().inc`, `gauge().set`) or read them when
 * scraped (`collect`), which suits numbers another object already keeps (queue length, lag,
 * Counters). Names and label values never carry secret values.
 */
import type http from "node:http";

export type Labels = Record<string, string>;
export type MetricType = "counter" | "gauge";
export interface Sample {
  labels?: Labels;
  value: number;
}

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Family {
  name: string;
  help: string;
  type: MetricType;
  samples: () => Sample[];
}

/** Values kept per label set, in the order first seen. */
class Series {
  private readonly values = new Map<string, Sample>();

  add(labels: Labels | undefined, delta: number): void {
    const key = labelKey(labels);
    const s = this.values.get(key);
    if (s) s.value += delta;
    else this.values.set(key, { labels: labels && { ...labels }, value: delta });
  }

  set(labels: Labels | undefined, value: number): void {
    this.values.set(labelKey(labels), { labels: labels && { ...labels }, value });
  }

  samples(): Sample[] {
    return [...this.values.values()];
  }
}

export class Counter {
  constructor(private readonly series: Series) {}
  inc(labels?: Labels, n = 1): void {
    if (n < 0) throw new RangeError("a counter only goes up");
    this.series.add(labels, n);
  }
}

export class Gauge {
  constructor(private readonly series: Series) {}
  set(labels: Labels | undefined, value: number): void {
    this.series.set(labels, value);
  }
  inc(labels?: Labels, n = 1): void {
    this.series.add(labels, n);
  }
}

export class MetricsRegistry {
  private readonly families = new Map<string, Family>();

  counter(name: string, help: string): Counter {
    const series = new Series();
    this.register({ name, help, type: "counter", samples: () => series.samples() });
    return new Counter(series);
  }

  gauge(name: string, help: string): Gauge {
    const series = new Series();
    this.register({ name, help, type: "gauge", samples: () => series.samples() });
    return new Gauge(series);
  }

  /** A metric whose samples are read at scrape time. */
  collect(name: string, help: string, type: MetricType, read: () => number | Sample[]): void {
    this.register({
      name,
      help,
      type,
      samples: () => {
        const v = read();
        if (typeof v === "number") return [{ value: v }];
        for (const s of v) labelKey(s.labels);
        return v;
      },
    });
  }

  /** The whole registry in the text format, one family after another in registration order. */
  render(): string {
    let out = "";
    for (const f of this.families.values()) {
      out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
      for (const s of f.samples()) out += `${f.name}${renderLabels(s.labels)} ${formatValue(s.value)}\n`;
    }
    return out;
  }

  private register(f: Family): void {
    if (!metricName.test(f.name)) throw new Error(`invalid metric name ${JSON.stringify(f.name)}`);
    if (this.families.has(f.name)) throw new Error(`metric ${f.name} is already registered`);
    this.families.set(f.name, f);
  }
}

export interface HealthStatus {
  ok: boolean;
  /** Short, value-free details shown in the /healthz body (e.g. which source is down). */
  detail?: Record<string, unknown>;
}

/** Serves GET /metrics (text format) and GET /healthz (200 or 503 with a JSON body); 404 otherwise. */
export function observabilityHandler(
  registry: MetricsRegistry,
  health: () => HealthStatus = () => ({ ok: true }),
): http.RequestListener {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
    } else if (path === "/metrics") {
      const body = registry.render();
      res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    } else if (path === "/healthz") {
      const h = health();
      const body = JSON.stringify({ status: h.ok ? "ok" : "unhealthy", ...(h.detail ?? {}) });
      res.writeHead(h.ok ? 200 : 503, { "content-type": "application/json" });
      res.end(req.method === "HEAD" ? undefined : body);
    } else {
      res.writeHead(404).end();
    }
  };
}

/** Also checks the label names, so a bad one fails where it is set, not at scrape time. */
function labelKey(labels: Labels | undefined): string {
  if (!labels) return "";
  for (const k of Object.keys(labels)) {
    if (!labelName.test(k) || k.startsWith("__")) throw new Error(`invalid label name ${JSON.stringify(k)}`);
  }
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function renderLabels(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}
