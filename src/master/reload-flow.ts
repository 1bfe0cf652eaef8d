import { keepRunningValues } from '../config/diff.js';
import type { LoadedConfig, LoadOutcome } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import type { Logger, ServerLog } from '../log/logger.js';
import type { ReloadResult } from '../metrics/names.js';
import type { Listener } from './listeners.js';
import type { MasterEvent, MasterState } from './master-events.js';
import type { Observers } from './observers.js';
import { listenersForReload, planReload, type ReloadTrigger, reportPlan } from './reload.js';
import { closeUnshared, logSettingsChanged, type Rotation } from './rotation.js';
import { workerFields } from './supervision.js';
import type { WorkerHandle } from './worker-handle.js';
import { type Generation, type WorkerPool, workerCount } from './worker-pool.js';

/** What a reload comes to. */
type ReloadStep =
  | { kind: 'queued' }
  /** The file did not validate: nothing changes. */
  | { kind: 'invalid'; errors: string[] }
  /** A watched file was saved with the same content. */
  | { kind: 'unchanged' }
  /** Only live settings changed: apply them, no worker is replaced. */
  | { kind: 'live'; config: LoadedConfig }
  /** A rotation to generation `number`, once its listeners are bound (`listeners` settles). */
  | {
      kind: 'rotate';
      number: number;
      config: LoadedConfig;
      startedAt: number;
      listeners: Promise<{ listeners: Listener[]; remove: Listener[] }>;
    };

/** How a reload ended, for whoever waits on it (`tsicorn reload` over the control socket). */
export interface ReloadOutcome {
  ok: boolean;
  /** For the metrics: how it ended (`stopping`: it never ran). */
  result: ReloadResult | 'stopping';
  message: string;
  details?: string[];
}

export type ReloadWaiter = (outcome: ReloadOutcome) => void;

/** What a reload does to the master it runs in (src/master/master.ts gives it these). */
export interface ReloadHost {
  state: MasterState;
  readonly target: number;
  readonly log: Logger;
  readonly pool: WorkerPool;
  readonly observers: Observers;
  readonly serverLog: ServerLog;
  scale(to: number): void;
  enqueue(event: Extract<MasterEvent, { type: 'reload' | 'rotate' }>): void;
  configApplied(config: LoadedConfig): void;
}

/**
 * The generations a master runs and the reloads that move between them: the one serving, the one
 * a rotation boots, and the one pending reload that requests arriving mid-rotation coalesce into.
 * It decides; the master (src/master/master.ts) carries the decisions out from its queue.
 */
export class ReloadFlow {
  current: Generation;
  rotation: Rotation | null = null;
  private pending: ReloadTrigger | null = null;
  /** A reload is between its decision and its rotation (binding new listeners). */
  private preparing = false;
  private generations = 1;
  /** Waiting for the pending reload, and for the one running now. */
  private waitingQueued: ReloadWaiter[] = [];
  private waitingRunning: ReloadWaiter[] = [];

  constructor(
    first: Generation,
    private readonly log: Logger,
    private readonly reloadConfig: () => LoadOutcome,
    /** Why the listeners cannot change (socket activation, round-robin), or null. */
    private readonly fixedListeners: string | null,
    private readonly host: ReloadHost,
  ) {
    this.current = first;
  }

