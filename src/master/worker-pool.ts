import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { LoadedConfig } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import type { MasterMessage } from '../ipc/messages.js';
import { stopTimings } from '../ipc/stop-timings.js';
import type { Logger } from '../log/logger.js';
import type { Listener } from './listeners.js';
import { StandbyPool, type StandbySpec } from './standby.js';
import { type ExitReason, type ForkSpec, type WorkerEvents, WorkerHandle } from './worker-handle.js';

/** `workers: auto` is the CPUs this process may use. */
export function workerCount(setting: Settings['workers']): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

/** What a generation of workers is started with: its config and the listeners it inherits. */
export interface Generation {
  number: number;
  config: LoadedConfig;
  listeners: Listener[];
}

const isLive = (w: WorkerHandle) => w.state === 'booting' || w.state === 'ready';

/** A ready worker that has stayed up `min_uptime`: only such a worker covers for one that leaves. */
export const isStable = (w: WorkerHandle, minUptimeMs: number, now: number) => w.state === 'ready' && now - w.readyAt >= minUptimeMs;

const minUptimeMs = (generation: Generation) => generation.config.settings.min_uptime * 1000;

/**
 * The master's set of workers: spawning them with a generation's config, and the two policies
 * that decide who starts and who leaves — steady state, and rotation to a new generation. It
 * never lets the number of ready workers fall below the target on purpose: an old worker leaves
 * only once a ready worker covers for it.
 */
export class WorkerPool {
  private readonly workers = new Map<number, WorkerHandle>();
  private readonly standbys: StandbyPool;
  private nextId = 1;

  constructor(
    private readonly events: WorkerEvents,
    private readonly log: Logger,
    /** Under round-robin the master accepts: workers get no listening sockets. */
    private readonly roundRobin: boolean,
  ) {
    this.standbys = new StandbyPool(log);
  }

  get size(): number {
    return this.workers.size;
  }

  all(): WorkerHandle[] {
    return [...this.workers.values()];
  }

  live(): WorkerHandle[] {
    return this.all().filter(isLive);
  }

  ready(): WorkerHandle[] {
    return this.all().filter((w) => w.state === 'ready');
  }

  /** To every worker still running, leaving ones included (they too have logs and certificates). */
  broadcast(message: MasterMessage): void {
    for (const worker of this.workers.values()) if (worker.state !== 'exited') worker.send(message);
  }

  remove(worker: WorkerHandle): void {
    this.workers.delete(worker.id);
  }

  /** The process a worker of `generation` is started as: its environment, listeners, output capture. */
  private forkSpec({ config, listeners }: Generation): ForkSpec {
    const { settings } = config;
    const env: NodeJS.ProcessEnv = { ...process.env, UV_THREADPOOL_SIZE: String(settings.threads) };
    // systemd's variables are the master's: a worker is neither the notifying nor the activated process.
    for (const name of ['NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES']) delete env[name];
    for (const [key, value] of Object.entries(settings.env)) if (value !== undefined) env[key] = String(value);
    const fds = this.roundRobin ? [] : listeners.map((l) => l.fd);
    return { env, fds, captureOutput: settings.log.capture_output, name: settings.proc_name ?? settings.app };
  }

  private standbySpec(generation: Generation): StandbySpec {
    return { fork: this.forkSpec(generation), listeners: this.roundRobin ? [] : generation.listeners };
  }

  spawn(generation: Generation): WorkerHandle {
    const { settings, baseDir } = generation.config;
    const standbySpec = this.standbySpec(generation);
    const spec = standbySpec.fork;
    const { fds, captureOutput } = spec;
    this.events.beforeSpawn?.(this.nextId, generation.number);
    const standby = this.standbys.size > 0 ? this.standbys.take(standbySpec) : null;
    const worker = new WorkerHandle(
      {
        ...spec,
        id: this.nextId++,
        generation: generation.number,
        standby,
        onOutput: (w, stream, output) =>
          this.log.info({ worker: w.id, workerPid: w.pid, generation: w.generation, stream, output }, 'app output'),
        bootTimeoutMs: settings.boot_timeout * 1000,
      },
      this.events,
    );
    const jitter = settings.max_requests > 0 && settings.max_requests_jitter > 0 ? randomInt(0, settings.max_requests_jitter + 1) : 0;
    worker.send({
      type: 'boot',
      id: worker.id,
      generation: generation.number,
      settings,
      baseDir,
      listeners: generation.listeners.map((l, i) => ({ fd: this.roundRobin ? null : 4 + i, address: l.bound })),
      maxRequests: settings.max_requests > 0 ? settings.max_requests + jitter : 0,
      logFd: captureOutput ? 4 + fds.length : 2,
      accessFd: captureOutput ? 5 + fds.length : 1,
    });
    this.workers.set(worker.id, worker);
    this.log.debug(
      { worker: worker.id, workerPid: worker.pid, generation: generation.number, standby: standby !== null },
      'worker spawned',
    );
    return worker;
  }

