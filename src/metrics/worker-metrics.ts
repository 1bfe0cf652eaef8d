import type { Settings } from '../config/settings.js';
import type { WorkerMessage } from '../ipc/messages.js';
import { sendToMaster } from '../ipc/worker-channel.js';
import type { Logger } from '../log/logger.js';
import { HELP, INFLIGHT, REQUEST_DURATION, REQUESTS_TOTAL } from './names.js';
import { CELLS, cellLabels, RequestRecorder } from './request-recorder.js';
import { createStatsd, type StatsdSink, statsdName } from './statsd.js';

/** The part of prom-client's Registry a worker uses (prom-client is imported only when metrics are on). */
interface Registry {
  getMetricsAsJSON(): Promise<unknown[]>;
}

/** How often a worker sends StatsD the requests counted since the last time. */
const STATSD_COUNTS_MS = 1000;

/** StatsD names per (method, status class), made once so that a request builds no string. */
function namesPerCell(prefix: string, metric: string): string[] {
  return Array.from({ length: CELLS }, (_, cell) => statsdName(prefix, metric, Object.values(cellLabels(cell))));
}

/**
 * A worker's metrics: request counts and latencies recorded per request (RequestRecorder: array
 * increments, nothing allocated), its own prom-client Registry with the process metrics labelled
 * `worker="<id>"`, answered to the master on each scrape, and what it sends StatsD directly.
 * The counterpart in the master is src/metrics/master-metrics.ts.
 */
export class WorkerMetrics {
  private readonly recorder = new RequestRecorder();
  private readonly statsdNames: { requests: string[]; durations: string[] } | null;
  /** Per cell, the count StatsD has been sent so far. */
  private readonly sent = new Float64Array(CELLS);

  private constructor(
    private readonly registry: Registry | null,
    private readonly statsd: StatsdSink | null,
  ) {
    this.statsdNames = statsd && {
      requests: namesPerCell(statsd.prefix, REQUESTS_TOTAL),
      durations: namesPerCell(statsd.prefix, 'request_duration'),
    };
    // A hot-shots call costs microseconds: the counter goes as one summed increment per second and
    // label set (exact, from the recorder); only the timer, whose samples StatsD needs, is per request.
    if (statsd) setInterval(() => this.sendCounts(), STATSD_COUNTS_MS).unref();
  }

  /** The metrics `settings` ask for (Prometheus, StatsD or both; see loadWorkerMetrics). */
  static async create(settings: Settings, worker: number, inflight: () => number, log: Logger): Promise<WorkerMetrics> {
    const statsd = await createStatsd(settings.statsd, log);
    if (settings.metrics.bind === null) return new WorkerMetrics(null, statsd);
    // Loaded only when metrics are on: it adds ~28 ms to a worker's boot (bootMs 8 → 36 here).
    const prom = await import('prom-client');
    const registry = new prom.Registry();
    prom.collectDefaultMetrics({ register: registry, labels: { worker: String(worker) } });
    // Read when the master asks: nothing is done per request for it.
    new prom.Gauge({
      name: INFLIGHT,
      help: HELP[INFLIGHT] as string,
      registers: [registry],
      aggregator: 'sum',
      collect() {
        this.set(inflight());
      },
    });
    const metrics = new WorkerMetrics(registry, statsd);
    // The recorder's arrays, exported in prom-client's form when the registry is read.
    const { recorder } = metrics;
    registry.registerMetric({ name: REQUESTS_TOTAL, get: async () => recorder.counterJSON() } as never);
    registry.registerMetric({ name: REQUEST_DURATION, get: async () => recorder.histogramJSON() } as never);
    return metrics;
  }

  /** Once per request, when its response closes (the request pipeline calls it). */
  record(method: string | undefined, status: number, ms: number): void {
    const cell = this.recorder.record(method, status, ms);
    if (this.statsdNames) this.statsd?.timing(this.statsdNames.durations[cell] as string, ms);
  }

  private sendCounts(): void {
    if (!this.statsd || !this.statsdNames) return;
    for (let cell = 0; cell < CELLS; cell++) {
      const delta = this.recorder.count(cell) - (this.sent[cell] as number);
      if (delta === 0) continue;
      this.statsd.increment(this.statsdNames.requests[cell] as string, delta);
      this.sent[cell] = this.recorder.count(cell);
    }
  }

  answer(id: number): void {
    const send = (metrics: unknown[]) => sendToMaster({ type: 'metrics', id, metrics });
    if (!this.registry) send(this.recorder.toJSON());
    // If the process metrics fail, the request counts still go: they are what must not be lost.
    else this.registry.getMetricsAsJSON().then(send, () => send(this.recorder.toJSON()));
  }

  /** The last counts, for the master to keep after this worker is gone; null when nobody scrapes. */
  final(): WorkerMessage | null {
    return this.registry ? { type: 'metrics', id: 0, final: true, metrics: this.recorder.toJSON() } : null;
  }

  get sendsStatsd(): boolean {
    return this.statsd !== null;
  }

  /** Before an exit: the counts not yet sent, and the buffered packet, go now; `done` after. */
  flushStatsd(done: () => void): void {
    this.sendCounts();
    this.statsd?.flush(done);
  }
}