  /**
   * A reload asked for: queued if the master is not free to run it (booting, rotating, binding);
   * otherwise read and validated as check-config does, with settings that need a master restart
   * kept at their running values until that restart.
   */
  private decide(trigger: ReloadTrigger, masterRunning: boolean, waiter?: ReloadWaiter): ReloadStep {
    if (!masterRunning || this.preparing) {
      // One pending reload, run when this one ends. One that rotates (HUP, `tsicorn reload`, a code
      // change) is never replaced by a config-file save, which might not rotate.
      if (this.pending === null || this.pending.source === 'watch') this.pending = trigger;
      if (waiter) this.waitingQueued.push(waiter);
      return { kind: 'queued' };
    }
    // This run reads the file anew: it answers everyone who asked since the last one started.
    this.waitingRunning.push(...this.waitingQueued.splice(0), ...(waiter ? [waiter] : []));
    const planned = planReload(this.current.config, this.reloadConfig, trigger);
    const plan = reportPlan(this.log, planned, trigger);
    if (!plan) return planned.kind === 'failed' ? { kind: 'invalid', errors: planned.errors } : { kind: 'unchanged' };
    const config: LoadedConfig = {
      ...plan.config,
      settings: keepRunningValues(plan.config.settings, this.current.config.settings, plan.needRestart),
    };
    if (!plan.rotate) return { kind: 'live', config };
    this.preparing = true;
    const listeners = listenersForReload(this.current.listeners, config.settings.bind, plan.changes, this.fixedListeners, this.log);
    const settle = () => {
      this.preparing = false;
    };
    listeners.then(settle, settle);
    return { kind: 'rotate', number: ++this.generations, config, startedAt: Date.now(), listeners };
  }

  /** The reload that ran has an outcome: tell those waiting on it, and the observers. */
  private settle(outcome: ReloadOutcome): void {
    for (const waiter of this.waitingRunning.splice(0)) waiter(outcome);
    if (outcome.result !== 'stopping') this.host.observers.reloadEnded(outcome.result, this.host.target);
  }

  /** The next reload to run, if one was queued. */
  takePending(): ReloadTrigger | null {
    const pending = this.pending;
    this.pending = null;
    return pending;
  }

  /** The rotation is complete: its generation is the one serving. */
  private complete(): Rotation | null {
    const rotation = this.rotation;
    if (!rotation) return null;
    this.current = rotation.next;
    this.rotation = null;
    for (const listener of rotation.remove) listener.close();
    return rotation;
  }

  /** The rotation is given up (a bad deploy, or the server stopping): its new listeners close. */
  private giveUp(): Rotation | null {
    const rotation = this.rotation;
    if (!rotation) return null;
    this.rotation = null;
    closeUnshared(rotation.next, this.current);
    return rotation;
  }

  /** Nothing more runs: a stop drops the rotation and the pending reload. */
  clear(): void {
    this.giveUp();
    this.pending = null;
    const stopping: ReloadOutcome = { ok: false, result: 'stopping', message: 'the server is stopping; the reload did not happen' };
    for (const waiter of this.waitingRunning.splice(0)) waiter(stopping);
    for (const waiter of this.waitingQueued.splice(0)) waiter(stopping);
  }

  /** Runs a reload (HUP, a watched file, `tsicorn reload`), or queues it behind the one running. */
  request(trigger: ReloadTrigger, waiter?: ReloadWaiter): void {
    if (this.host.state === 'stopping' || this.host.state === 'halted') {
      waiter?.({ ok: false, result: 'stopping', message: 'the server is stopping; no reload' });
      return;
    }
    const step = this.decide(trigger, this.host.state === 'running', waiter);
    if (step.kind === 'queued') {
      this.host.log.info(
        { trigger: trigger.source, path: trigger.path, state: this.host.state },
        'reload queued until the current one ends',
      );
      return;
    }
    if (step.kind === 'invalid') {
      const message = 'reload refused: the config is invalid; the running config and workers stay';
      this.settle({ ok: false, result: 'invalid_config', message, details: step.errors });
      return;
    }
    if (step.kind === 'unchanged') {
      this.settle({ ok: true, result: 'unchanged', message: 'the config is unchanged; nothing to do' });
      return;
    }
    this.host.observers.reloadStarted();
    if (step.kind === 'live') {
      this.followWorkers(this.current.config, step.config);
      if (logSettingsChanged(this.current.config, step.config)) this.applyLogSettings(step.config);
      this.current = { ...this.current, config: step.config };
      this.host.configApplied(step.config);
      this.settle({ ok: true, result: 'ok', message: 'reloaded: applied without replacing workers' });
    } else {
      const { number, config, startedAt } = step;
      step.listeners.then(
        ({ listeners, remove }) => this.host.enqueue({ type: 'rotate', next: { number, config, listeners }, remove, startedAt }),
        (err: Error) => {
          this.host.log.error(
            { error: err.message },
            'reload failed: cannot open the new listeners; keeping the running config and workers',
          );
          this.settle({ ok: false, result: 'bind_failed', message: `reload failed: cannot open the new listeners: ${err.message}` });
          this.runPending();
        },
      );
    }
  }

