import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from '../log/logger.js';
import type { InheritedFds, Listener } from './listeners.js';

/** How a master hands its listeners to its successor (reserved TSICORN__ variables). */
const INHERIT_ENV = 'TSICORN__INHERIT';
const PARENT_ENV = 'TSICORN__PARENT_PID';

export interface SuccessorEvents {
  /** The new master has all its workers ready: this one may leave. */
  ready(pid: number): void;
  /** The new master exited before it was ready; this one serves on. */
  failed(why: string): void;
}

/**
 * USR2: starts a new master — the same command line, so a new tsicorn or Node binary on disk is
 * what runs — that inherits the listening sockets as fds 3.. and reports over IPC once its
 * workers are ready. The sockets are never closed in between, so no connection is refused.
 */
export function spawnSuccessor(listeners: Listener[], events: SuccessorEvents): ChildProcess {
  const inherit = listeners.map((l, i) => ({ address: l.address, bound: l.bound, fd: 3 + i }));
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, [INHERIT_ENV]: JSON.stringify(inherit), [PARENT_ENV]: String(process.pid) },
    stdio: ['inherit', 'inherit', 'inherit', ...listeners.map((l) => l.fd), 'ipc'],
  });
  let ready = false;
  child.on('message', (message: unknown) => {
    if (!ready && typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'upgraded') {
      ready = true;
      events.ready(child.pid ?? 0);
    }
  });
  child.once('exit', (code, signal) => {
    if (!ready) events.failed(`the new master exited (${signal ?? `code ${code}`}) before it was ready`);
  });
  child.on('error', (err) => {
    if (!ready) events.failed(err.message);
  });
  return child;
}

/**
 * The master's side of a USR2 upgrade: at most one successor at a time, and whether it has taken
 * the listeners over (then they are only let go, never closed: they serve on in the successor).
 */
export class Succession {
  private child: ChildProcess | null = null;
  handedOver = false;

  get inProgress(): boolean {
    return this.child !== null;
  }

  /** USR2: a successor is started unless one is already coming or the master is busy (booting, rotating). */
  request(masterRunning: boolean, listeners: Listener[], log: Logger, enqueue: (event: SuccessorEvent) => void): void {
    if (!masterRunning || this.child !== null) {
      log.warn({ upgrading: this.child !== null }, 'upgrade refused: wait until the running rotation or upgrade ends');
      return;
    }
    this.child = spawnSuccessor(listeners, {
      ready: (pid) => enqueue({ type: 'successor', pid, ready: true }),
      failed: (why) => enqueue({ type: 'successor', pid: 0, ready: false, why }),
    });
    log.info({ newMasterPid: this.child.pid }, 'upgrade: new master starting');
  }

  /** The successor is serving (true: this master leaves now) or failed (false: this one serves on). */
  settled(event: SuccessorEvent, log: Logger): boolean {
    if (!event.ready) {
      this.child = null;
      log.error({ error: event.why }, 'upgrade failed: this master keeps serving');
      return false;
    }
    log.info({ newMasterPid: event.pid }, 'upgrade: new master is serving; this one leaves');
    this.handedOver = true;
    return true;
  }

  /** The old master stops before its successor was ready: the successor goes too. */
  abort(): void {
    if (this.child && !this.handedOver) this.child.kill('SIGTERM');
  }
}

/** What the master's queue carries about its successor. */
export type SuccessorEvent = { type: 'successor'; pid: number; ready: boolean; why?: string };

/** In a successor: the listeners handed over, read once and removed from the environment. */
export function takeInheritedFds(env: NodeJS.ProcessEnv = process.env): { fds: InheritedFds; predecessor: number | null } {
  const raw = env[INHERIT_ENV];
  const parent = Number(env[PARENT_ENV]);
  delete env[INHERIT_ENV];
  delete env[PARENT_ENV];
  if (!raw || !Number.isInteger(parent) || parent !== process.ppid) return { fds: new Map(), predecessor: null };
  const list = JSON.parse(raw) as { address: string; bound: string; fd: number }[];
  return { fds: new Map(list.map((l) => [l.address, { fd: l.fd, bound: l.bound }])), predecessor: parent };
}

/** In a successor whose workers are ready: tell the previous master, then drop the channel. */
export function notifyPredecessor(): void {
  if (!process.send) return;
  process.send({ type: 'upgraded' }, () => process.disconnect());
}
