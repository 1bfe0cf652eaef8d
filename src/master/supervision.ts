import type { Settings } from '../config/settings.js';
import { sizeInBytes } from '../config/size.js';
import { TsicornError } from '../errors.js';
import type { WorkerMessage } from '../ipc/messages.js';
import type { Logger } from '../log/logger.js';
import { CrashBackoff } from './backoff.js';
import type { WorkerHandle } from './worker-handle.js';

/** A worker that dies sooner than this after it started counts as a crash for the back-off. */
const CRASH_WINDOW_MS = 10_000;
/** How long a quick stop waits for workers before SIGKILL. */
const QUICK_STOP_MS = 2_000;

type BootError = Omit<Extract<WorkerMessage, { type: 'boot-failed' }>, 'type'>;

/** What the master learns when a worker exits: why it failed to boot, or why it was killed. */
export interface ExitFacts {
  bootError: BootError | undefined;
  killedFor: 'timeout' | 'boot_timeout' | undefined;
  /** A one-line reason for logs and errors. */
  why: string;
}

export const workerFields = (worker: WorkerHandle) => ({ worker: worker.id, workerPid: worker.pid, generation: worker.generation });

/**
 * The master's watch over its workers, run on every tick: boot_timeout, timeout (a blocked event
 * loop stops its heartbeats), graceful_timeout for leaving workers, and the crash back-off.
 * It kills and records why; the master decides what an exit means.
 */
export class Supervision {
  private readonly bootErrors = new Map<WorkerHandle, BootError>();
  private readonly killedFor = new Map<WorkerHandle, 'timeout' | 'boot_timeout'>();
  private readonly backoff = new CrashBackoff();
  /** Workers the master said were over max_memory since they started (once each). */
  private readonly toldStartedAbove = new WeakSet<WorkerHandle>();

  constructor(private readonly log: Logger) {}

  recordBootError(worker: WorkerHandle, error: BootError): void {
    this.bootErrors.set(worker, error);
    this.log.error({ ...workerFields(worker), error: error.message, stack: error.stack }, 'worker failed to boot');
  }

  /** Facts about an exited worker, forgotten once read. */
  takeExitFacts(worker: WorkerHandle, code: number | null, signal: NodeJS.Signals | null): ExitFacts {
    const bootError = this.bootErrors.get(worker);
    const killedFor = this.killedFor.get(worker);
    this.bootErrors.delete(worker);
    this.killedFor.delete(worker);
    const why =
      bootError?.message ??
      (killedFor === 'boot_timeout' ? `not ready within boot_timeout (${worker.bootTimeoutMs / 1000} s)` : `exit ${signal ?? code}`);
    return { bootError, killedFor, why };
  }

  /** The error that ends start-up when a first-generation worker exits. */
  startupFailure(code: number | null, facts: ExitFacts): TsicornError {
    const listen = facts.bootError?.listenError;
    if (listen) {
      // The master binds without listening (workers share one accept queue): another server on
      // the same address can show only when the first worker listens.
      const reason = listen.code === 'EADDRINUSE' ? 'EADDRINUSE, address already in use (another server holds it)' : listen.code;
      return new TsicornError('TSI_ERR_BIND', `cannot listen on ${listen.address}: ${reason}`);
    }
    if (code === 4 && facts.bootError) return new TsicornError('TSI_ERR_APP_LOAD', `the app failed to load: ${facts.why}`);
    return new TsicornError('TSI_ERR_WORKER_BOOT', `a worker failed to start: ${facts.why}`);
  }

  /**
   * An unexpected death while serving: back off if it came soon after the worker started. The
   * line names the cause (`facts.why`), so the back-off explains itself without its neighbours.
   */
  recordDeath(worker: WorkerHandle, now: number, facts: ExitFacts): void {
    if (worker.readyAt !== 0 && now - worker.spawnedAt >= CRASH_WINDOW_MS) return;
    const delayMs = this.backoff.recordCrash(now);
    this.log.warn(
      { ...workerFields(worker), delayMs, failures: this.backoff.consecutiveFailures, cause: facts.why },
      'worker crashed soon after start; backing off',
    );
  }

  canSpawn(now: number): boolean {
    return this.backoff.canSpawn(now);
  }

  /**
   * Replaced, not killed: its requests finish while a new worker takes its place. Only a worker
   * that has been under the limit since it started: one over it from the start would have a
   * replacement as large, replaced in turn, for good (PM2's restart loop); the master says so
   * once instead. One that starts over it and comes under (a start-up peak the GC gives back) is
   * held to it from then on.
   */
  private watchMemory(worker: WorkerHandle, maxMemory: number): void {
    if (worker.replaceReason !== null || worker.rss <= maxMemory || worker.lowestRss === 0) return;
    if (worker.lowestRss <= maxMemory) {
      worker.replaceReason = 'memory';
      this.log.warn({ ...workerFields(worker), rss: worker.rss, maxMemory }, 'worker above max_memory; replacing it');
    } else if (!this.toldStartedAbove.has(worker)) {
      this.toldStartedAbove.add(worker);
      this.log.warn(
        { ...workerFields(worker), rss: worker.rss, maxMemory },
        'worker above max_memory since it started; not replacing it, a new one would start as large (raise max_memory)',
      );
    }
  }

  /** One tick: kill what overstayed, and forgive past crashes once every worker has stayed up. */
  check(workers: WorkerHandle[], settings: Settings, target: number, quickStop: boolean, now: number): void {
    const maxMemory = sizeInBytes(settings.max_memory);
    for (const worker of workers) {
      if (worker.state === 'booting' && now - worker.spawnedAt > worker.bootTimeoutMs && !this.killedFor.has(worker)) {
        this.killedFor.set(worker, 'boot_timeout');
        this.log.error(
          { ...workerFields(worker), bootTimeout: worker.bootTimeoutMs / 1000 },
          'worker not ready within boot_timeout; killing it',
        );
        worker.kill('SIGKILL');
      } else if (
        worker.state === 'ready' &&
        settings.timeout > 0 &&
        now - worker.lastHeartbeat > settings.timeout * 1000 &&
        !this.killedFor.has(worker)
      ) {
        this.killedFor.set(worker, 'timeout');
        this.log.error(
          {
            ...workerFields(worker),
            stalledMs: now - worker.lastHeartbeat,
            timeout: settings.timeout,
            // As of its last heartbeat: a stall inside a long request shows up here.
            inflight: worker.inflight,
            oldestRequest: worker.oldestRequest,
          },
          'worker timed out (event loop blocked); killing it',
        );
        worker.kill('SIGKILL');
      } else if (worker.state === 'ready' && maxMemory !== null) {
        this.watchMemory(worker, maxMemory);
      } else if (worker.state === 'retiring') {
        const limit = quickStop ? QUICK_STOP_MS : settings.graceful_timeout * 1000 + 1000;
        if (now - worker.retiringSince > limit) {
          this.log.warn({ ...workerFields(worker), inflight: worker.inflight }, 'worker did not exit within graceful_timeout; killing it');
          worker.kill('SIGKILL');
          worker.retiringSince = now;
        }
      }
    }
    const settled = workers.length >= target && workers.every((w) => w.state === 'ready' && now - w.readyAt >= CRASH_WINDOW_MS);
    if (this.backoff.consecutiveFailures > 0 && settled) this.backoff.reset();
  }
}
