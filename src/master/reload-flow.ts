import { keepRunningValues } from '../config/diff.js';
import type { LoadedConfig, LoadOutcome } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import type { Listener } from './listeners.js';
import { listenersForReload, planReload, type ReloadTrigger, reportPlan } from './reload.js';
import { closeUnshared, type Rotation } from './rotation.js';
import type { WorkerHandle } from './worker-handle.js';
import type { Generation } from './worker-pool.js';

/** What a reload comes to, for the master to carry out. */
export type ReloadStep =
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
  message: string;
  details?: string[];
}

export type ReloadWaiter = (outcome: ReloadOutcome) => void;

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
  ) {
    this.current = first;
  }

  /**
   * A reload asked for: queued if the master is not free to run it (booting, rotating, binding);
   * otherwise read and validated as check-config does, with settings that need a master restart
   * kept at their running values until that restart.
   */
  request(trigger: ReloadTrigger, masterRunning: boolean, waiter?: ReloadWaiter): ReloadStep {
    if (!masterRunning || this.preparing) {
      // One pending reload, run when this one ends (a HUP wins over a file event).
      if (this.pending?.source !== 'signal') this.pending = trigger;
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

  /** The reload that ran has an outcome: tell those waiting on it. */
  settle(outcome: ReloadOutcome): void {
    for (const waiter of this.waitingRunning.splice(0)) waiter(outcome);
  }

  /** The next reload to run, if one was queued. */
  takePending(): ReloadTrigger | null {
    const pending = this.pending;
    this.pending = null;
    return pending;
  }

  begin(next: Generation, remove: Listener[], startedAt: number, previousTarget: number): void {
    this.rotation = { next, remove, startedAt, previousTarget };
  }

  /** The rotation is complete: its generation is the one serving. */
  finish(): Rotation | null {
    const rotation = this.rotation;
    if (!rotation) return null;
    this.current = rotation.next;
    this.rotation = null;
    for (const listener of rotation.remove) listener.close();
    return rotation;
  }

  /** The rotation is given up (a bad deploy, or the server stopping): its new listeners close. */
  abandon(): Rotation | null {
    const rotation = this.rotation;
    if (!rotation) return null;
    this.rotation = null;
    closeUnshared(rotation.next, this.current);
    return rotation;
  }

  /** Nothing more runs: a stop drops the rotation and the pending reload. */
  clear(): void {
    this.abandon();
    this.pending = null;
    const stopping = { ok: false, message: 'the server is stopping; the reload did not happen' };
    this.settle(stopping);
    for (const waiter of this.waitingQueued.splice(0)) waiter(stopping);
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
