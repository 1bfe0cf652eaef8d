import { type LabelSet, type MetricJSON, type MetricKind, seriesKey } from './metric-json.js';

/** How many exited workers are remembered for reports that arrive after their exit. */
const GONE_KEPT = 64;

interface Series {
  family: string;
  metricName: string | undefined;
  labels: LabelSet;
}

/** A counter or histogram of ours: what is folded. Gauges and per-process metrics leave with their worker. */
export function isFoldable(metric: MetricJSON): boolean {
  return metric.name.startsWith('tsicorn_') && (metric.type === 'counter' || metric.type === 'histogram');
}

/**
 * The master's running totals of the workers' request counters, so that they never go backwards
 * when a worker exits and takes its own counters with it. For each live worker it keeps the
 * highest value seen of each series (a worker's counters only grow, so the highest is the latest,
 * whatever order a scrape answer and the final report arrive in); when the worker exits, those
 * values are folded into the retired total. A report that arrives after the exit (Node may emit
 * a child's `exit` before the last IPC messages are read) adds only what it has beyond what was folded.
 */
export class CounterLedger {
  private readonly live = new Map<number, Map<string, number>>();
  /** Exited workers' folded values, the last GONE_KEPT of them. */
  private readonly gone = new Map<number, Map<string, number>>();
  private readonly retired = new Map<string, number>();
  private readonly series = new Map<string, Series>();
  private readonly families = new Map<string, { help: string; type: MetricKind }>();

  /** A worker's report: `metrics` may hold anything; only our counters and histograms are kept. */
  update(worker: number, metrics: readonly MetricJSON[]): void {
    const exited = this.gone.get(worker);
    let values = exited ?? this.live.get(worker);
    if (!values) {
      values = new Map();
      this.live.set(worker, values);
    }
    for (const metric of metrics) {
      if (!isFoldable(metric)) continue;
      if (!this.families.has(metric.name)) this.families.set(metric.name, { help: metric.help, type: metric.type });
      for (const sample of metric.values) {
        // A counter is finite and never negative; anything else is not a count to keep.
        if (!Number.isFinite(sample.value) || sample.value < 0) continue;
        const key = seriesKey(metric.name, sample);
        if (!this.series.has(key)) this.series.set(key, { family: metric.name, metricName: sample.metricName, labels: sample.labels });
        const before = values.get(key);
        // Zeros are kept too: a histogram's empty low buckets must still be exported.
        if (before !== undefined && !(sample.value > before)) continue;
        values.set(key, sample.value);
        if (exited) this.retired.set(key, (this.retired.get(key) ?? 0) + sample.value - (before ?? 0));
      }
    }
  }

  /** The worker exited: what it counted stays in the totals. */
  exited(worker: number): void {
    if (this.gone.has(worker)) return;
    const values = this.live.get(worker) ?? new Map<string, number>();
    this.live.delete(worker);
    for (const [key, value] of values) this.retired.set(key, (this.retired.get(key) ?? 0) + value);
    this.gone.set(worker, values);
    if (this.gone.size > GONE_KEPT) this.gone.delete(this.gone.keys().next().value as number);
  }

  /** Every series summed over live and exited workers, in prom-client's JSON form. */
  toJSON(): MetricJSON[] {
    const totals = new Map(this.retired);
    for (const values of this.live.values()) for (const [key, value] of values) totals.set(key, (totals.get(key) ?? 0) + value);
    const out = new Map<string, MetricJSON>();
    for (const [name, family] of this.families) out.set(name, { name, ...family, aggregator: 'sum', values: [] });
    // In first-seen order: a histogram's buckets for one label set stay together and ascending.
    for (const [key, s] of this.series) {
      const value = totals.get(key);
      if (value === undefined) continue;
      out.get(s.family)?.values.push({ value, labels: s.labels, ...(s.metricName ? { metricName: s.metricName } : {}) });
    }
    return [...out.values()];
  }
}
