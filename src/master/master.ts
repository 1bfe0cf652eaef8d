import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { LoadedConfig } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import { TsicornError } from '../errors.js';
import type { WorkerMessage } from '../ipc/messages.js';
import type { Logger } from '../log/logger.js';
import { CrashBackoff } from './backoff.js';
import type { Listener } from './listeners.js';
import { RoundRobinBalancer } from './round-robin.js';
import type { SignalInbox } from './signals.js';
import { type ExitReason, WorkerHandle } from './worker-handle.js';

type MasterEvent =
  | { type: 'signal'; signal: NodeJS.Signals }
  | { type: 'worker-message'; worker: WorkerHandle; message: WorkerMessage }
  | { type: 'worker-exit'; worker: WorkerHandle; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'tick' };

export type MasterState = 'booting' | 'running' | 'stopping' | 'halted';

const TICK_MS = 250;
/** A worker that dies sooner than this after it started counts as a crash for the back-off. */
const CRASH_WINDOW_MS = 10_000;
/** How long a quick stop waits for workers before SIGKILL. */
const QUICK_STOP_MS = 2_000;

export function workerCount(setting: Settings['workers']): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

/**
 * The master: one queue, one state machine (booting → running → stopping → halted). Signals,
 * worker messages and exits, and the tick only enqueue events; `handle` runs them one at a time,
 * so nothing acts inside a signal handler and no two decisions overlap. Its counterpart in each
 * child is src/worker/main.ts, reached through WorkerHandle.
 */
export class Master {
  private state: MasterState = 'booting';
  private readonly queue: MasterEvent[] = [];
  private scheduled = false;
  private readonly workers = new Map<number, WorkerHandle>();
  private readonly bootErrors = new Map<WorkerHandle, { message: string; stack?: string }>();
  private readonly killedFor = new Map<WorkerHandle, 'timeout' | 'boot_timeout'>();
  private nextId = 1;
  private generation = 1;
  private target: number;
  private readonly backoff = new CrashBackoff();
  private ticker: NodeJS.Timeout | undefined;
  private stopMode: 'graceful' | 'quick' = 'graceful';
  private failure: TsicornError | null = null;
  private finished: ((failure: TsicornError | null) => void) | null = null;
  private balancer: RoundRobinBalancer | null = null;

  constructor(
    private readonly config: LoadedConfig,
    private readonly listeners: Listener[],
    private readonly log: Logger,
  ) {
    this.target = workerCount(config.settings.workers);
  }

  private get settings(): Settings {
    return this.config.settings;
  }

  /** Runs until halted; resolves with null after a clean stop, or the error that ended start-up. */
  run(signals: SignalInbox): Promise<TsicornError | null> {
    const done = new Promise<TsicornError | null>((resolvePromise) => {
      this.finished = resolvePromise;
    });
    signals.attach((signal) => this.enqueue({ type: 'signal', signal }));
    this.ticker = setInterval(() => this.enqueue({ type: 'tick' }), TICK_MS);
    if (this.settings.balance === 'round-robin') {
      this.balancer = new RoundRobinBalancer(this.listeners, this.settings.backlog, () =>
        [...this.workers.values()].filter((w) => w.state === 'ready'),
      );
    }
    this.log.info({ workers: this.target, listeners: this.listeners.map((l) => l.bound), app: this.settings.app }, 'starting');
    for (let i = 0; i < this.target; i++) this.spawn();
    return done;
  }