  /**
   * Steady state: spawn the missing (unless `mayspawn` is false: crash back-off), retire extras,
   * and let workers marked for replacement (max_requests, max_memory, uncaught exception) go,
   * oldest first, only while the stable workers left still cover the target.
   *
   * A marked worker still serves, so it covers for an older one: under load a replacement can
   * reach max_requests before it has stayed up min_uptime, and if only unmarked workers counted,
   * no marked worker would ever leave while a new one was spawned for each (a pool growing
   * without bound). For the same reason there are never more than 2 × target processes,
   * leaving ones included: a marked worker serves on until there is room for its replacement.
   */
  manageSteady(target: number, generation: Generation, maySpawn: boolean, now: number): void {
    const timings = stopTimings(generation.config.settings, false);
    const live = this.live();
    const active = live.filter((w) => w.replaceReason === null);
    const missing = target - active.length;
    if (missing > 0 && maySpawn) {
      // Leaving workers count: they are processes still holding memory (a drain can last
      // graceful_timeout), and under churn they would take the pool past 2 × target.
      const room = 2 * target - this.all().filter((w) => w.state !== 'exited').length;
      for (let i = 0; i < Math.min(missing, room); i++) this.spawn(generation);
    } else if (missing < 0) {
      // Booting extras first, then the oldest.
      const extras = [...active].sort((a, b) => (a.state === b.state ? a.spawnedAt - b.spawnedAt : a.state === 'booting' ? -1 : 1));
      for (const worker of extras.slice(0, -missing)) worker.retire('scale', timings);
    }
    const stable = (w: WorkerHandle) => isStable(w, minUptimeMs(generation), now);
    let spare = live.filter(stable).length - target;
    const marked = live.filter((w) => w.replaceReason !== null).sort((a, b) => a.spawnedAt - b.spawnedAt);
    for (const worker of marked) {
      const reason = worker.replaceReason as ExitReason;
      if (worker.state === 'booting') worker.retire(reason, timings);
      else if (!stable(worker) && spare >= 0) worker.retire(reason, timings);
      else if (stable(worker) && spare > 0) {
        worker.retire(reason, timings);
        spare--;
      }
    }
    // Standbys start once no worker is booting: they would only slow the boots down.
    const standbys = generation.config.settings.standby_workers;
    if (standbys > 0 || this.standbys.size > 0) {
      const mayStart = maySpawn && !this.live().some((w) => w.state === 'booting');
      this.standbys.maintain(standbys, this.standbySpec(generation), now, mayStart);
    }
  }

  standbyPids(): number[] {
    return this.standbys.pids();
  }

  get standbyCount(): number {
    return this.standbys.size;
  }

  /** The master stops: no standby outlives it (nor would one: it exits when the master's channel closes). */
  clearStandbys(): void {
    this.standbys.clear();
  }

  /**
   * Rotation to `next`: boot new workers (at most `surge` at a time), and for each new worker
   * that has stayed up `min_uptime` retire one old worker. Returns true when the rotation is complete.
   */
  manageRotation(target: number, next: Generation, surge: number, reason: ExitReason, maySpawn: boolean, now: number): boolean {
    const timings = stopTimings(next.config.settings, false);
    // Standbys the new generation cannot take hold copies of sockets it may be leaving behind.
    if (this.standbys.size > 0) this.standbys.keepOnly(this.standbySpec(next));
    const live = this.live();
    const fresh = live.filter((w) => w.generation === next.number);
    const old = live.filter((w) => w.generation !== next.number);
    const booting = fresh.filter((w) => w.state === 'booting').length;
    const toSpawn = maySpawn ? Math.min(target - fresh.length, Math.max(1, surge) - booting) : 0;
    for (let i = 0; i < toSpawn; i++) this.spawn(next);
    for (const worker of old) if (worker.state === 'booting') worker.retire(reason, timings);
    const stableFresh = fresh.filter((w) => isStable(w, minUptimeMs(next), now)).length;
    const readyOld = old.filter((w) => w.state === 'ready').sort((a, b) => a.spawnedAt - b.spawnedAt);
    let spare = stableFresh + readyOld.length - target;
    for (const worker of readyOld) {
      if (spare <= 0) break;
      worker.retire(reason, timings);
      spare--;
    }
    return stableFresh >= target && this.live().every((w) => w.generation === next.number);
  }

  /**
   * A rotation failed: stop the new generation's workers, except ready ones still needed to
   * keep the target (old workers they replaced are already gone).
   */
  abandon(target: number, failed: Generation): void {
    const timings = stopTimings(failed.config.settings, false);
    const live = this.live();
    let keep = target - live.filter((w) => w.generation !== failed.number).length;
    for (const worker of live.filter((w) => w.generation === failed.number)) {
      if (worker.state === 'ready' && keep > 0) {
        keep--;
        continue;
      }
      worker.retire('reload', timings);
    }
  }
}
