import type { Settings } from '../config/settings.js';
import type { Hooks } from '../hooks/hooks.js';
import type { Logger } from '../log/logger.js';
import type { MasterMetrics } from '../metrics/master-metrics.js';
import type { ReloadResult } from '../metrics/names.js';
import { ExitHistory } from './exit-history.js';
import type { SystemdNotifier } from './systemd-notify.js';
import type { WorkerHandle } from './worker-handle.js';

/** What a hook sees of the master (Gunicorn passes its Arbiter): facts and a logger, read-only. */
export interface HookServer {
  pid: number;
  app: string;
  workers: number;
  generation: number;
  settings: Settings;
  log: Logger;
}

/**
 * Everything outside the master that learns of what it does: the user's hooks, the metrics,
 * systemd, and the exit history `tsicorn status` shows. The master says what happened, once, at
 * the place it happened; who is told what lives here.
 */
export class Observers {
  readonly exits = new ExitHistory();

  constructor(
    /** Read at each call: a reload can bring a new hooks module. */
    private readonly hooks: () => Hooks,
    private readonly server: () => HookServer,
    private readonly metrics: MasterMetrics | undefined,
    private readonly notifier: SystemdNotifier | null | undefined,
  ) {}

  /** Every worker of the first generation is ready. */
  serving(workers: number): void {
    this.notifier?.ready(`serving, ${workers} workers`);
    this.hooks().call('when_ready', this.server());
  }

  /** A valid reload starts (it will apply live, or rotate). */
  reloadStarted(): void {
    this.hooks().call('on_reload', this.server());
    this.notifier?.reloading();
  }

  /** A reload ended, however it ended; the server serves on either way. */
  reloadEnded(result: ReloadResult, workers: number): void {
    this.metrics?.reloaded(result);
    this.notifier?.ready(`serving, ${workers} workers`);
  }

  beforeSpawn(id: number, generation: number): void {
    this.hooks().call('pre_fork', this.server(), { id, pid: 0, generation });
  }

  workerExited(worker: WorkerHandle, code: number | null, signal: NodeJS.Signals | null, killedFor: string | undefined): void {
    this.hooks().call('child_exit', this.server(), { id: worker.id, pid: worker.pid, generation: worker.generation, code, signal });
    this.exits.record(worker.pid, worker.generation, worker.retireReason ?? killedFor ?? 'exit');
    this.metrics?.workerExited(worker, killedFor);
  }

  workersChanged(to: number, from: number): void {
    this.hooks().call('nworkers_changed', this.server(), to, from);
  }

  /** `handedOver`: after USR2 the successor is the service's main process, which is not stopping. */
  stopping(handedOver: boolean): void {
    if (!handedOver) this.notifier?.stopping();
  }

  stopped(): void {
    this.hooks().call('on_exit', this.server());
  }
}
