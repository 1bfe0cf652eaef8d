import { availableParallelism } from 'node:os';
import type { LoadedConfig, LoadOutcome } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import type { TsicornError } from '../errors.js';
import type { WorkerMessage } from '../ipc/messages.js';
import type { Logger, ServerLog } from '../log/logger.js';
import type { Listener } from './listeners.js';
import { nextListeners, planReload, type ReloadTrigger, reportPlan } from './reload.js';
import { RoundRobinBalancer } from './round-robin.js';
import type { SignalInbox } from './signals.js';
import { Supervision, workerFields } from './supervision.js';
import { spawnSuccessor } from './upgrade.js';
import type { WorkerHandle } from './worker-handle.js';
import { type Generation, WorkerPool } from './worker-pool.js';

type MasterEvent =
  | { type: 'signal'; signal: NodeJS.Signals }
  | { type: 'worker-message'; worker: WorkerHandle; message: WorkerMessage }
  | { type: 'worker-exit'; worker: WorkerHandle; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'reload'; trigger: ReloadTrigger }
  | { type: 'rotate'; next: Generation; remove: Listener[]; startedAt: number }
  | { type: 'successor'; pid: number; ready: boolean; why?: string }
  | { type: 'tick' };

export type MasterState = 'booting' | 'running' | 'rotating' | 'stopping' | 'halted';

interface Rotation {
  next: Generation;
  /** Listeners the new config dropped: closed once the old workers are gone. */
  remove: Listener[];
  startedAt: number;
}

const TICK_MS = 250;

export function workerCount(setting: Settings['workers']): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

export interface MasterOptions {
  config: LoadedConfig;
  listeners: Listener[];
  serverLog: ServerLog;
  /** Loads the config again exactly as at start (same file, flags): what check-config runs. */
  reloadConfig: () => LoadOutcome;
  /** Under systemd socket activation the listeners are fixed: `bind` changes are ignored. */
  bindFixed: boolean;
  /** Called when a reloaded config becomes the running one (the watcher follows `reload.*`). */
  onConfigApplied?: (config: LoadedConfig) => void;
  /** Called once when every worker of the first generation is ready. */
  onReady?: () => void;
}

/**
 * The master: one queue, one state machine (booting → running ⇄ rotating → stopping → halted).
 * Signals, worker messages and exits, reload requests and the tick only enqueue events; `handle`
 * runs them one at a time, so nothing acts inside a signal handler and no two decisions overlap.
 * A reload asked for during a rotation is coalesced into one pending reload.
 */
export class Master {
  private state: MasterState = 'booting';
  private readonly queue: MasterEvent[] = [];
  private scheduled = false;
  private readonly pool: WorkerPool;
  private current: Generation;
  private rotation: Rotation | null = null;
  private pendingReload: ReloadTrigger | null = null;
  /** A reload is between its decision and its rotation (binding new listeners). */
  private preparing = false;
  private generations = 1;
  private target: number;
  private ticker: NodeJS.Timeout | undefined;
  private stopMode: 'graceful' | 'quick' = 'graceful';
  private failure: TsicornError | null = null;
  private finished: ((failure: TsicornError | null) => void) | null = null;
  private readonly balancer: RoundRobinBalancer | null = null;
  private readonly log: Logger;
  private readonly supervision: Supervision;
  private successor: ReturnType<typeof spawnSuccessor> | null = null;
  /** Set once a successor master took over the listeners (USR2): they are released, not closed. */
  handedOver = false;

  constructor(private readonly opts: MasterOptions) {
    this.log = opts.serverLog.logger;
    this.supervision = new Supervision(this.log);
    this.current = { number: 1, config: opts.config, listeners: opts.listeners };
    this.target = workerCount(opts.config.settings.workers);
    const roundRobin = opts.config.settings.balance === 'round-robin';
    this.pool = new WorkerPool(
      {
        message: (worker, message) => this.enqueue({ type: 'worker-message', worker, message }),
        exit: (worker, code, signal) => this.enqueue({ type: 'worker-exit', worker, code, signal }),
      },
      this.log,
      roundRobin,
    );
    if (roundRobin) this.balancer = new RoundRobinBalancer(opts.listeners, opts.config.settings.backlog, () => this.pool.ready());
  }

