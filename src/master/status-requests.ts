import type { WorkerHandle } from './worker-handle.js';

/**
 * How long `tsicorn status` waits for a worker's figures as of now. A worker that has not answered
 * by then has a busy event loop (a handler blocking it, or an app still loading): it is shown with
 * the figures of its last heartbeat, marked as such.
 */
export const REPORT_WAIT_MS = 500;

interface Pending {
  waiting: Set<WorkerHandle>;
  answered: Set<WorkerHandle>;
  timer: NodeJS.Timeout | undefined;
  done: (answered: ReadonlySet<WorkerHandle>) => void;
}

/**
 * The status requests waiting for their workers' figures (its counterpart in the worker is
 * Worker.report, src/worker/worker.ts). A heartbeat is up to a second old, and the one a worker
 * sends as a request starts counts that request in flight: shown as the state of now, it made
 * `tsicorn status` say INFLIGHT 1 after the response had arrived, and RSS 0 before a fresh worker's
 * first beat. So each status asks every worker for a heartbeat now (a `report-request`) and is
 * answered once all have beaten or REPORT_WAIT_MS has passed. Only `tsicorn status` pays for the
 * round trip; the request path sends nothing more.
 */
export class StatusRequests {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** Asks `workers` to report now; `done` gets those that did in time (the others' figures are their last heartbeat's). */
  ask(workers: readonly WorkerHandle[], done: (answered: ReadonlySet<WorkerHandle>) => void): void {
    const asked = workers.filter((w) => w.state !== 'exited');
    const entry: Pending = { waiting: new Set(asked), answered: new Set(), timer: undefined, done };
    if (asked.length === 0) {
      done(entry.answered);
      return;
    }
    const id = this.nextId++;
    this.pending.set(id, entry);
    // Settles a status from the master's own view: it reads the handles and changes nothing.
    entry.timer = setTimeout(() => this.finish(id), REPORT_WAIT_MS);
    for (const worker of asked) worker.send({ type: 'report-request', id });
  }

  /** `worker` answered request `id` with a heartbeat (the handle has noted its figures already). */
  answered(worker: WorkerHandle, id: number): void {
    const entry = this.pending.get(id);
    if (!entry?.waiting.delete(worker)) return;
    entry.answered.add(worker);
    if (entry.waiting.size === 0) this.finish(id);
  }

  /** A worker exited: no request waits for it any longer. */
  forget(worker: WorkerHandle): void {
    for (const [id, entry] of this.pending) if (entry.waiting.delete(worker) && entry.waiting.size === 0) this.finish(id);
  }

  private finish(id: number): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    entry.done(entry.answered);
  }
}
