/** The CloudWatch Embedded Metric Format helper (shared/observability/emf.ts). */
import { describe, expect, it } from "vitest";
import { emfRecord } from "../../shared/observability/emf.ts";

describe("emfRecord", () => {
  it("puts dimensions, metric values and extra fields at the top level, the directive under _aws", () => {
    const record = emfRecord({
      namespace: "pushsync",
      dimensions: { Store: "default/aws" },
      metrics: [
        { name: "Created", value: 3, unit: "Count" },
        { name: "RunTime", value: 120, unit: "Milliseconds" },
      ],
      properties: { requestId: "r-1" },
      timestamp: 1_700_000_000_000,
    });
    expect(record).toEqual({
      requestId: "r-1",
      Store: "default/aws",
      Created: 3,
      RunTime: 120,
      _aws: {
        Timestamp: 1_700_000_000_000,
        CloudWatchMetrics: [
          {
            Namespace: "pushsync",
            Dimensions: [["Store"]],
            Metrics: [
              { Name: "Created", Unit: "Count" },
              { Name: "RunTime", Unit: "Milliseconds" },
            ],
          },
        ],
      },
    });
  });

  it("refuses records CloudWatch would drop, naming the limit", () => {
    const base = {
      namespace: "pushsync",
      dimensions: { Store: "s" },
      metrics: [{ name: "A", value: 1, unit: "Count" as const }],
    };
    expect(() => emfRecord({ ...base, metrics: [] })).toThrow("0 metrics; a record holds 1 to 100");
    const many = Array.from({ length: 101 }, (_, i) => ({ name: `M${i}`, value: i, unit: "Count" as const }));
    expect(() => emfRecord({ ...base, metrics: many })).toThrow("101 metrics");
    expect(() => emfRecord({ ...base, dimensions: { Store: "" } })).toThrow('dimension "Store"');
    expect(() => emfRecord({ ...base, dimensions: { Store: "x".repeat(1025) } })).toThrow(
      "1 to 1024 characters",
    );
    expect(() => emfRecord({ ...base, metrics: [{ name: "A", value: Number.NaN, unit: "Count" }] })).toThrow(
      "finite value",
    );
    expect(() => emfRecord({ ...base, metrics: [{ name: "Store", value: 1, unit: "Count" }] })).toThrow(
      "clashes",
    );
  });
});
