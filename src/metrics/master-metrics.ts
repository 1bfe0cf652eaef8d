import type { Settings } from '../config/settings.js';
import type { WorkerMessage } from '../ipc/messages.js';
import type { Logger } from '../log/logger.js';
import type { MasterState } from '../master/master-events.js';
import type { WorkerHandle } from '../master/worker-handle.js';
import { CounterLedger, isFoldable } from './counter-ledger.js';
import { type MetricJSON, perProcess, validMetrics } from './metric-json.js';
import {
  GATHER_TIMEOUTS,
  HELP,
  INFLIGHT,
  NOT_RESTARTS,
  RELOAD_RESULTS,
  RELOADS,
  RESTART_REASONS,
  type ReloadResult,
  STANDBYS,
  WORKER_RESTARTS,
  WORKER_STATES,
  WORKERS,
  WORKERS_TARGET,
} from './names.js';
import { createStatsd, type StatsdSink, statsdName } from './statsd.js';

/** How long a scrape waits for the workers' answers: a stuck worker cannot hang it. */
export const GATHER_TIMEOUT_MS = 1000;
/** How often the master sends its gauges to StatsD (a StatsD server keeps the last one per flush). */
const STATSD_GAUGES_MS = 2000;

/** What the master lets its metrics read; read-only, and only between the master's events. */
export interface PoolView {
  workers(): readonly WorkerHandle[];
  /** Processes started ahead (standby_workers). */
  standbys(): number;
  target(): number;
  state(): MasterState;
}

export interface Readiness {
  ready: boolean;
  /** Workers ready to serve, and how many the master keeps. */
  workers: number;
  target: number;
  state: MasterState;
}

/** One scrape's request to the workers: who has yet to answer, and what came. */
class Gather {
  readonly answers: MetricJSON[] = [];
  constructor(
    readonly waiting: Set<WorkerHandle>,
    private readonly done: () => void,
  ) {}

  answered(worker: WorkerHandle, metrics: MetricJSON[]): void {
    if (!this.waiting.delete(worker)) return;
    this.answers.push(...metrics);
    if (this.waiting.size === 0) this.done();
  }

  /** An exited worker will not answer. */
  forget(worker: WorkerHandle): void {
    if (this.waiting.delete(worker) && this.waiting.size === 0) this.done();
  }
}

function metric(name: string, type: 'counter' | 'gauge', values: MetricJSON['values']): MetricJSON {
  return { name, help: HELP[name] as string, type, aggregator: 'sum', values };
}

/** A counter with one label, from a map of label value → count. */
function counted(name: string, label: string, counts: ReadonlyMap<string, number>): MetricJSON {
  return metric(
    name,
    'counter',
    [...counts].map(([value, count]) => ({ value: count, labels: { [label]: value } })),
  );
}

/**
 * The master's side of the metrics: what only the master knows (workers by state, restarts by
 * reason, reloads by result), the running totals of the workers' request counters (CounterLedger),
 * gathering the workers' registries on each scrape over IPC, readiness for `/-/ready`, and the
 * master's StatsD counters and gauges. The master calls it from its event queue; the counterpart
 * in each worker is src/metrics/worker-metrics.ts; the HTTP side is src/metrics/metrics-server.ts.
 */