  /** The settings the master acts on: those of the generation now serving. */
  get settings(): Settings {
    return this.current.config.settings;
  }

  /** Runs until halted; resolves with null after a clean stop, or the error that ended start-up. */
  run(signals: SignalInbox): Promise<TsicornError | null> {
    const done = new Promise<TsicornError | null>((resolvePromise) => {
      this.finished = resolvePromise;
    });
    signals.attach((signal) => this.enqueue({ type: 'signal', signal }));
    this.ticker = setInterval(() => this.enqueue({ type: 'tick' }), TICK_MS);
    this.log.info({ workers: this.target, listeners: this.current.listeners.map((l) => l.bound), app: this.settings.app }, 'starting');
    for (let i = 0; i < this.target; i++) this.pool.spawn(this.current);
    return done;
  }

  /** For the file watcher and the control socket: ask for a reload through the queue. */
  requestReload(trigger: ReloadTrigger): void {
    this.enqueue({ type: 'reload', trigger });
  }

  /** The watcher saw a TLS file change: every worker checks and swaps its certificate. */
  reloadTls(path: string): void {
    this.log.info({ path }, 'tls files changed; workers reload them');
    for (const worker of this.pool.all()) if (worker.state !== 'exited') worker.send({ type: 'reload-tls' });
  }

