/**
 * Metrics as data: the shape of prom-client's `registry.getMetricsAsJSON()`, which is what
 * workers send the master over IPC and what `AggregatorRegistry.aggregate()` merges. Defined
 * here because prom-client's typings declare `type` as a numeric enum while the data carries strings.
 */

export type LabelSet = Record<string, string | number>;

export interface MetricSample {
  value: number;
  labels: LabelSet;
  /** For histograms: `<name>_bucket`, `<name>_sum`, `<name>_count`. */
  metricName?: string;
}

export type MetricKind = 'counter' | 'gauge' | 'histogram' | 'summary';
/** How `aggregate()` merges one series from several registries. */
export type Aggregator = 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit';

export interface MetricJSON {
  name: string;
  help: string;
  type: MetricKind;
  aggregator: Aggregator;
  values: MetricSample[];
}

const KINDS: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary']);
const AGGREGATORS: ReadonlySet<string> = new Set(['sum', 'first', 'min', 'max', 'average', 'omit']);

function isSample(value: unknown): value is MetricSample {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  if (typeof s.value !== 'number' || typeof s.labels !== 'object' || s.labels === null) return false;
  if (s.metricName !== undefined && typeof s.metricName !== 'string') return false;
  return Object.values(s.labels).every((v) => typeof v === 'string' || typeof v === 'number');
}

/**
 * The well-formed metrics of a list that came over IPC. The app runs in the worker and could send
 * anything on the channel; a malformed entry would make `aggregate()` throw and fail every scrape.
 */
export function validMetrics(list: readonly unknown[]): MetricJSON[] {
  const out: MetricJSON[] = [];
  for (const item of list) {
    if (typeof item !== 'object' || item === null) continue;
    const m = item as Record<string, unknown>;
    if (typeof m.name !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m.name)) continue;
    if (typeof m.type !== 'string' || !KINDS.has(m.type) || !Array.isArray(m.values)) continue;
    const aggregator = m.aggregator === undefined ? 'sum' : m.aggregator;
    if (typeof aggregator !== 'string' || !AGGREGATORS.has(aggregator)) continue;
    if (!m.values.every(isSample)) continue;
    out.push({
      name: m.name,
      help: typeof m.help === 'string' ? m.help : '',
      type: m.type as MetricKind,
      aggregator: aggregator as Aggregator,
      values: m.values,
    });
  }
  return out;
}

/** A stable key for one series: its metric name and its labels in name order. */
export function seriesKey(family: string, sample: MetricSample): string {
  const labels = Object.keys(sample.labels)
    .sort()
    .map((k) => `${k}=${String(sample.labels[k])}`)
    .join(',');
  return `${sample.metricName ?? family}{${labels}}`;
}

/**
 * Process metrics (prom-client's defaults) carry a distinct `worker` label per process, so
 * summing them merges nothing; their own aggregators would drop (`omit`, for
 * process_start_time_seconds) or average facts that belong to one process each.
 */
export function perProcess(metric: MetricJSON): MetricJSON {
  return metric.name.startsWith('tsicorn_') ? metric : { ...metric, aggregator: 'sum' };
}
