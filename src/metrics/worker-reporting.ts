import type { Settings } from '../config/settings.js';
import { sendThenExit, sendToMaster } from '../ipc/worker-channel.js';
import type { Logger } from '../log/logger.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** How long an exiting worker waits for its last StatsD packet to go out. */
const STATSD_EXIT_WAIT_MS = 200;

/**
 * The worker's metrics, or null when Prometheus and StatsD are both off (the default). The
 * recorder, StatsD and their names (four modules, ~3 ms to import in a fresh process) load only when one is on.
 */
export async function loadWorkerMetrics(
  settings: Settings,
  worker: number,
  inflight: () => number,
  log: Logger,
): Promise<WorkerMetrics | null> {
  if (settings.metrics.bind === null && settings.statsd.host === null) return null;
  const { WorkerMetrics } = await import('./worker-metrics.js');
  return WorkerMetrics.create(settings, worker, inflight, log);
}

/** A `metrics-request` from the master (answered empty when this worker measures nothing). */
export function answerMetrics(metrics: WorkerMetrics | null, id: number): void {
  if (metrics) metrics.answer(id);
  else sendToMaster({ type: 'metrics', id, metrics: [] });
}

/**
 * The worker's exit: buffered StatsD goes out, the final request counts go to the master (so a
 * recycled worker's requests stay counted), then the process exits. `beforeExit` runs last.
 */
export function exitReporting(metrics: WorkerMetrics | null, beforeExit: () => void): never {
  if (!metrics) {
    beforeExit();
    process.exit(0);
  }
  let leaving = false;
  const leave = () => {
    if (leaving) return;
    leaving = true;
    const final = metrics.final();
    if (!final) {
      beforeExit();
      process.exit(0);
    }
    sendThenExit(final, 0, beforeExit);
  };
  if (!metrics.sendsStatsd) leave();
  else {
    // A UDP send completes later: exiting at once would drop the last packet. Bounded, in case
    // the socket never reports back.
    setTimeout(leave, STATSD_EXIT_WAIT_MS);
    metrics.flushStatsd(leave);
  }
  return undefined as never;
}