export class MasterMetrics {
  private view: PoolView | null = null;
  private readonly ledger = new CounterLedger();
  private readonly restarts = new Map<string, number>(RESTART_REASONS.map((r) => [r, 0]));
  private readonly reloads = new Map<string, number>(RELOAD_RESULTS.map((r) => [r, 0]));
  private gatherTimeouts = 0;
  private nextId = 1;
  private readonly gathers = new Map<number, Gather>();
  private statsd: StatsdSink | null = null;
  private statsdSettings = JSON.stringify(null);
  private gauges: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger) {}

  attach(view: PoolView): void {
    this.view = view;
  }

  /** A worker's `metrics` message: an answer to a scrape, or its final counts as it exits. */
  received(worker: WorkerHandle, message: Extract<WorkerMessage, { type: 'metrics' }>): void {
    const metrics = validMetrics(message.metrics);
    this.ledger.update(worker.id, metrics);
    if (!message.final) this.gathers.get(message.id)?.answered(worker, metrics.filter((m) => !isFoldable(m)).map(perProcess));
  }

  /** A worker exited; `killedFor` is why the master killed it, if it did. */
  workerExited(worker: WorkerHandle, killedFor: string | undefined): void {
    this.ledger.exited(worker.id);
    for (const gather of this.gathers.values()) gather.forget(worker);
    const reason = worker.retireReason ?? killedFor ?? 'exit';
    if (NOT_RESTARTS.has(reason)) return;
    this.restarts.set(reason, (this.restarts.get(reason) ?? 0) + 1);
    if (this.statsd) this.statsd.increment(statsdName(this.statsd.prefix, WORKER_RESTARTS, [reason]));
  }

  /** A reload came to its end (or to nothing). */
  reloaded(result: ReloadResult): void {
    this.reloads.set(result, (this.reloads.get(result) ?? 0) + 1);
    if (this.statsd) this.statsd.increment(statsdName(this.statsd.prefix, RELOADS, [result]));
  }

  /** Ready = serving with at least the configured number of workers ready; never while stopping. */
  readiness(): Readiness {
    const state = this.view?.state() ?? 'booting';
    const workers = this.view?.workers().filter((w) => w.state === 'ready').length ?? 0;
    const target = this.view?.target() ?? 0;
    return { ready: (state === 'running' || state === 'rotating') && workers >= target, workers, target, state };
  }

  /**
   * Asks every serving worker for its registry (a `metrics-request` with a fresh id), waits for
   * the answers at most GATHER_TIMEOUT_MS, and resolves with everything for `aggregate()` but the
   * master's own process metrics. A worker that does not answer in time is left out, except for
   * its request counts, which the ledger has from its last answer.
   */
  gather(): Promise<MetricJSON[]> {
    const asked = (this.view?.workers() ?? []).filter((w) => w.state === 'ready' || w.state === 'retiring');
    const id = this.nextId++;
    return new Promise((resolvePromise) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        this.gathers.delete(id);
        if (gather.waiting.size > 0) {
          this.gatherTimeouts++;
          this.log.warn(
            { workers: [...gather.waiting].map((w) => w.id), timeoutMs: GATHER_TIMEOUT_MS },
            'workers did not answer the metrics request in time; their last counts are used',
          );
        }
        resolvePromise([...this.ledger.toJSON(), ...gather.answers, ...this.own()]);
      };
      const gather = new Gather(new Set(asked), finish);
      if (asked.length === 0) return finish();
      this.gathers.set(id, gather);
      timer = setTimeout(finish, GATHER_TIMEOUT_MS);
      for (const worker of asked) worker.send({ type: 'metrics-request', id });
    });
  }

  /** The metrics only the master has. */
  private own(): MetricJSON[] {
    const byState = new Map<string, number>(WORKER_STATES.map((s) => [s, 0]));
    for (const worker of this.view?.workers() ?? []) byState.set(worker.state, (byState.get(worker.state) ?? 0) + 1);
    return [
      metric(
        WORKERS,
        'gauge',
        WORKER_STATES.map((state) => ({ value: byState.get(state) ?? 0, labels: { state } })),
      ),
      metric(WORKERS_TARGET, 'gauge', [{ value: this.view?.target() ?? 0, labels: {} }]),
      metric(STANDBYS, 'gauge', [{ value: this.view?.standbys() ?? 0, labels: {} }]),
      counted(WORKER_RESTARTS, 'reason', this.restarts),
      counted(RELOADS, 'result', this.reloads),
      metric(GATHER_TIMEOUTS, 'counter', [{ value: this.gatherTimeouts, labels: {} }]),
    ];
  }

  /** `statsd.*` at start and after each reload: a changed target gets a new client. Never rejects. */
  async configureStatsd(settings: Settings['statsd']): Promise<void> {
    const key = JSON.stringify(settings);
    if (key === this.statsdSettings) return;
    this.statsdSettings = key;
    clearInterval(this.gauges);
    const previous = this.statsd;
    this.statsd = null;
    await previous?.close();
    this.statsd = await createStatsd(settings, this.log);
    if (this.statsd) this.gauges = setInterval(() => this.sendGauges(), STATSD_GAUGES_MS).unref();
  }

  private sendGauges(): void {
    const statsd = this.statsd;
    if (!statsd) return;
    const workers = this.view?.workers() ?? [];
    for (const state of WORKER_STATES) {
      statsd.gauge(statsdName(statsd.prefix, WORKERS, [state]), workers.filter((w) => w.state === state).length);
    }
    statsd.gauge(statsdName(statsd.prefix, WORKERS_TARGET), this.view?.target() ?? 0);
    statsd.gauge(statsdName(statsd.prefix, STANDBYS), this.view?.standbys() ?? 0);
    // As of the workers' last heartbeats (at most a second old): no IPC round trip for a gauge.
    statsd.gauge(
      statsdName(statsd.prefix, INFLIGHT),
      workers.reduce((sum, w) => sum + w.inflight, 0),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.gauges);
    await this.statsd?.close();
    this.statsd = null;
  }
}
