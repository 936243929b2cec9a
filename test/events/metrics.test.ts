import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Listening } from "../../infra/local/common/server.ts";
import { listen } from "../../infra/local/common/server.ts";
import {
  METRICS_CONTENT_TYPE,
  MetricsRegistry,
  observabilityHandler,
} from "../../shared/observability/metrics.ts";

describe("metrics text format 0.0.4", () => {
  it("renders HELP, TYPE and one line per label set, in registration order", () => {
    const r = new MetricsRegistry();
    const published = r.counter("pushsync_events_published_total", "Events published.");
    const lag = r.gauge("pushsync_lag_seconds", "Lag.");
    published.inc({ sink: "hook-a" });
    published.inc({ sink: "hook-b" }, 3);
    published.inc({ sink: "hook-a" });
    lag.set(undefined, 1.25);
    expect(r.render()).toBe(
      [
        "# HELP pushsync_events_published_total Events published.",
        "# TYPE pushsync_events_published_total counter",
        'pushsync_events_published_total{sink="hook-a"} 2',
        'pushsync_events_published_total{sink="hook-b"} 3',
        "# HELP pushsync_lag_seconds Lag.",
        "# TYPE pushsync_lag_seconds gauge",
        "pushsync_lag_seconds 1.25",
        "",
      ].join("\n"),
    );
  });

  it("treats label sets as equal regardless of key order", () => {
    const r = new MetricsRegistry();
    const c = r.counter("c_total", "c");
    c.inc({ a: "1", b: "2" });
    c.inc({ b: "2", a: "1" });
    expect(r.render()).toContain('c_total{a="1",b="2"} 2\n');
  });

  it("escapes help text and label values", () => {
    const r = new MetricsRegistry();
    r.gauge("g", 'back\\slash\nnew "line"').set({ path: 'a\\b"c\nd' }, 1);
    const text = r.render();
    expect(text).toContain('# HELP g back\\\\slash\\nnew "line"\n');
    expect(text).toContain('g{path="a\\\\b\\"c\\nd"} 1\n');
  });

  it("writes NaN and infinities the Prometheus way", () => {
    const r = new MetricsRegistry();
    r.collect("v", "values", "gauge", () => [
      { labels: { k: "nan" }, value: NaN },
      { labels: { k: "pos" }, value: Infinity },
      { labels: { k: "neg" }, value: -Infinity },
    ]);
    expect(r.render()).toContain('v{k="nan"} NaN\nv{k="pos"} +Inf\nv{k="neg"} -Inf\n');
  });

  it("reads collected metrics at scrape time", () => {
    const r = new MetricsRegistry();
    let queued = 1;
    r.collect("queued", "q", "gauge", () => queued);
    expect(r.render()).toContain("queued 1\n");
    queued = 7;
    expect(r.render()).toContain("queued 7\n");
  });

  it("refuses bad names, duplicate metrics and decreasing counters", () => {
    const r = new MetricsRegistry();
    expect(() => r.counter("bad-name", "x")).toThrow(/invalid metric name/);
    r.counter("ok_total", "x");
    expect(() => r.gauge("ok_total", "x")).toThrow(/already registered/);
    const c = r.counter("c_total", "x");
    expect(() => c.inc(undefined, -1)).toThrow(RangeError);
    expect(() => c.inc({ "bad-label": "x" })).toThrow(/invalid label name/);
    expect(() => c.inc({ __reserved: "x" })).toThrow(/invalid label name/);
  });
});

describe("/metrics and /healthz over HTTP", () => {
  let server: Listening;
  let healthy = true;
  const registry = new MetricsRegistry();
  registry.counter("pushsync_events_received_total", "Events received.").inc(undefined, 4);

  beforeAll(async () => {
    server = await listen(
      observabilityHandler(registry, () => ({ ok: healthy, detail: { sources: { audit: healthy } } })),
    );
  });
  afterAll(() => server.close());

  it("serves the text format with its content type", async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(METRICS_CONTENT_TYPE);
    expect(await res.text()).toContain("pushsync_events_received_total 4\n");
  });

  it("answers /healthz with 200 when healthy and 503 with details when not", async () => {
    const ok = await fetch(`${server.url}/healthz`);
    expect([ok.status, await ok.json()]).toEqual([200, { status: "ok", sources: { audit: true } }]);
    healthy = false;
    const bad = await fetch(`${server.url}/healthz`);
    expect([bad.status, await bad.json()]).toEqual([503, { status: "unhealthy", sources: { audit: false } }]);
  });

  it("404s other paths and 405s other methods", async () => {
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: "POST" })).status).toBe(405);
  });
});
