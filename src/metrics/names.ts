/**
 * The metrics tsicorn exports: names, help texts and label values, declared once for the workers,
 * the master, StatsD and docs/metrics.md (a unit test checks the doc names every one).
 */

export const REQUESTS_TOTAL = 'tsicorn_requests_total';
export const REQUEST_DURATION = 'tsicorn_request_duration_seconds';
export const INFLIGHT = 'tsicorn_inflight_requests';
export const WORKERS = 'tsicorn_workers';
export const WORKERS_TARGET = 'tsicorn_workers_target';
export const STANDBYS = 'tsicorn_standby_workers';
export const WORKER_RESTARTS = 'tsicorn_worker_restarts_total';
export const RELOADS = 'tsicorn_reloads_total';
export const GATHER_TIMEOUTS = 'tsicorn_metrics_gather_timeouts_total';

export const HELP: Record<string, string> = {
  [REQUESTS_TOTAL]: 'Requests answered by the workers, by method and status class (kept across worker restarts).',
  [REQUEST_DURATION]: 'Time from the request head to the response closing, in seconds.',
  [INFLIGHT]: 'Requests in progress in the workers.',
  [WORKERS]: 'Workers by state (booting, ready, retiring).',
  [WORKERS_TARGET]: 'The number of workers the master keeps ready.',
  [STANDBYS]: 'Processes started ahead for the next new workers (standby_workers).',
  [WORKER_RESTARTS]: 'Workers that left and were replaced, by reason.',
  [RELOADS]: 'Reloads (HUP, file watcher, tsicorn reload) by result.',
  [GATHER_TIMEOUTS]: 'Scrapes in which a worker did not answer in time (its last counts were used).',
};

/**
 * Methods get their own label value; anything else is `other`, so a client inventing methods
 * cannot create series without bound.
 */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'other'] as const;
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
/** prom-client's default buckets (seconds): web latencies from 5 ms to 10 s. */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const WORKER_STATES = ['booting', 'ready', 'retiring'] as const;

/**
 * Reasons a replaced worker left (ExitReason in src/master/worker-handle.ts), zero from the start
 * so that `increase()` sees the first one. A reason not listed here is still counted when it occurs.
 */
export const RESTART_REASONS = ['exit', 'timeout', 'boot_timeout', 'max_requests', 'memory', 'uncaught_exception', 'reload'] as const;

/** How a reload ended. */
export const RELOAD_RESULTS = ['ok', 'unchanged', 'invalid_config', 'bind_failed', 'failed_boot'] as const;
export type ReloadResult = (typeof RELOAD_RESULTS)[number];

/** Exits that are not restarts: the server stopping, or TTOU scaling down (nothing replaces them). */
export const NOT_RESTARTS: ReadonlySet<string> = new Set(['shutdown', 'scale']);
