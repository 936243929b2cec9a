/**
 * CloudWatch Embedded Metric Format: a JSON log record that CloudWatch Logs turns into metrics.
 *
 *   { "_aws": { "Timestamp": <ms>, "CloudWatchMetrics": [{ "Namespace": "pushsync",
 *       "Dimensions": [["Store"]], "Metrics": [{ "Name": "Created", "Unit": "Count" }, ...] }] },
 *     "Store": "default/aws", "Created": 3, ... }
 *
 * Dimension values and metric values sit at the top level of the record, next to any other
 * properties (which stay plain log fields). One record carries one value per dimension, so a
 * caller reporting per store writes one record per store. Limits enforced here, from the EMF
 * specification: at most 100 metrics and 30 dimensions per record, non-empty names, dimension
 * values of at most 1024 characters, finite metric values.
 */
export type EmfUnit = "Count" | "Milliseconds" | "Seconds" | "Bytes" | "None";

export interface EmfMetric {
  name: string;
  value: number;
  unit: EmfUnit;
}

export interface EmfRecordOptions {
  namespace: string;
  /** Dimension name → value; all of them form the one dimension set of the record. */
  dimensions: Record<string, string>;
  metrics: EmfMetric[];
  /** Extra log fields, not metrics. Names must not clash with dimensions or metrics. */
  properties?: Record<string, unknown>;
  /** Milliseconds since the epoch; default now. */
  timestamp?: number;
}

const MAX_METRICS = 100;
const MAX_DIMENSIONS = 30;
const MAX_DIMENSION_VALUE = 1024;

export function emfRecord(options: EmfRecordOptions): Record<string, unknown> {
  const { namespace, dimensions, metrics, properties = {} } = options;
  if (namespace === "") throw new RangeError("EMF: the namespace is empty");
  if (metrics.length === 0 || metrics.length > MAX_METRICS) {
    throw new RangeError(`EMF: ${metrics.length} metrics; a record holds 1 to ${MAX_METRICS}`);
  }
  const dimensionNames = Object.keys(dimensions);
  if (dimensionNames.length > MAX_DIMENSIONS) {
    throw new RangeError(
      `EMF: ${dimensionNames.length} dimensions; a record holds at most ${MAX_DIMENSIONS}`,
    );
  }
  const record: Record<string, unknown> = { ...properties };
  for (const [name, value] of Object.entries(dimensions)) {
    if (name === "" || value === "" || value.length > MAX_DIMENSION_VALUE) {
      throw new RangeError(
        `EMF: dimension "${name}" needs a name and a value of 1 to ${MAX_DIMENSION_VALUE} characters`,
      );
    }
    record[name] = value;
  }
  for (const m of metrics) {
    if (m.name === "" || !Number.isFinite(m.value)) {
      throw new RangeError(`EMF: metric "${m.name}" needs a name and a finite value`);
    }
    if (m.name in record) throw new RangeError(`EMF: metric "${m.name}" clashes with another field`);
    record[m.name] = m.value;
  }
  record._aws = {
    Timestamp: options.timestamp ?? Date.now(),
    CloudWatchMetrics: [
      {
        Namespace: namespace,
        Dimensions: [dimensionNames],
        Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
      },
    ],
  };
  return record;
}
