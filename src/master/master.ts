import type { LoadedConfig, LoadOutcome } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import type { ControlReply, ControlRequest } from '../control/protocol.js';
import type { TsicornError } from '../errors.js';
import type { Hooks } from '../hooks/hooks.js';
import type { WorkerMessage } from '../ipc/messages.js';
import { stopTimings } from '../ipc/stop-timings.js';
import type { Logger, ServerLog } from '../log/logger.js';
import type { MasterMetrics } from '../metrics/master-metrics.js';
import { buildStatus, runControlCommand } from './control-commands.js';
import type { Listener } from './listeners.js';
import type { MasterEvent, MasterState } from './master-events.js';
import { type HookServer, Observers } from './observers.js';
import type { ReloadTrigger } from './reload.js';
import { ReloadFlow } from './reload-flow.js';
import { RoundRobinBalancer } from './round-robin.js';
import type { SignalInbox } from './signals.js';
import { StatusRequests } from './status-requests.js';
import { Supervision, workerFields } from './supervision.js';
import type { SystemdNotifier } from './systemd-notify.js';
import { Succession } from './upgrade.js';
import type { WorkerHandle } from './worker-handle.js';
import { type Generation, WorkerPool, workerCount } from './worker-pool.js';

const TICK_MS = 250;

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
  /** A USR2 successor failed before it was ready (this master serves on). */
  onUpgradeFailed?: () => void;
  /** systemd's readiness protocol, when systemd asked for it (NOTIFY_SOCKET). */
  notifier?: SystemdNotifier | null;
  /** The user's hooks module (`hooks:`), replaced when a reload brings a new one. */
  hooks: Hooks;
  /** Prometheus, probes and StatsD (src/metrics/): told of exits, reloads and worker metrics. */
  metrics?: MasterMetrics;
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
  private readonly flow: ReloadFlow;
  private target: number;
  private ticker: NodeJS.Timeout | undefined;
  private stopMode: 'graceful' | 'quick' = 'graceful';
  private failure: TsicornError | null = null;
  private finished: ((failure: TsicornError | null) => void) | null = null;
  private readonly balancer: RoundRobinBalancer | null = null;
  private readonly log: Logger;
  private readonly supervision: Supervision;
  private readonly succession = new Succession();
  private readonly statusRequests = new StatusRequests();
  /** Wake-ups for when a new worker will have stayed up min_uptime (sooner than the next tick). */
  private readonly wakeups = new Set<NodeJS.Timeout>();
  private listenersClosed = false;
  private readonly startedAt = Date.now();
  private readonly observers: Observers;

  constructor(private readonly opts: MasterOptions) {
    this.log = opts.serverLog.logger;
    this.hooks = opts.hooks;
    this.observers = new Observers(
      () => this.hooks,
      () => this.hookServer(),
      opts.metrics,
      opts.notifier,
    );
    this.supervision = new Supervision(this.log);
    const roundRobin = opts.config.settings.balance === 'round-robin';
    const fixed = opts.bindFixed ? 'socket activation' : roundRobin ? 'balance: round-robin' : null;
    const master = this;
    this.flow = new ReloadFlow({ number: 1, config: opts.config, listeners: opts.listeners }, this.log, opts.reloadConfig, fixed, {
      get state() {
        return master.state;
      },
      set state(state: MasterState) {
        master.state = state;
      },
      get target() {
        return master.target;
      },
      log: this.log,
      get pool() {
        return master.pool;
      },
      get observers() {
        return master.observers;
      },
      serverLog: opts.serverLog,
      scale: (to) => this.scale(to),
      enqueue: (event) => this.enqueue(event),
      configApplied: (config) => this.opts.onConfigApplied?.(config),
    });
    this.target = workerCount(opts.config.settings.workers);
    this.pool = new WorkerPool(
      {
        message: (worker, message) => this.enqueue({ type: 'worker-message', worker, message }),
        exit: (worker, code, signal) => this.enqueue({ type: 'worker-exit', worker, code, signal }),
        beforeSpawn: (id, generation) => this.observers.beforeSpawn(id, generation),
      },
      this.log,
      roundRobin,
    );
    if (roundRobin) this.balancer = new RoundRobinBalancer(opts.listeners, opts.config.settings.backlog, () => this.pool.ready());
    opts.metrics?.attach({
      workers: () => this.pool.all(),
      standbys: () => this.pool.standbyCount,
      target: () => this.target,
      state: () => this.state,
    });
  }

  /** The hooks in use: a reload that changes the module swaps them (src/cli/commands/serve.ts). */
  hooks: Hooks;

  private hookServer(): HookServer {
    const { settings, log } = this;
    return { pid: process.pid, app: settings.app, workers: this.target, generation: this.current.number, settings, log };
  }

  /** The generation now serving. */
  private get current(): Generation {
    return this.flow.current;
  }

  /** The config of the generation now serving. */
  get config(): LoadedConfig {
    return this.current.config;
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
    for (let i = 0; i < this.target; i++) this.pool.spawn(this.current);
    // Said after the forks: the first line loads pino (~20 ms), which now overlaps the workers' boot.
    this.log.info({ workers: this.target, listeners: this.current.listeners.map((l) => l.bound), app: this.settings.app }, 'starting');
    return done;
  }

  /** For the file watcher and the control socket: ask for a reload through the queue. */
  requestReload(trigger: ReloadTrigger): void {
    this.enqueue({ type: 'reload', trigger });
  }

  /** A control socket command (src/master/control-server.ts), through the queue like everything else. */
  control(request: ControlRequest, reply: (answer: ControlReply, end?: boolean) => void): void {
    this.enqueue({ type: 'control', request, reply });
  }

  /** True once a successor master took over the listeners (USR2). */
  get handedOver(): boolean {
    return this.succession.handedOver;
  }

  /** The watcher saw a TLS file change: every worker checks and swaps its certificate. */
  reloadTls(path: string): void {
    this.log.info({ path }, 'tls files changed; workers reload them');
    this.pool.broadcast({ type: 'reload-tls' });
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
        this.flow.request(event.trigger);
        break;
      case 'rotate':
        this.flow.start(event.next, event.remove, event.startedAt);
        break;
      case 'successor':
        if (this.succession.settled(event, this.log)) this.stop('graceful');
        else this.opts.onUpgradeFailed?.();
        break;
      case 'control':
        runControlCommand(event.request, event.reply, {
          state: this.state,
          target: this.target,
          workers: this.pool.size,
          status: (done) =>
            this.statusRequests.ask(this.pool.all(), (answered) =>
              done(
                buildStatus(
                  {
                    state: this.state,
                    startedAt: this.startedAt,
                    current: this.current,
                    target: this.target,
                    workers: this.pool.all(),
                    standbyPids: this.pool.standbyPids(),
                    exits: this.observers.exits,
                  },
                  answered,
                ),
              ),
            ),
          reload: (waiter) => this.flow.request({ source: 'control' }, waiter),
          reopenLogs: () => this.reopenLogs(),
          scale: (to) => this.scale(to),
          stop: (mode) => this.stop(mode),
        });
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
        this.flow.request({ source: 'signal' });
        break;
      case 'SIGUSR1':
        this.reopenLogs();
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
      default:
        this.log.info({ signal }, 'signal ignored');
    }
  }

  /** logrotate's postrotate (USR1, `tsicorn reopen-logs`): every process reopens its own files. */
  private reopenLogs(): void {
    this.opts.serverLog.reopen();
    this.pool.broadcast({ type: 'reopen-logs' });
    this.log.info({ workers: this.pool.size }, 'log files reopened');
  }

  private scale(to: number): void {
    if ((this.state !== 'running' && this.state !== 'rotating') || to < 1 || to === this.target) return;
    this.log.info({ from: this.target, to }, 'worker count changed');
    this.observers.workersChanged(to, this.target);
    this.target = to;
  }

  /** USR2: start a new master on the same listeners; leave once it is ready (or serve on if it fails). */
  private upgrade(): void {
    this.succession.request(this.state === 'running', this.current.listeners, this.log, (event) => this.enqueue(event));
  }

  private onWorkerMessage(worker: WorkerHandle, message: WorkerMessage): void {
    switch (message.type) {
      case 'ready':
        if (!worker.markReady(Date.now())) return;
        this.log.info({ ...workerFields(worker), interface: message.interface, bootMs: message.bootMs }, 'worker ready');
        this.balancer?.flush();
        this.wakeAfter(this.flow.settingsOf(worker).min_uptime * 1000);
        if (this.state === 'booting' && this.pool.ready().length >= this.target) {
          this.state = 'running';
          this.log.info({ workers: this.target, listeners: this.current.listeners.map((l) => l.bound) }, 'server ready');
          this.opts.onReady?.();
          this.observers.serving(this.target);
          // A HUP or a saved file while the first workers booted.
          this.flow.runPending();
        }
        break;
      case 'boot-failed':
        this.supervision.recordBootError(worker, message);
        break;
      case 'heartbeat':
        worker.noteHeartbeat(message, Date.now());
        if (message.answers !== undefined) this.statusRequests.answered(worker, message.answers);
        break;
      case 'retire':
        worker.replaceReason ??= message.reason;
        this.log.info({ ...workerFields(worker), reason: message.reason, detail: message.detail }, 'worker asks to be replaced');
        break;
      case 'metrics':
        this.opts.metrics?.received(worker, message);
        break;
    }
  }

  private onWorkerExit(worker: WorkerHandle, code: number | null, signal: NodeJS.Signals | null): void {
    this.pool.remove(worker);
    this.statusRequests.forget(worker);
    const now = Date.now();
    const facts = { ...workerFields(worker), code, signal, uptimeMs: now - worker.spawnedAt };
    const exit = this.supervision.takeExitFacts(worker, code, signal);
    this.observers.workerExited(worker, code, signal, exit.killedFor);
    if (worker.retireReason) {
      this.log.info({ ...facts, reason: worker.retireReason }, 'worker exited');
    } else if (this.state === 'booting') {
      // Never fork-loop at start-up: the first generation failing means the app is broken.
      this.log.error(facts, 'worker exited before the server was ready');
      this.fail(this.supervision.startupFailure(code, exit));
    } else if (this.state === 'rotating' && this.flow.failedToStay(worker, now)) {
      // Not ready, or ready for less than min_uptime: the new code is not fit to replace the old.
      this.log.error(facts, worker.readyAt === 0 ? 'new worker exited before it was ready' : 'new worker exited within min_uptime');
      this.flow.abandon(worker, exit.why, exit.bootError?.stack);
    } else if (exit.killedFor === 'timeout') {
      this.log.warn({ ...facts, reason: 'timeout' }, 'worker exited');
    } else if (this.state === 'running' || this.state === 'rotating') {
      this.log.error({ ...facts, reason: exit.killedFor ?? 'exit' }, 'worker died');
      this.supervision.recordDeath(worker, now, exit);
    }
    if (this.state === 'stopping' && this.pool.size === 0) this.finish();
  }

  private onTick(): void {
    const quick = this.state === 'stopping' && this.stopMode === 'quick';
    this.supervision.check(this.pool.all(), this.settings, this.target, quick, Date.now());
  }

  private manage(): void {
    const now = Date.now();
    if (this.state === 'running') {
      this.pool.manageSteady(this.target, this.current, this.supervision.canSpawn(now), now);
    } else if (this.state === 'rotating' && this.flow.rotation) {
      const { next } = this.flow.rotation;
      const surge = next.config.settings.max_surge || this.target;
      if (this.pool.manageRotation(this.target, next, surge, 'reload', this.supervision.canSpawn(now), now)) this.flow.finish();
    }
  }

  /** Looks again in `ms` (a worker will then have stayed up min_uptime), not only at the next tick. */
  private wakeAfter(ms: number): void {
    const timer = setTimeout(() => {
      this.wakeups.delete(timer);
      this.enqueue({ type: 'tick' });
    }, ms + 5);
    this.wakeups.add(timer);
  }

  private fail(error: TsicornError): void {
    this.failure ??= error;
    this.stop('quick');
  }

  private stop(mode: 'graceful' | 'quick'): void {
    if (this.state === 'stopping' && (mode === 'graceful' || this.stopMode === 'quick')) return;
    this.flow.clear();
    this.pool.clearStandbys();
    this.succession.abort();
    this.state = 'stopping';
    this.stopMode = mode;
    this.log.info({ mode, workers: this.pool.size }, mode === 'graceful' ? 'stopping gracefully' : 'stopping now');
    this.observers.stopping(this.succession.handedOver);
    // Stop accepting first: new connections are refused at once instead of waiting in the
    // backlog for workers that are leaving (and being reset when the last of them exits).
    this.closeListeners();
    const timings = stopTimings(this.settings, true);
    for (const worker of this.pool.all()) {
      if (worker.state === 'retiring' && mode === 'quick') worker.send({ type: 'stop', mode, reason: 'shutdown', ...timings });
      worker.retire('shutdown', timings, mode);
      if (mode === 'quick') worker.retiringSince = Date.now();
    }
    if (this.pool.size === 0) this.finish();
  }

  /** Closes the master's listeners once; after USR2 they live on in the successor and are only let go. */
  private closeListeners(): void {
    if (this.listenersClosed) return;
    this.listenersClosed = true;
    // The balancer's servers listen on the descriptors: closing them closes the descriptors.
    this.balancer?.close();
    for (const listener of this.current.listeners) {
      if (this.succession.handedOver) listener.release();
      else if (this.balancer) listener.closedElsewhere();
      else listener.close();
    }
  }

  private finish(): void {
    if (this.state === 'halted') return;
    this.state = 'halted';
    clearInterval(this.ticker);
    for (const timer of this.wakeups) clearTimeout(timer);
    this.wakeups.clear();
    this.closeListeners();
    this.log.info({ error: this.failure?.code }, 'stopped');
    this.observers.stopped();
    this.finished?.(this.failure);
  }
}
