import { type ChildProcess, fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { isWorkerMessage, type MasterMessage, type WorkerMessage } from '../ipc/messages.js';
import type { StopTimings } from '../ipc/stop-timings.js';
import { workerEntry } from './worker-entry.js';

export type WorkerState = 'booting' | 'ready' | 'retiring' | 'exited';

/** Why a worker left or is leaving: the `reason` label of logs and metrics. */
export type ExitReason =
  | 'exit'
  | 'timeout'
  | 'max_requests'
  | 'memory'
  | 'uncaught_exception'
  | 'reload'
  | 'scale'
  | 'shutdown'
  | 'boot_timeout';

export interface WorkerEvents {
  message(worker: WorkerHandle, message: WorkerMessage): void;
  exit(worker: WorkerHandle, code: number | null, signal: NodeJS.Signals | null): void;
  /** Just before the process is started (the `pre_fork` hook). */
  beforeSpawn?(id: number, generation: number): void;
}

/** What a worker process is started with; processes started alike can serve the same generation. */
export interface ForkSpec {
  env: NodeJS.ProcessEnv;
  /** Listener descriptors in the master; the worker sees them as fds 4, 5, ... */
  fds: number[];
  /** log.capture_output: the worker's stdout/stderr are piped to the master's log. */
  captureOutput: boolean;
  /** `proc_name` or the app: the title a standby shows until it is booted. */
  name: string;
}

/**
 * Starts a worker process. It loads the worker's modules, then waits for its boot message
 * (src/worker/main.ts), so it can be started ahead of need (src/master/standby.ts).
 */
export function forkWorker(spec: ForkSpec): ChildProcess {
  const out = spec.captureOutput ? 'pipe' : 'inherit';
  // With capture on, the worker's own log still reaches the master's stderr directly, and its
  // access log (`-`) the master's stdout, as the fds after the listeners (logFd and accessFd in
  // the boot message), not through the capture.
  return fork(workerEntry(), [spec.name], {
    env: spec.env,
    stdio: ['inherit', out, out, 'ipc', ...spec.fds, ...(spec.captureOutput ? [2, 1] : [])],
    serialization: 'json',
  });
}

export interface SpawnOptions extends ForkSpec {
  id: number;
  generation: number;
  /** A process started ahead with the same spec (a standby), taken instead of a new one. */
  standby: ChildProcess | null;
  /** Called with each line the app prints when output is captured. */
  onOutput?: (worker: WorkerHandle, stream: 'stdout' | 'stderr', line: string) => void;
  /** boot_timeout of this worker's generation (a rotation's new workers have the new config's). */
  bootTimeoutMs: number;
}

/**
 * The master's view of one worker process (its counterpart is src/worker/main.ts): pid,
 * generation, lifecycle state and the last facts it reported. Events from the child are handed
 * to the master's queue, never acted on here.
 */
export class WorkerHandle {
  readonly id: number;
  readonly generation: number;
  readonly spawnedAt = Date.now();
  readonly bootTimeoutMs: number;
  state: WorkerState = 'booting';
  readyAt = 0;
  lastHeartbeat = Date.now();
  requests = 0;
  inflight = 0;
  /** Resident memory and CPU time at the last heartbeat. */
  rss = 0;
  /** The least resident memory reported since ready (the first report comes with `ready`); 0 until then. */
  lowestRss = 0;
  cpuMs = 0;
  /** The longest-running request in flight at the last heartbeat. */
  oldestRequest: string | undefined;
  /** Set when the worker should be replaced; it serves on until its replacement is ready. */
  replaceReason: ExitReason | null = null;
  retireReason: ExitReason | null = null;
  retiringSince = 0;
  private readonly child: ChildProcess;

  constructor(opts: SpawnOptions, events: WorkerEvents) {
    this.id = opts.id;
    this.generation = opts.generation;
    this.bootTimeoutMs = opts.bootTimeoutMs;
    this.child = opts.standby ?? forkWorker(opts);
    if (opts.captureOutput && opts.onOutput) {
      const onOutput = opts.onOutput;
      for (const stream of ['stdout', 'stderr'] as const) {
        const source = this.child[stream];
        if (source)
          createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => onOutput(this, stream, line));
      }
    }
    this.child.on('message', (message: unknown) => {
      if (isWorkerMessage(message)) events.message(this, message);
    });
    this.child.once('exit', (code, signal) => {
      this.state = 'exited';
      events.exit(this, code, signal);
    });
    // A send to a worker that just died fails with EPIPE; its exit event tells the story.
    this.child.on('error', () => {});
  }

  /** The worker listens: ready (false if it was not booting, e.g. already told to leave). */
  markReady(now: number): boolean {
    if (this.state !== 'booting') return false;
    this.state = 'ready';
    this.readyAt = now;
    this.lastHeartbeat = now;
    return true;
  }

  noteHeartbeat(beat: Extract<WorkerMessage, { type: 'heartbeat' }>, now: number): void {
    this.lastHeartbeat = now;
    this.requests = beat.requests;
    this.inflight = beat.inflight;
    this.rss = beat.rss;
    if (this.state === 'ready' && (this.lowestRss === 0 || beat.rss < this.lowestRss)) this.lowestRss = beat.rss;
    this.cpuMs = beat.cpuMs;
    this.oldestRequest = beat.oldest;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  send(message: MasterMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  /** Hands an accepted connection to this worker (balance: round-robin); `onFail` if it cannot. */
  sendConnection(listener: number, socket: import('node:net').Socket, onFail: () => void): void {
    if (!this.child.connected || this.state !== 'ready') {
      onFail();
      return;
    }
    this.child.send({ type: 'connection', listener } satisfies MasterMessage, socket, { keepOpen: false }, (err) => {
      if (err) onFail();
    });
  }

  /** Graceful retirement: the worker drains; the master SIGKILLs it after graceful_timeout. */
  retire(reason: ExitReason, timings: StopTimings, mode: 'graceful' | 'quick' = 'graceful'): void {
    if (this.state === 'retiring' || this.state === 'exited') return;
    const wasBooting = this.state === 'booting';
    this.state = 'retiring';
    this.retireReason = reason;
    this.retiringSince = Date.now();
    // A booting worker has no server to drain yet: SIGTERM ends it at once.
    if (this.child.connected && !wasBooting) this.send({ type: 'stop', mode, reason, ...timings });
    else this.kill('SIGTERM');
  }

  kill(signal: NodeJS.Signals): void {
    if (this.state !== 'exited') this.child.kill(signal);
  }
}
