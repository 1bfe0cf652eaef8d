import type { Server as HttpServer } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { ConnectionTracker } from './connections.js';
import type { RequestCounters } from './request-pipeline.js';

/** Connections that are no longer HTTP/1 (HTTP/2 sessions, upgraded sockets), drained their own way. */
export interface DrainPart {
  /** The drain began: close what can be closed gracefully. */
  start(): void;
  /** Connections still open. */
  readonly open: number;
  /** graceful_timeout is over: close the rest; the worker exits once this settles. */
  cut(): void | Promise<void>;
}

export interface DrainOptions {
  servers: HttpServer[];
  tracker: ConnectionTracker;
  counters: RequestCounters;
  /** Hard deadline: after it, whatever is still open is cut. */
  gracefulMs: number;
  /** How long a socket must stay idle before the drain closes it. */
  idleGraceMs: number;
  parts?: DrainPart[];
  onDone: (forced: boolean) => void;
}

const SWEEP_MS = 50;

/**
 * Retires a worker without dropping a request: stop accepting (the master's socket stays open,
 * so other workers take new connections), mark every response still to be written
 * `Connection: close`, close sockets once seen idle for `idleGraceMs`, and finish when nothing
 * is open — or cut everything at `gracefulMs`.
 */
export class Drain {
  private sweep: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;

  constructor(private readonly opts: DrainOptions) {}

  start(): void {
    const { servers } = this.opts;
    // net.Server's close, not http.Server's: the latter also reaps idle keep-alive sockets at once.
    for (const server of servers) NetServer.prototype.close.call(server);
    this.opts.tracker.closeAfterResponses();
    for (const part of this.parts) part.start();
    this.sweep = setInterval(() => this.check(), SWEEP_MS);
    this.deadline = setTimeout(() => this.finish(true), this.opts.gracefulMs);
    this.check();
  }

  private check(): void {
    const open = this.opts.tracker.closeIdle(this.opts.idleGraceMs, Date.now());
    if (open === 0 && this.opts.counters.http2.size === 0 && this.parts.every((part) => part.open === 0)) this.finish(false);
  }

  private get parts(): DrainPart[] {
    return this.opts.parts ?? [];
  }

  private finish(forced: boolean): void {
    clearInterval(this.sweep);
    clearTimeout(this.deadline);
    if (!forced) {
      this.opts.onDone(false);
      return;
    }
    this.opts.tracker.destroyAll();
    void Promise.allSettled(this.parts.map(async (part) => part.cut())).then(() => this.opts.onDone(true));
  }
}