  /**
   * `workers` applies when the reload changed it, and only then: a count set by TTIN, TTOU or
   * `tsicorn scale` stays until the file says otherwise (Gunicorn's HUP resets it; ours keeps
   * what an operator chose on purpose).
   */
  private followWorkers(before: LoadedConfig, after: LoadedConfig): void {
    if (before.settings.workers !== after.settings.workers) this.host.scale(workerCount(after.settings.workers));
  }

  /** `log.*` changes apply live: the master's own log, and every worker's (no rotation needed). */
  applyLogSettings(config: LoadedConfig): void {
    const log = config.settings.log;
    this.host.serverLog
      .configure(log, config.baseDir)
      .catch((err: unknown) => this.host.log.error({ err }, 'cannot apply the new log settings'));
    this.host.pool.broadcast({ type: 'configure-log', log });
  }

  /** The new generation's listeners are bound: its rotation starts. */
  start(next: Generation, remove: Listener[], startedAt: number): void {
    this.rotation = { next, remove, startedAt, previousTarget: this.host.target };
    if (this.host.state !== 'running') {
      this.giveUp();
      return;
    }
    this.host.state = 'rotating';
    // The new generation boots with the new worker count; nothing else of it applies yet.
    this.followWorkers(this.current.config, next.config);
    this.host.log.info({ generation: next.number, workers: this.host.target }, 'rotation started');
  }

  /** Every new worker stayed up min_uptime and every old one left: the rotation is complete. */
  finish(): void {
    const previous = this.current;
    const rotation = this.complete();
    if (!rotation) return;
    this.host.state = 'running';
    if (logSettingsChanged(previous.config, rotation.next.config)) this.applyLogSettings(rotation.next.config);
    this.host.configApplied(rotation.next.config);
    const durationMs = Date.now() - rotation.startedAt;
    this.host.log.info({ generation: rotation.next.number, workers: this.host.target, durationMs }, 'rotation finished');
    const message = `reloaded: generation ${rotation.next.number}, ${this.host.target} workers, in ${durationMs} ms`;
    this.settle({ ok: true, result: 'ok', message });
    this.runPending();
  }

  /** A new worker did not come up: stop the new generation, keep the old one serving as it was. */
  abandon(worker: WorkerHandle, why: string, stack: string | undefined): void {
    const rotation = this.giveUp();
    if (!rotation) return;
    this.host.state = 'running';
    this.host.scale(rotation.previousTarget);
    this.host.pool.abandon(this.host.target, rotation.next);
    this.host.log.error(
      { ...workerFields(worker), error: why, stack, durationMs: Date.now() - rotation.startedAt },
      'reload failed: a new worker did not start; the running workers keep serving',
    );
    this.settle({
      ok: false,
      result: 'failed_boot',
      message: 'reload failed: a new worker did not start; the running workers keep serving',
      details: [why, ...(stack ? stack.split('\n').slice(0, 8) : [])],
    });
    this.runPending();
  }

  /** The one reload queued behind a boot or a rotation, run now. */
  runPending(): void {
    const pending = this.takePending();
    if (pending) this.host.enqueue({ type: 'reload', trigger: pending });
  }

  /** The settings a worker was started with: its generation's. */
  settingsOf(worker: WorkerHandle): Settings {
    return worker.generation === this.rotation?.next.number ? this.rotation.next.config.settings : this.current.config.settings;
  }

  /** True for a worker of the rotation's new generation that did not stay up min_uptime after it was ready. */
  failedToStay(worker: WorkerHandle, now: number): boolean {
    if (worker.generation !== this.rotation?.next.number) return false;
    return worker.readyAt === 0 || now - worker.readyAt < this.settingsOf(worker).min_uptime * 1000;
  }
}
