import type { Settings } from '../config/settings.js';
import type { StopTimings } from './stop-timings.js';

/**
 * The typed protocol between the master (src/master/worker-handle.ts) and a worker
 * (src/worker/main.ts). It is the only thing the two sides share: a closed union each way, checked
 * at runtime on receipt because an IPC channel carries whatever the other side sent.
 */

/** A listener of the master: `fd` is its descriptor in the worker, or null under round-robin. */
export interface InheritedListener {
  fd: number | null;
  /** The `bind` entry as written, for logs. */
  address: string;
}

export type MasterMessage =
  | {
      type: 'boot';
      id: number;
      generation: number;
      settings: Settings;
      /** Directory relative paths in the settings are resolved against. */
      baseDir: string;
      /** One per master listener; under round-robin (fd null) connections arrive as `connection` messages. */
      listeners: InheritedListener[];
      /** This worker's own max_requests, jitter applied (0 = never). */
      maxRequests: number;
      /** Where the server log's `-` writes: 2, or the master's stderr when this worker's is captured. */
      logFd: number;
      /** Where the access log's `-` writes: 1, or the master's stdout when this worker's is captured. */
      accessFd: number;
    }
  /** USR1 (logrotate): reopen the server and access log files. */
  | { type: 'reopen-logs' }
  /** The TLS certificate or key changed on disk: check and swap the secure context. */
  | { type: 'reload-tls' }
  /** A reload changed only `log.*`: apply it without a rotation. */
  | { type: 'configure-log'; log: Settings['log'] }
  /** balance: round-robin: an accepted connection for listener N comes with this message. */
  | { type: 'connection'; listener: number }
  /** A scrape of the master's metrics endpoint: answer with a `metrics` message carrying this id. */
  | { type: 'metrics-request'; id: number }
  /** `tsicorn status`: send a heartbeat now, answering this id, so the status shows figures as of now. */
  | { type: 'report-request'; id: number }
  /**
   * Retire: `graceful` drains within `gracefulMs` (graceful_timeout as the master has it now),
   * closing a keep-alive socket once idle for `idleGraceMs`; `quick` exits at once.
   */
  | ({ type: 'stop'; mode: 'graceful' | 'quick'; reason: string } & StopTimings);

export type WorkerMessage =
  | { type: 'ready'; interface: string; describe: string; bootMs: number }
  /** The app failed to load; the worker exits right after. */
  /** `listenError`: the listener could not listen (EADDRINUSE, EACCES): a bind problem, not the app's. */
  | { type: 'boot-failed'; message: string; stack?: string; listenError?: { address: string; code: string } }
  /**
   * `oldest`: the longest-running request in flight (`GET /path`), for the timeout log; `rss`
   * (bytes) and `cpuMs` (user + system) for `tsicorn status` and max_memory. `answers`: the id of
   * the `report-request` this beat answers (absent on the periodic beat).
   */
  | { type: 'heartbeat'; requests: number; inflight: number; rss: number; cpuMs: number; oldest?: string; answers?: number }
  /** The worker asks to be replaced (it keeps serving until told to stop). */
  | { type: 'retire'; reason: RetireReason; detail?: string }
  /**
   * The worker's metrics (prom-client's `getMetricsAsJSON()` form, src/metrics/metric-json.ts), in
   * answer to `metrics-request` `id`; `final`: its last request counts, sent as it exits.
   */
  | { type: 'metrics'; id: number; final?: boolean; metrics: unknown[] };

export type RetireReason = 'max_requests' | 'uncaught_exception';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isMasterMessage(value: unknown): value is MasterMessage {
  if (!isObject(value)) return false;
  if (value.type === 'boot') return typeof value.id === 'number' && typeof value.generation === 'number' && isObject(value.settings);
  if (value.type === 'stop')
    return (
      (value.mode === 'graceful' || value.mode === 'quick') && typeof value.gracefulMs === 'number' && typeof value.idleGraceMs === 'number'
    );
  if (value.type === 'connection') return typeof value.listener === 'number';
  if (value.type === 'metrics-request' || value.type === 'report-request') return typeof value.id === 'number';
  if (value.type === 'reopen-logs' || value.type === 'reload-tls') return true;
  if (value.type === 'configure-log') return isObject(value.log);
  return false;
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (!isObject(value)) return false;
  switch (value.type) {
    case 'ready':
      return typeof value.interface === 'string';
    case 'boot-failed':
      return typeof value.message === 'string';
    case 'heartbeat':
      return (
        typeof value.requests === 'number' &&
        typeof value.inflight === 'number' &&
        typeof value.rss === 'number' &&
        typeof value.cpuMs === 'number' &&
        (value.answers === undefined || typeof value.answers === 'number')
      );
    case 'retire':
      return value.reason === 'max_requests' || value.reason === 'uncaught_exception';
    case 'metrics':
      // Each entry is checked where it is used (src/metrics/metric-json.ts): one bad entry drops alone.
      return typeof value.id === 'number' && Array.isArray(value.metrics);
    default:
      return false;
  }
}
