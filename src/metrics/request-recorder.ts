import type { MetricJSON, MetricSample } from './metric-json.js';
import { DURATION_BUCKETS, HELP, METHODS, REQUEST_DURATION, REQUESTS_TOTAL, STATUS_CLASSES } from './names.js';

const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHODS.map((m, i) => [m, i]));
const OTHER_METHOD = METHODS.length - 1;
const OTHER_CLASS = STATUS_CLASSES.length - 1;
const CLASSES = STATUS_CLASSES.length;
/** One cell per (method, status class): the label sets a worker can produce. */
export const CELLS = METHODS.length * CLASSES;
const BUCKETS = DURATION_BUCKETS.length;

/** The labels of cell `cell`. */
export function cellLabels(cell: number): { method: string; status: string } {
  return { method: METHODS[Math.floor(cell / CLASSES)] as string, status: STATUS_CLASSES[cell % CLASSES] as string };
}

/**
 * A worker's request counts and latency histogram in preallocated typed arrays, one cell per
 * (method, status class). Recording a request is a few array increments: no object, string or
 * closure is made on the request path (prom-client's `labels().observe()` hashes the label set
 * into a new string per call). The arrays become prom-client's JSON form only when the master
 * asks (`toJSON`, at scrape time); the master merges them across workers.
 */
export class RequestRecorder {
  private readonly counts = new Float64Array(CELLS);
  private readonly sums = new Float64Array(CELLS);
  /** Per cell, the requests whose duration fell in each finite bucket (not cumulative). */
  private readonly buckets = new Float64Array(CELLS * BUCKETS);

  /** One finished request: `status` as the access log has it (499 if the client left first), `ms` its duration. Returns its cell. */
  record(method: string | undefined, status: number, ms: number): number {
    const m = method === undefined ? OTHER_METHOD : (METHOD_INDEX.get(method) ?? OTHER_METHOD);
    const c = status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : OTHER_CLASS;
    const cell = m * CLASSES + c;
    const seconds = ms / 1000;
    this.counts[cell] = (this.counts[cell] as number) + 1;
    this.sums[cell] = (this.sums[cell] as number) + seconds;
    for (let b = 0; b < BUCKETS; b++) {
      if (seconds <= (DURATION_BUCKETS[b] as number)) {
        const at = cell * BUCKETS + b;
        this.buckets[at] = (this.buckets[at] as number) + 1;
        break;
      }
    }
    return cell;
  }

  /** Requests recorded so far in one cell. */
  count(cell: number): number {
    return this.counts[cell] ?? 0;
  }

  /** Requests recorded so far, all cells together. */
  get total(): number {
    let sum = 0;
    for (const count of this.counts) sum += count;
    return sum;
  }

  /** The counter in prom-client's JSON form; cells never used are left out. */
  counterJSON(): MetricJSON {
    const values: MetricSample[] = [];
    for (let cell = 0; cell < CELLS; cell++) {
      const count = this.counts[cell] as number;
      if (count > 0) values.push({ value: count, labels: cellLabels(cell) });
    }
    return { name: REQUESTS_TOTAL, help: HELP[REQUESTS_TOTAL] as string, type: 'counter', aggregator: 'sum', values };
  }

  /** The histogram in prom-client's JSON form (cumulative buckets, +Inf, sum, count per label set). */
  histogramJSON(): MetricJSON {
    const values: MetricSample[] = [];
    const bucket = `${REQUEST_DURATION}_bucket`;
    for (let cell = 0; cell < CELLS; cell++) {
      const count = this.counts[cell] as number;
      if (count === 0) continue;
      const labels = cellLabels(cell);
      let cumulative = 0;
      for (let b = 0; b < BUCKETS; b++) {
        cumulative += this.buckets[cell * BUCKETS + b] as number;
        values.push({ value: cumulative, labels: { le: DURATION_BUCKETS[b] as number, ...labels }, metricName: bucket });
      }
      values.push(
        { value: count, labels: { le: '+Inf', ...labels }, metricName: bucket },
        { value: this.sums[cell] as number, labels, metricName: `${REQUEST_DURATION}_sum` },
        { value: count, labels, metricName: `${REQUEST_DURATION}_count` },
      );
    }
    return { name: REQUEST_DURATION, help: HELP[REQUEST_DURATION] as string, type: 'histogram', aggregator: 'sum', values };
  }

  toJSON(): MetricJSON[] {
    return [this.counterJSON(), this.histogramJSON()];
  }
}
