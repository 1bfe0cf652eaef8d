import type { ControlReply, ControlRequest, ServerStatus } from '../control/protocol.js';
import type { ExitHistory } from './exit-history.js';
import type { MasterState } from './master-events.js';
import type { ReloadOutcome, ReloadWaiter } from './reload-flow.js';
import type { WorkerHandle } from './worker-handle.js';
import type { Generation } from './worker-pool.js';

/** What a control command may do to the master; it runs from the master's queue. */
export interface MasterOperations {
  state: MasterState;
  target: number;
  workers: number;
  /** Calls `done` with the status once the workers have reported their figures as of now (or in time failed to). */
  status(done: (status: ServerStatus) => void): void;
  reload(waiter: ReloadWaiter): void;
  reopenLogs(): void;
  scale(to: number): void;
  stop(mode: 'graceful' | 'quick'): void;
}

type Reply = (answer: ControlReply, end?: boolean) => void;

/** Carries out one control socket command (src/master/control-server.ts parsed it) and answers. */
export function runControlCommand(request: ControlRequest, reply: Reply, master: MasterOperations): void {
  const answer = (outcome: ReloadOutcome): void =>
    reply(outcome.ok ? { ok: true, message: outcome.message } : { ok: false, error: outcome.message, details: outcome.details ?? [] });
  switch (request.command) {
    case 'status':
      master.status((data) => reply({ ok: true, message: 'status', data }));
      break;
    case 'reload':
      // Answered when the reload has an outcome (a rotation can take boot_timeout).
      master.reload(answer);
      break;
    case 'reopen-logs':
      master.reopenLogs();
      reply({ ok: true, message: `log files reopened by the master and ${master.workers} workers` });
      break;
    case 'scale': {
      const to = request.relative ? master.target + request.to : request.to;
      if (to < 1) reply({ ok: false, error: `cannot scale to ${to} workers: at least 1 is needed` });
      else if (master.state !== 'running' && master.state !== 'rotating') reply({ ok: false, error: `cannot scale while ${master.state}` });
      else {
        const from = master.target;
        master.scale(to);
        reply({ ok: true, message: `workers: ${from} → ${to}` });
      }
      break;
    }
    case 'stop':
      // The connection stays open until this process exits: the CLI waits for the end of it.
      reply({ ok: true, message: request.quick ? 'stopping now' : 'stopping gracefully' }, false);
      master.stop(request.quick ? 'quick' : 'graceful');
      break;
  }
}

export interface StatusSource {
  state: MasterState;
  startedAt: number;
  current: Generation;
  target: number;
  workers: WorkerHandle[];
  standbyPids: number[];
  exits: ExitHistory;
}

/**
 * What `tsicorn status` shows, from the master's own view of its workers; `answered`: the workers
 * that reported just now (src/master/status-requests.ts), the others' figures are their last heartbeat's.
 */
export function buildStatus(source: StatusSource, answered: ReadonlySet<WorkerHandle>): ServerStatus {
  const now = Date.now();
  const { current } = source;
  return {
    pid: process.pid,
    state: source.state,
    uptimeSeconds: (now - source.startedAt) / 1000,
    configFile: current.config.file,
    app: String(current.config.settings.app),
    generation: current.number,
    workersTarget: source.target,
    listeners: current.listeners.map((l) => l.bound),
    workers: source.workers.map((w) => ({
      id: w.id,
      pid: w.pid,
      generation: w.generation,
      state: w.state,
      requests: w.requests,
      inflight: w.inflight,
      rssBytes: w.rss,
      cpuSeconds: w.cpuMs / 1000,
      ageSeconds: (now - w.spawnedAt) / 1000,
      heartbeatAgoMs: now - w.lastHeartbeat,
      fresh: answered.has(w),
    })),
    standbyPids: source.standbyPids,
    restarts: { ...source.exits.byReason },
    recentExits: source.exits.latest(),
  };
}