  private enqueue(event: MasterEvent): void {
    this.queue.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        if (this.state === 'halted') return;
        this.handle(next);
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
      case 'reload':
        this.onReload(event.trigger);
        break;
      case 'rotate':
        this.startRotation(event.next, event.remove, event.startedAt);
        break;
      case 'successor':
        if (!event.ready) {
          this.successor = null;
          this.log.error({ error: event.why }, 'upgrade failed: this master keeps serving');
        } else {
          this.log.info({ newMasterPid: event.pid }, 'upgrade: new master is serving; this one leaves');
          this.handedOver = true;
          this.stop('graceful');
        }
        break;
      case 'tick':
        this.onTick();
        break;
    }
    this.manage();
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
        this.onReload({ source: 'signal' });
        break;
      case 'SIGTTIN':
        this.scale(this.target + 1);
        break;
      case 'SIGTTOU':
        this.scale(this.target - 1);
        break;
      case 'SIGUSR2':
        this.upgrade();
        break;
      case 'SIGUSR1':
        // logrotate's postrotate: every process reopens its own files.
        this.opts.serverLog.reopen();
        for (const worker of this.pool.live()) worker.send({ type: 'reopen-logs' });
        for (const worker of this.pool.all()) if (worker.state === 'retiring') worker.send({ type: 'reopen-logs' });
        this.log.info({ workers: this.pool.size }, 'log files reopened');
        break;
      default:
        this.log.info({ signal }, 'signal ignored');
    }
  }

  private scale(to: number): void {
    if ((this.state !== 'running' && this.state !== 'rotating') || to < 1) return;
    this.log.info({ from: this.target, to }, 'worker count changed');
    this.target = to;
  }

  private onReload(trigger: ReloadTrigger): void {
    if (this.state === 'stopping' || this.state === 'halted') return;
    if (this.state !== 'running' || this.preparing) {
      // Coalesced: one pending reload, run when this one ends (a HUP wins over a file event).
      if (this.pendingReload?.source !== 'signal') this.pendingReload = trigger;
      this.log.info({ trigger: trigger.source, state: this.state }, 'reload queued until the current one ends');
      return;
    }
    const plan = reportPlan(this.log, planReload(this.current.config, this.opts.reloadConfig, trigger), trigger);
    if (!plan) return;
    const newTarget = workerCount(plan.config.settings.workers);
    if (newTarget !== workerCount(this.settings.workers)) this.scale(newTarget);
    if (plan.changes.some((c) => c.name.startsWith('log.'))) this.applyLogSettings(plan.config);
    if (!plan.rotate) {
      this.current = { ...this.current, config: plan.config };
      this.opts.onConfigApplied?.(plan.config);
      return;
    }
    const number = ++this.generations;
    const startedAt = Date.now();
    // New listeners are bound before the rotation (a bind failure fails the reload); under
    // socket activation or round-robin the listeners stay as they are.
    const fixed = this.opts.bindFixed || this.balancer !== null;
    const next = fixed
      ? Promise.resolve({ listeners: this.current.listeners, remove: [] })
      : nextListeners(this.current.listeners, plan.config.settings.bind);
    this.preparing = true;
    next.then(
      ({ listeners, remove }) => {
        this.preparing = false;
        this.enqueue({ type: 'rotate', next: { number, config: plan.config, listeners }, remove, startedAt });
      },
      (err: Error) => {
        this.preparing = false;
        this.log.error({ error: err.message }, 'reload failed: cannot open the new listeners; keeping the running config and workers');
        this.runPendingReload();
      },
    );
  }

  /** `log.*` changes apply live: the master's own log, and every worker's (no rotation needed). */
  private applyLogSettings(config: LoadedConfig): void {
    const log = config.settings.log;
    this.opts.serverLog
      .configure(log, config.baseDir)
      .catch((err: unknown) => this.log.error({ err }, 'cannot apply the new log settings'));
    for (const worker of this.pool.all()) if (worker.state !== 'exited') worker.send({ type: 'configure-log', log });
  }

  /** USR2: start a new master on the same listeners; leave once it is ready (or serve on if it fails). */
  private upgrade(): void {
    if (this.state !== 'running' || this.successor) {
      this.log.warn(
        { state: this.state, upgrading: this.successor !== null },
        'upgrade refused: wait until the running rotation or upgrade ends',
      );
      return;
    }
    this.successor = spawnSuccessor(this.current.listeners, {
      ready: (pid) => this.enqueue({ type: 'successor', pid, ready: true }),
      failed: (why) => this.enqueue({ type: 'successor', pid: 0, ready: false, why }),
    });
    this.log.info({ newMasterPid: this.successor.pid }, 'upgrade: new master starting');
  }

  private startRotation(next: Generation, remove: Listener[], startedAt: number): void {
    if (this.state !== 'running') {
      for (const listener of next.listeners) if (!this.current.listeners.includes(listener)) listener.close();
      return;
    }
    this.state = 'rotating';
    this.rotation = { next, remove, startedAt };
    this.log.info({ generation: next.number, workers: this.target }, 'rotation started');
  }

  private finishRotation(): void {
    const rotation = this.rotation;
    if (!rotation) return;
    this.current = rotation.next;
    this.rotation = null;
    this.state = 'running';
    this.opts.onConfigApplied?.(rotation.next.config);
    for (const listener of rotation.remove) listener.close();
    this.log.info(
      { generation: rotation.next.number, workers: this.target, durationMs: Date.now() - rotation.startedAt },
      'rotation finished',
    );
    this.runPendingReload();
  }

  /** A new worker did not come up: stop the new generation, keep the old one serving. */
  private abandonRotation(worker: WorkerHandle, why: string, stack: string | undefined): void {
    const rotation = this.rotation;
    if (!rotation) return;
    this.rotation = null;
    this.state = 'running';
    this.pool.abandon(this.target, rotation.next.number);
    for (const listener of rotation.next.listeners) if (!this.current.listeners.includes(listener)) listener.close();
    this.log.error(
      { ...workerFields(worker), error: why, stack, durationMs: Date.now() - rotation.startedAt },
      'reload failed: a new worker did not start; the running workers keep serving',
    );
    this.runPendingReload();
  }

  private runPendingReload(): void {
    const pending = this.pendingReload;
    this.pendingReload = null;
    if (pending) this.enqueue({ type: 'reload', trigger: pending });
  }

  private onWorkerMessage(worker: WorkerHandle, message: WorkerMessage): void {
    switch (message.type) {
      case 'ready':
        if (worker.state !== 'booting') return;
        worker.state = 'ready';
        worker.readyAt = Date.now();
        worker.lastHeartbeat = worker.readyAt;
        this.log.info({ ...workerFields(worker), interface: message.interface, bootMs: message.bootMs }, 'worker ready');
        this.balancer?.flush();
        if (this.state === 'booting' && this.pool.ready().length >= this.target) {
          this.state = 'running';
          this.log.info({ workers: this.target, listeners: this.current.listeners.map((l) => l.bound) }, 'server ready');
          this.opts.onReady?.();
        }
        break;
      case 'boot-failed':
        this.supervision.recordBootError(worker, message);
        break;
      case 'heartbeat':
        worker.lastHeartbeat = Date.now();
        worker.requests = message.requests;
        worker.inflight = message.inflight;
        worker.oldestRequest = message.oldest;
        break;
      case 'retire':
        worker.replaceReason ??= message.reason;
        this.log.info({ ...workerFields(worker), reason: message.reason, detail: message.detail }, 'worker asks to be replaced');
        break;
    }
  }

  private onWorkerExit(worker: WorkerHandle, code: number | null, signal: NodeJS.Signals | null): void {
    this.pool.remove(worker);
    const now = Date.now();
    const facts = { ...workerFields(worker), code, signal, uptimeMs: now - worker.spawnedAt };
    const exit = this.supervision.takeExitFacts(worker, code, signal, this.settings);
    if (worker.retireReason) {
      this.log.info({ ...facts, reason: worker.retireReason }, 'worker exited');
    } else if (this.state === 'booting') {
      // Never fork-loop at start-up: the first generation failing means the app is broken.
      this.log.error(facts, 'worker exited before the server was ready');
      this.fail(this.supervision.startupFailure(code, exit));
    } else if (this.rotation && worker.generation === this.rotation.next.number && worker.readyAt === 0) {
      this.log.error(facts, 'new worker exited before it was ready');
      this.abandonRotation(worker, exit.why, exit.bootError?.stack);
    } else if (exit.killedFor === 'timeout') {
      this.log.warn({ ...facts, reason: 'timeout' }, 'worker exited');
    } else if (this.state === 'running' || this.state === 'rotating') {
      this.log.error({ ...facts, reason: exit.killedFor ?? 'exit' }, 'worker died');
      this.supervision.recordDeath(worker, now);
    }
    if (this.state === 'stopping' && this.pool.size === 0) this.finish();
  }

  private onTick(): void {
    const quick = this.state === 'stopping' && this.stopMode === 'quick';
    this.supervision.check(this.pool.all(), this.settings, this.target, quick, Date.now());
  }

  private manage(): void {
    if (this.state === 'running') {
      this.pool.manageSteady(this.target, this.current, this.supervision.canSpawn(Date.now()));
    } else if (this.state === 'rotating' && this.rotation) {
      const surge = this.rotation.next.config.settings.max_surge || this.target;
      if (this.pool.manageRotation(this.target, this.rotation.next, surge, 'reload')) this.finishRotation();
    }
  }

  private fail(error: TsicornError): void {
    this.failure ??= error;
    this.stop('quick');
  }

  private stop(mode: 'graceful' | 'quick'): void {
    if (this.state === 'stopping' && (mode === 'graceful' || this.stopMode === 'quick')) return;
    if (this.rotation)
      for (const listener of this.rotation.next.listeners) if (!this.current.listeners.includes(listener)) listener.close();
    this.rotation = null;
    this.pendingReload = null;
    if (this.successor && !this.handedOver) this.successor.kill('SIGTERM');
    this.state = 'stopping';
    this.stopMode = mode;
    this.log.info({ mode, workers: this.pool.size }, mode === 'graceful' ? 'stopping gracefully' : 'stopping now');
    for (const worker of this.pool.all()) {
      if (worker.state === 'retiring' && mode === 'quick') worker.send({ type: 'stop', mode, reason: 'shutdown' });
      worker.retire('shutdown', mode);
      if (mode === 'quick') worker.retiringSince = Date.now();
    }
    if (this.pool.size === 0) this.finish();
  }

  /** The listeners the master holds now (serve closes them after the master halts). */
  listeners(): Listener[] {
    return this.current.listeners;
  }

  private finish(): void {
    if (this.state === 'halted') return;
    this.state = 'halted';
    clearInterval(this.ticker);
    this.balancer?.close();
    for (const listener of this.current.listeners) {
      if (this.handedOver) listener.release();
      else listener.close();
    }
    this.log.info({ error: this.failure?.code }, 'stopped');
    this.finished?.(this.failure);
  }
}
