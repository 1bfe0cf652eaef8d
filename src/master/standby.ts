import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../log/logger.js';
import type { Listener } from './listeners.js';
import { type ForkSpec, forkWorker } from './worker-handle.js';

/**
 * After a standby exits unasked, none is started for 5 s, doubled at each further such exit up to
 * 5 min (a standby that cannot load, say a broken tsicorn on disk, would otherwise be forked and
 * warned of every 5 s for good); back to 5 s once a standby is taken.
 */
const FIRST_HOLD_MS = 5_000;
const LONGEST_HOLD_MS = 300_000;

/** What a standby is started with, and what a worker must be started with to take it. */
export interface StandbySpec {
  fork: ForkSpec;
  /**
   * The listeners behind `fork.fds`, compared as objects: a descriptor number the system gave to
   * another socket since (a bind changed) is not the socket the standby holds a copy of.
   */
  listeners: readonly Listener[];
}

interface Standby {
  child: ChildProcess;
  /** Its environment, descriptors, output capture and name, as text. */
  key: string;
  listeners: readonly Listener[];
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void;
}

const keyOf = ({ fork }: StandbySpec) => JSON.stringify([fork.env, fork.fds, fork.captureOutput, fork.name]);
const sameListeners = (a: readonly Listener[], b: readonly Listener[]) => a.length === b.length && a.every((l, i) => l === b[i]);
/** A test for standbys started with `spec`: only a worker started alike may take one. */
const startedWith = (spec: StandbySpec) => {
  const key = keyOf(spec);
  return (s: Standby) => s.key === key && sameListeners(s.listeners, spec.listeners);
};

/**
 * Worker processes started ahead of need (`standby_workers`): Node has started and tsicorn's
 * worker modules are loaded, and each waits for the boot message that makes it a worker. A
 * rotation, a max_requests or max_memory replacement or a crash replacement takes one instead of
 * starting a process, and so waits only for the app to load (Passenger's "smart" spawning does
 * the same with a preloader). A standby is taken only by a worker whose environment, listeners
 * and output capture are the ones it was started with; the others are let go once a new spec
 * is the current one. Letting go is a disconnect: a worker without its boot message exits at
 * once when the master's channel closes (src/worker/main.ts), as it does when the master dies.
 */
export class StandbyPool {
  private readonly standbys: Standby[] = [];
  private holdUntil = 0;
  private holdMs = FIRST_HOLD_MS;

  constructor(private readonly log: Logger) {}

  get size(): number {
    return this.standbys.length;
  }

  pids(): number[] {
    return this.standbys.map((s) => s.child.pid ?? 0);
  }

  /** A standby started with `spec`, now the caller's; null if there is none. */
  take(spec: StandbySpec): ChildProcess | null {
    const alike = startedWith(spec);
    // One whose channel is closed is dying: a worker made of it would fail its boot (and abandon a
    // rotation); its exit event is on the way.
    const index = this.standbys.findIndex((s) => alike(s) && s.child.connected);
    if (index < 0) return null;
    const [standby] = this.standbys.splice(index, 1);
    if (!standby) return null;
    standby.child.off('exit', standby.onExit);
    this.holdMs = FIRST_HOLD_MS;
    return standby.child;
  }

  /**
   * Keeps `count` standbys started with `spec`: lets go of others and of extras at once, and starts
   * the missing if `mayStart` (no worker booting, no crash back-off).
   */
  maintain(count: number, spec: StandbySpec, now: number, mayStart: boolean): void {
    const test = startedWith(spec);
    const alike = this.standbys.filter(test);
    for (const standby of [...this.standbys.filter((s) => !test(s)), ...alike.slice(count)]) this.letGo(standby);
    if (!mayStart || now < this.holdUntil) return;
    for (let i = alike.length; i < count; i++) this.start(spec);
  }

  /**
   * Lets go of the standbys not started with `spec` (a rotation to new listeners or a new
   * environment): they hold copies of listening sockets the master may be about to close.
   */
  keepOnly(spec: StandbySpec): void {
    const test = startedWith(spec);
    for (const standby of this.standbys.filter((s) => !test(s))) this.letGo(standby);
  }

  /** Lets every standby go (the master stops). */
  clear(): void {
    for (const standby of [...this.standbys]) this.letGo(standby);
  }

  private start(spec: StandbySpec): void {
    const child = forkWorker(spec.fork);
    const standby: Standby = {
      child,
      key: keyOf(spec),
      listeners: spec.listeners,
      onExit: (code, signal) => {
        this.remove(standby);
        this.holdUntil = Date.now() + this.holdMs;
        this.log.warn({ standbyPid: child.pid, code, signal, holdSeconds: this.holdMs / 1000 }, 'standby process exited; holding off');
        this.holdMs = Math.min(this.holdMs * 2, LONGEST_HOLD_MS);
      },
    };
    child.once('exit', standby.onExit);
    // A send to a process that just died fails with EPIPE; its exit event tells the story.
    child.on('error', () => {});
    this.standbys.push(standby);
    this.log.debug({ standbyPid: child.pid }, 'standby process started');
  }

  private letGo(standby: Standby): void {
    this.remove(standby);
    standby.child.off('exit', standby.onExit);
    if (standby.child.connected) standby.child.disconnect();
    this.log.debug({ standbyPid: standby.child.pid }, 'standby process let go');
  }

  private remove(standby: Standby): void {
    const index = this.standbys.indexOf(standby);
    if (index >= 0) this.standbys.splice(index, 1);
  }
}