  private enqueue(event: MasterEvent): void {
    this.queue.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (let event = this.queue.shift(); event; event = this.queue.shift()) {
        if (this.state === 'halted') return;
        this.handle(event);
      }
    });
  }

  private handle(event: MasterEvent): void {
    switch (event.type) {
      case 'signal':
        this.onSignal(event.signal);
        break;
      case 'worker-message':
        this.onWorkerMessage(event.worker, event.message);
        break;
      case 'worker-exit':
        this.onWorkerExit(event.worker, event.code, event.signal);
        break;
      case 'tick':
        this.onTick();
        break;
    }
    if (this.state === 'running') this.manage();
  }

  private fields(worker: WorkerHandle) {
    return { worker: worker.id, workerPid: worker.pid, generation: worker.generation };
  }

  private spawn(): WorkerHandle {
    const { settings } = this;
    const env: NodeJS.ProcessEnv = { ...process.env, UV_THREADPOOL_SIZE: String(settings.threads) };
    for (const [key, value] of Object.entries(settings.env)) if (value !== undefined) env[key] = String(value);
    // Under round-robin the master accepts; workers get connections, not the listening sockets.
    const fds = this.balancer ? [] : this.listeners.map((l) => l.fd);
    const worker = new WorkerHandle(
      { id: this.nextId++, generation: this.generation, env, fds },
      {
        message: (w, message) => this.enqueue({ type: 'worker-message', worker: w, message }),
        exit: (w, code, signal) => this.enqueue({ type: 'worker-exit', worker: w, code, signal }),
      },
    );
    const jitter = settings.max_requests > 0 && settings.max_requests_jitter > 0 ? randomInt(0, settings.max_requests_jitter + 1) : 0;
    worker.send({
      type: 'boot',
      id: worker.id,
      generation: worker.generation,
      settings,
      baseDir: this.config.baseDir,
      listeners: this.listeners.map((l, i) => ({ fd: this.balancer ? null : 4 + i, address: l.bound })),
      maxRequests: settings.max_requests > 0 ? settings.max_requests + jitter : 0,
    });
    this.workers.set(worker.id, worker);
    this.log.debug(this.fields(worker), 'worker spawned');
    return worker;
  }

  private onSignal(signal: NodeJS.Signals): void {
    this.log.info({ signal }, 'signal received');
    switch (signal) {
      case 'SIGTERM':
        this.stop('graceful');
        break;
      case 'SIGINT':
      case 'SIGQUIT':
        this.stop('quick');
        break;
      case 'SIGHUP':
        this.rotateAll('reload');
        break;
      case 'SIGTTIN':
        this.scale(this.target + 1);
        break;
      case 'SIGTTOU':
        this.scale(this.target - 1);
        break;
      default:
        // USR1 (reopen logs) and USR2 (re-exec) arrive with the logging and upgrade work.
        this.log.info({ signal }, 'signal not handled yet; ignored');
    }
  }

  private scale(to: number): void {
    if (this.state !== 'running' || to < 1) return;
    this.log.info({ from: this.target, to }, 'worker count changed');
    this.target = to;
  }

  /** Marks every serving worker for replacement; new ones start now, old ones leave once covered. */
  private rotateAll(reason: ExitReason): void {
    if (this.state !== 'running') return;
    this.generation++;
    for (const worker of this.workers.values()) if (worker.state === 'booting' || worker.state === 'ready') worker.replaceReason ??= reason;
    this.log.info({ generation: this.generation, reason }, 'rotating workers');
  }

  private onWorkerMessage(worker: WorkerHandle, message: WorkerMessage): void {
    switch (message.type) {
      case 'ready':
        if (worker.state !== 'booting') return;
        worker.state = 'ready';
        worker.readyAt = Date.now();
        worker.lastHeartbeat = worker.readyAt;
        this.log.info({ ...this.fields(worker), interface: message.interface, bootMs: message.bootMs }, 'worker ready');
        this.balancer?.flush();
        if (this.state === 'booting' && this.countReady() >= this.target) {
          this.state = 'running';
          this.log.info({ workers: this.target, listeners: this.listeners.map((l) => l.bound), pid: process.pid }, 'server ready');
        }
        break;
      case 'boot-failed':
        this.bootErrors.set(worker, { message: message.message, ...(message.stack ? { stack: message.stack } : {}) });
        this.log.error({ ...this.fields(worker), error: message.message, stack: message.stack }, 'worker failed to boot');
        break;
      case 'heartbeat':
        worker.lastHeartbeat = Date.now();
        worker.requests = message.requests;
        worker.inflight = message.inflight;
        worker.oldestRequest = message.oldest;
        break;
      case 'retire':
        worker.replaceReason ??= message.reason;
        this.log.info({ ...this.fields(worker), reason: message.reason, detail: message.detail }, 'worker asks to be replaced');
        break;
    }
  }

  private countReady(): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.state === 'ready') n++;
    return n;
  }

  private onWorkerExit(worker: WorkerHandle, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker.id);
    const now = Date.now();
    const facts = { ...this.fields(worker), code, signal, uptimeMs: now - worker.spawnedAt };
    const bootError = this.bootErrors.get(worker);
    this.bootErrors.delete(worker);
    const killedFor = this.killedFor.get(worker);
    this.killedFor.delete(worker);
    if (worker.retireReason) {
      this.log.info({ ...facts, reason: worker.retireReason }, 'worker exited');
    } else if (this.state === 'booting') {
      // Never fork-loop at start-up: the first generation failing means the app is broken.
      this.log.error(facts, 'worker exited before the server was ready');
      const why =
        bootError?.message ??
        (killedFor === 'boot_timeout' ? `not ready within boot_timeout (${this.settings.boot_timeout} s)` : `exit ${signal ?? code}`);
      const code4 = code === 4 && bootError;
      this.fail(
        new TsicornError(
          code4 ? 'TSI_ERR_APP_LOAD' : 'TSI_ERR_WORKER_BOOT',
          code4 ? `the app failed to load: ${why}` : `a worker failed to start: ${why}`,
        ),
      );
    } else if (killedFor === 'timeout') {
      this.log.warn({ ...facts, reason: 'timeout' }, 'worker exited');
    } else if (this.state === 'running') {
      const crashed = worker.readyAt === 0 || now - worker.spawnedAt < CRASH_WINDOW_MS;
      this.log.error({ ...facts, reason: killedFor ?? 'exit' }, 'worker died');
      if (crashed) {
        const delayMs = this.backoff.recordCrash(now);
        this.log.warn({ delayMs, failures: this.backoff.consecutiveFailures }, 'worker crashed soon after start; backing off');
      }
    }
    if (this.state === 'stopping' && this.workers.size === 0) this.finish();
  }

  private onTick(): void {
    const now = Date.now();
    const s = this.settings;
    for (const worker of this.workers.values()) {
      if (worker.state === 'booting' && now - worker.spawnedAt > s.boot_timeout * 1000 && !this.killedFor.has(worker)) {
        this.killedFor.set(worker, 'boot_timeout');
        this.log.error({ ...this.fields(worker), bootTimeout: s.boot_timeout }, 'worker not ready within boot_timeout; killing it');
        worker.kill('SIGKILL');
      } else if (
        worker.state === 'ready' &&
        s.timeout > 0 &&
        now - worker.lastHeartbeat > s.timeout * 1000 &&
        !this.killedFor.has(worker)
      ) {
        this.killedFor.set(worker, 'timeout');
        this.log.error(
          {
            ...this.fields(worker),
            stalledMs: now - worker.lastHeartbeat,
            timeout: s.timeout,
            // As of its last heartbeat: a stall inside a long request shows up here.
            inflight: worker.inflight,
            oldestRequest: worker.oldestRequest,
          },
          'worker timed out (event loop blocked); killing it',
        );
        worker.kill('SIGKILL');
      } else if (worker.state === 'retiring') {
        const limit = this.state === 'stopping' && this.stopMode === 'quick' ? QUICK_STOP_MS : s.graceful_timeout * 1000 + 1000;
        if (now - worker.retiringSince > limit) {
          this.log.warn({ ...this.fields(worker), inflight: worker.inflight }, 'worker did not exit within graceful_timeout; killing it');
          worker.kill('SIGKILL');
          worker.retiringSince = now;
        }
      }
    }
    if (this.backoff.consecutiveFailures > 0 && this.allSettled(now)) this.backoff.reset();
  }

  /** True when every worker is ready and has been for the crash window: the app is healthy again. */
  private allSettled(now: number): boolean {
    for (const w of this.workers.values()) if (w.state !== 'ready' || now - w.readyAt < CRASH_WINDOW_MS) return false;
    return this.workers.size >= this.target;
  }

  /**
   * Brings the pool to `target` serving workers: spawns the missing (unless backing off), retires
   * extras, and lets workers marked for replacement go only while the ready workers still cover
   * the target — so capacity never dips during max_requests recycling or a rotation.
   */
  private manage(): void {
    const now = Date.now();
    const live = [...this.workers.values()].filter((w) => w.state === 'booting' || w.state === 'ready');
    const active = live.filter((w) => w.replaceReason === null);
    const missing = this.target - active.length;
    if (missing > 0 && this.backoff.canSpawn(now)) {
      for (let i = 0; i < missing; i++) this.spawn();
    } else if (missing < 0) {
      // Booting extras first, then the oldest.
      const extras = [...active].sort((a, b) => (a.state === b.state ? a.spawnedAt - b.spawnedAt : a.state === 'booting' ? -1 : 1));
      for (const worker of extras.slice(0, -missing)) worker.retire('scale');
    }
    let spare = live.filter((w) => w.state === 'ready').length - this.target;
    for (const worker of live) {
      if (!worker.replaceReason) continue;
      if (worker.state === 'booting') worker.retire(worker.replaceReason);
      else if (spare > 0) {
        worker.retire(worker.replaceReason);
        spare--;
      }
    }
  }

  private fail(error: TsicornError): void {
    this.failure ??= error;
    this.stop('quick');
  }

  private stop(mode: 'graceful' | 'quick'): void {
    if (this.state === 'stopping' && (mode === 'graceful' || this.stopMode === 'quick')) return;
    this.state = 'stopping';
    this.stopMode = mode;
    this.log.info({ mode, workers: this.workers.size }, mode === 'graceful' ? 'stopping gracefully' : 'stopping now');
    for (const worker of this.workers.values()) {
      if (worker.state === 'retiring' && mode === 'quick') worker.send({ type: 'stop', mode, reason: 'shutdown' });
      worker.retire('shutdown', mode);
      if (mode === 'quick') worker.retiringSince = Date.now();
    }
    if (this.workers.size === 0) this.finish();
  }

  private finish(): void {
    if (this.state === 'halted') return;
    this.state = 'halted';
    clearInterval(this.ticker);
    this.balancer?.close();
    for (const listener of this.listeners) listener.close();
    this.log.info({ error: this.failure?.code }, 'stopped');
    this.finished?.(this.failure);
  }
}
