/**
 * A worker process: the code in the child, whose counterpart in the master is
 * src/master/worker-handle.ts. It loads the app, accepts on the listeners the master inherited to
 * it, reports readiness and heartbeats over IPC, and drains when told to stop, on SIGTERM, or when
 * the master goes away.
 */

import type { Server as HttpServer } from 'node:http';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { isMasterMessage, type MasterMessage, type WorkerMessage } from '../ipc/messages.js';
import { createServerLogger, type Logger } from '../log/logger.js';
import { type LoadedApp, loadApp } from './app-loader.js';
import { ConnectionTracker } from './connections.js';
import { Drain } from './drain.js';
import { dropPrivileges } from './privileges.js';
import { appListener, type RequestCounters, requestPipeline } from './request-pipeline.js';
import { buildServer, listenOnInherited } from './servers.js';

type Boot = Extract<MasterMessage, { type: 'boot' }>;

// Handlers first, before any await: with no handler SIGUSR1 would open an inspector on :9229,
// and a terminal's SIGINT/SIGHUP must not kill a worker mid-request before the master decides.
const early: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH'];
const pendingSignals: NodeJS.Signals[] = [];
const queueSignal = (signal: NodeJS.Signals) => pendingSignals.push(signal);
for (const signal of early) process.on(signal, queueSignal);

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

/** process.send is asynchronous: exiting right after it could lose the message that says why. */
function sendThenExit(message: WorkerMessage, code: number): never {
  if (process.connected && process.send) process.send(message, () => process.exit(code));
  else process.exit(code);
  // Keep the process from running on while the message flushes.
  return undefined as never;
}

function waitForBoot(): Promise<Boot> {
  return new Promise((resolvePromise) => {
    // With no master (IPC gone before boot), there is nothing to serve for.
    const onDisconnect = () => process.exit(0);
    const onMessage = (message: unknown) => {
      if (isMasterMessage(message) && message.type === 'boot') {
        process.off('message', onMessage);
        process.off('disconnect', onDisconnect);
        resolvePromise(message);
      }
    };
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
  });
}

class Worker {
  private readonly counters: RequestCounters = { requests: 0, inflight: 0, open: new Set() };
  private readonly tracker = new ConnectionTracker();
  private readonly servers: HttpServer[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private retireAsked = false;
  private drain: Drain | null = null;

  constructor(
    private readonly boot: Boot,
    private readonly log: Logger,
  ) {}

  async start(app: LoadedApp, startedAt: number): Promise<void> {
    const { settings, baseDir, listeners } = this.boot;
    const listener = requestPipeline({
      listener: appListener(app, this.log),
      tracker: this.tracker,
      counters: this.counters,
      log: this.log,
      isDraining: () => this.drain !== null,
      onRequest: (count) => this.countRequest(count),
    });
    for (const inherited of listeners) {
      const server = buildServer(settings, baseDir, listener);
      if (app.kind === 'server') for (const upgrade of app.server.listeners('upgrade')) server.on('upgrade', upgrade as never);
      this.tracker.watch(server);
      this.servers.push(server);
      await listenOnInherited(server, inherited, settings.backlog);
    }
    const interval = Math.max(100, Math.min(1000, (settings.timeout * 1000) / 4 || 1000));
    this.heartbeat = setInterval(() => this.beat(), interval);
    send({ type: 'ready', interface: app.kind, describe: app.describe, bootMs: Date.now() - startedAt });
    this.log.info({ interface: app.kind, app: settings.app, bootMs: Date.now() - startedAt }, 'worker ready');
  }

  /** Once a heartbeat interval: counts, and the oldest request in flight (Sets keep insertion order). */
  private beat(): void {
    const { requests, inflight, open } = this.counters;
    const first = open.values().next();
    const req = first.done ? undefined : first.value.req;
    send({ type: 'heartbeat', requests, inflight, ...(req ? { oldest: `${req.method} ${req.url}` } : {}) });
  }

  /** balance: round-robin: a connection the master accepted for listener `index`. */
  accept(index: number, socket: Socket): void {
    const server = this.servers[index];
    if (!server || this.drain) {
      socket.destroy();
      return;
    }
    server.emit('connection', socket);
  }

  private countRequest(count: number): void {
    const limit = this.boot.maxRequests;
    if (limit > 0 && count >= limit && !this.retireAsked) this.askToRetire('max_requests', `served ${count} requests`);
  }

  /** Asks the master for a replacement; this worker serves on until told to stop. */
  askToRetire(reason: 'max_requests' | 'uncaught_exception', detail: string): void {
    if (this.retireAsked) return;
    this.retireAsked = true;
    if (process.connected) send({ type: 'retire', reason, detail });
    else this.stop('graceful', 'master gone');
  }

  stop(mode: 'graceful' | 'quick', reason: string): void {
    if (mode === 'quick') {
      this.log.info({ reason }, 'worker exiting now');
      process.exit(0);
    }
    if (this.drain) return;
    clearInterval(this.heartbeat);
    this.log.info({ reason, inflight: this.counters.inflight, connections: this.tracker.openConnections }, 'worker draining');
    this.drain = new Drain({
      servers: this.servers,
      tracker: this.tracker,
      counters: this.counters,
      gracefulMs: this.boot.settings.graceful_timeout * 1000,
      idleGraceMs: Math.min(1000, this.boot.settings.keepalive * 1000),
      onDone: (forced) => {
        this.log.info({ forced, requests: this.counters.requests }, 'worker exiting');
        process.exit(0);
      },
    });
    this.drain.start();
  }
}

async function main(): Promise<void> {
  const boot = await waitForBoot();
  const startedAt = Date.now();
  const { settings, baseDir } = boot;
  process.title = `tsicorn: worker ${boot.id} [${settings.proc_name ?? settings.app}]`;
  const log = await createServerLogger(settings.log, baseDir, { component: 'worker', worker: boot.id, generation: boot.generation });
  let worker: Worker | null = null;

  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === 'SIGTERM') worker ? worker.stop('graceful', 'SIGTERM') : process.exit(0);
    else if (signal === 'SIGINT' || signal === 'SIGQUIT') process.exit(0);
    // HUP, TTIN, TTOU, WINCH belong to the master; USR1 (reopen logs) and USR2 come with later work.
  };
  for (const signal of early) {
    process.off(signal, queueSignal);
    process.on(signal, onSignal);
  }
  for (const signal of pendingSignals.splice(0)) onSignal(signal);

  process.on('uncaughtException', (err) => {
    log.error({ err }, 'uncaught exception outside a request; replacing this worker');
    worker?.askToRetire('uncaught_exception', err.message);
    if (!worker) process.exit(1);
  });
  process.on('message', (message: unknown, handle: unknown) => {
    if (!isMasterMessage(message)) return;
    if (message.type === 'stop') worker?.stop(message.mode, message.reason);
    else if (message.type === 'connection' && handle instanceof Socket) worker?.accept(message.listener, handle);
  });
  // The master is gone (even SIGKILLed): finish what is in flight, then exit; never an orphan.
  process.on('disconnect', () => (worker ? worker.stop('graceful', 'master gone') : process.exit(0)));

  try {
    if (settings.umask !== null) process.umask(Number.parseInt(settings.umask, 8));
    process.chdir(resolve(baseDir, settings.chdir));
    dropPrivileges(settings.user, settings.group);
  } catch (err) {
    const error = err as Error;
    log.error({ err }, 'worker setup failed');
    return sendThenExit({ type: 'boot-failed', message: error.message, stack: error.stack }, 3);
  }
  let app: LoadedApp;
  try {
    app = await loadApp(settings.app, process.cwd(), settings.interface);
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return sendThenExit({ type: 'boot-failed', message: error.message, stack: error.name === 'AppLoadError' ? undefined : error.stack }, 4);
  }
  worker = new Worker(boot, log);
  try {
    await worker.start(app, startedAt);
  } catch (err) {
    const error = err as Error;
    return sendThenExit({ type: 'boot-failed', message: error.message, stack: error.stack }, 3);
  }
}

await main();
