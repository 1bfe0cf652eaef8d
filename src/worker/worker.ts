import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Hooks } from '../hooks/hooks.js';
import type { MasterMessage, WorkerMessage } from '../ipc/messages.js';
import { stopTimings } from '../ipc/stop-timings.js';
import { sendToMaster } from '../ipc/worker-channel.js';
import type { AccessLog } from '../log/access-log.js';
import { logClientErrors } from '../log/client-errors.js';
import type { ServerLog } from '../log/logger.js';
import type { WorkerMetrics } from '../metrics/worker-metrics.js';
import { exitReporting, loadWorkerMetrics } from '../metrics/worker-reporting.js';
import type { LoadedApp, UpgradeHandler } from './app-loader.js';
import { ConnectionTracker } from './connections.js';
import { Drain } from './drain.js';
import { Http2Sessions } from './http2-sessions.js';
import { buildListenerServer, serverModules } from './listener-servers.js';
import { OpenResponses } from './open-responses.js';
import { ProxyRules } from './proxy-trust.js';
import { HeadScanner } from './request-head.js';
import { identify } from './request-identity.js';
import { RequestLimits } from './request-limits.js';
import { appListener, type RequestCounters, type RequestHooks, requestPipeline } from './request-pipeline.js';
import { listenOnInherited } from './servers.js';
import type { TlsMaterial } from './tls-context.js';
import { UpgradedSockets } from './upgrades.js';

type TlsServer = import('node:tls').Server;

export type Boot = Extract<MasterMessage, { type: 'boot' }>;

/**
 * A serving worker: its servers on the inherited listeners, its counters, heartbeats, and the
 * drain that ends it. Its counterpart in the master is src/master/worker-handle.ts.
 */
export class Worker {
  private readonly counters: RequestCounters = { requests: 0, http2: new OpenResponses() };
  private readonly tracker = new ConnectionTracker();
  private readonly servers: HttpServer[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private beatEveryMs = 1000;
  /** Set half an interval after the last beat (by staleTimer): the next request beats first. */
  private stale = true;
  /** Unref'd, re-armed by each beat; it lives as long as the process, drain included. */
  private staleTimer: NodeJS.Timeout | undefined;
  private retireAsked = false;
  private drain: Drain | null = null;
  private tls: TlsMaterial | null = null;
  private tlsContext: typeof import('./tls-context.js') | null = null;
  private readonly sessions: Http2Sessions;
  private readonly upgrades: UpgradedSockets;
  /** Prometheus and StatsD (src/metrics/); null when both are off. */
  metrics: WorkerMetrics | null = null;

  constructor(
    private readonly boot: Boot,
    private readonly serverLog: ServerLog,
    private readonly accessLog: AccessLog,
    private readonly hooks: Hooks,
    /** What the worker hooks are given as `worker`. */
    private readonly hookWorker: object,
  ) {
    const { keepalive, headers_timeout } = boot.settings;
    // An HTTP/2 session has no request-by-request keep-alive: it is closed after `keepalive`
    // seconds with no stream (headers_timeout when keepalive is 0, so a silent one still goes).
    this.sessions = new Http2Sessions((keepalive || headers_timeout) * 1000, this.counters.http2);
    this.upgrades = new UpgradedSockets(this.tracker, this.log);
  }

  private get log() {
    return this.serverLog.logger;
  }

  async start(app: LoadedApp, startedAt: number): Promise<void> {
    const { settings, baseDir, listeners } = this.boot;
    const proxyRules = new ProxyRules(settings.proxy);
    const requestIdHeader = settings.log.request_id_header.toLowerCase();
    this.metrics = await loadWorkerMetrics(settings, this.boot.id, () => this.inflight(), this.log);
    const listener = requestPipeline({
      listener: await appListener(app, this.log),
      counters: this.counters,
      log: this.log,
      isDraining: () => this.drain !== null,
      keepAlive: settings.keepalive > 0,
      onRequest: (count) => this.countRequest(count),
      beforeApp: () => this.beatIfStale(),
      accessLog: this.accessLog,
      requestIdHeader,
      proxyRules,
      limits: new RequestLimits(settings),
      scanner: new HeadScanner({
        fieldSize: settings.limit_request_field_size,
        requestIdHeader,
        forwardingNames: proxyRules.forwardingNames,
      }),
      requestHooks: requestHooks(this.hooks, this.hookWorker),
      metrics: this.metrics,
    });
    // node:tls and node:crypto's X509 are loaded only for a server that serves TLS.
    if (settings.tls.certfile && settings.tls.keyfile) this.tlsContext = await import('./tls-context.js');
    this.tls = this.tlsContext?.loadTlsMaterial(settings.tls, baseDir) ?? null;
    if (this.tls) this.log.info({ subject: this.tls.subject, validTo: this.tls.validTo }, 'tls certificate loaded');
    // Upgrades reach the app's `upgrade` or, for an app-owned http.Server, its 'upgrade' listeners.
    const handlers = app.upgrade ? [app.upgrade] : app.kind === 'server' ? (app.server.listeners('upgrade') as UpgradeHandler[]) : [];
    const upgrade = handlers.length
      ? this.upgrades.listener({ handlers, prepare: (req) => identify(req, requestIdHeader, proxyRules), serve: listener })
      : null;
    const modules = await serverModules(settings, this.tls !== null);
    for (const inherited of listeners) {
      const { log, tracker, sessions } = this;
      const server = buildListenerServer({ settings, tls: this.tls, listener, log, tracker, sessions, upgrade, modules });
      logClientErrors(server, this.accessLog);
      this.servers.push(server);
      await listenOnInherited(server, inherited, settings.backlog);
    }
    this.beatEveryMs = Math.max(100, Math.min(1000, (settings.timeout * 1000) / 4 || 1000));
    this.heartbeat = setInterval(() => this.beat(), this.beatEveryMs);
    sendToMaster({ type: 'ready', interface: app.kind, describe: app.describe, bootMs: Date.now() - startedAt });
    // The first figures with `ready`, not an interval later: until then the master had RSS 0.
    this.report();
    // The master says it at info (with the same fields): a worker that logs nothing never loads pino (logger.ts).
    this.log.debug({ interface: app.kind, app: settings.app, bootMs: Date.now() - startedAt }, 'worker ready');
  }

  /**
   * A request starts and the last heartbeat is half an interval old: beat now, before the app
   * runs. If the app then blocks the event loop, the master's timeout log can still name the
   * request (the beat is written to the IPC pipe before the handler is called). At most one
   * extra message per half interval, however many requests. A flag, not a clock read: this runs
   * for every request.
   */
  private beatIfStale(): void {
    if (this.stale) this.beat();
  }

  /** Once a heartbeat interval, and as a request starts: counts, and the oldest request in flight. */
  private beat(): void {
    this.stale = false;
    this.staleTimer ??= setTimeout(() => {
      this.stale = true;
    }, this.beatEveryMs / 2).unref();
    this.staleTimer.refresh();
    sendToMaster(heartbeat(this.load()));
  }

  /**
   * A heartbeat off the schedule: with `ready`, and when the master asks for figures as of now
   * (`answers`: its `report-request` id, for `tsicorn status`). It leaves `stale` alone: a beat
   * that knows of no request must not stop the next request from beating before the app runs.
   */
  report(answers?: number): void {
    sendToMaster(heartbeat(this.load(), answers));
  }

  /** Requests in flight: HTTP/1 ones read from the connections, HTTP/2 ones counted. */
  private inflight(): number {
    return this.tracker.inflight() + this.counters.http2.size;
  }

  private load(): Load {
    return {
      requests: this.counters.requests,
      inflight: this.inflight(),
      oldest: this.tracker.oldestRequest() ?? this.counters.http2.oldest()?.req,
    };
  }

  /**
   * The certificate or key changed on disk: check the new files and swap the secure context of
   * every server; open connections keep theirs. A bad file keeps the old context and says why.
   */
  reloadTls(): void {
    const { settings, baseDir } = this.boot;
    try {
      const next = this.tlsContext?.loadTlsMaterial(settings.tls, baseDir);
      if (!next) return;
      for (const server of this.servers) (server as unknown as TlsServer).setSecureContext(next.options);
      this.tls = next;
      this.log.info({ subject: next.subject, validTo: next.validTo }, 'tls certificate reloaded');
    } catch (err) {
      this.log.error({ error: (err as Error).message }, 'tls certificate reload failed; keeping the one in use');
    }
  }

  /** balance: round-robin: a connection the master accepted for listener `index`. */
  accept(index: number, socket: Socket): void {
    const server = this.servers[index];
    // Node's own maxConnections check runs only for connections its server accepted; one handed
    // over is refused here the same way (closed at once), so worker_connections holds either way.
    if (!server || this.drain || this.tracker.handedOverOpen >= this.boot.settings.worker_connections) {
      socket.destroy();
      return;
    }
    this.tracker.handedOver(socket);
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
    if (process.connected) sendToMaster({ type: 'retire', reason, detail });
    else this.stop('graceful', 'master gone');
  }

  /** Drains and exits (`quick`: exits at once); `timings` default to a shutdown's. */
  stop(mode: 'graceful' | 'quick', reason: string, timings = stopTimings(this.boot.settings, true)): void {
    if (mode === 'quick') {
      this.log.info({ reason }, 'worker exiting now');
      this.exit();
      // exit() returns while the final metrics are sent: no drain is started meanwhile.
      return;
    }
    if (this.drain) return;
    clearInterval(this.heartbeat);
    this.log.info({ reason, inflight: this.inflight(), connections: this.tracker.openConnections }, 'worker draining');
    this.drain = new Drain({
      servers: this.servers,
      tracker: this.tracker,
      counters: this.counters,
      gracefulMs: timings.gracefulMs,
      idleGraceMs: timings.idleGraceMs,
      // HTTP/2 sessions close with GOAWAY; upgraded sockets run until graceful_timeout.
      parts: [this.sessions, this.upgrades],
      onDone: (forced) => {
        this.log.info({ forced, requests: this.counters.requests }, 'worker exiting');
        this.exit();
      },
    });
    this.drain.start();
  }

  /** Leaves with the access log written out and the last request counts sent to the master. */
  exit(): never {
    this.hooks.call('worker_exit', { pid: process.ppid, settings: this.boot.settings }, this.hookWorker);
    return exitReporting(this.metrics, () => this.accessLog.flush());
  }
}

/** What a worker is serving now. */
interface Load {
  requests: number;
  inflight: number;
  /** A request in flight, the longest as far as Node tells (see ConnectionTracker.oldestRequest). */
  oldest: IncomingMessage | undefined;
}

/**
 * What a heartbeat says: this process's counts, memory and CPU now, and the oldest request in
 * flight. `load` is null before the worker serves (a status asked while the app loads).
 */
export function heartbeat(load: Load | null, answers?: number): Extract<WorkerMessage, { type: 'heartbeat' }> {
  const req = load?.oldest;
  const cpu = process.cpuUsage();
  return {
    type: 'heartbeat',
    requests: load?.requests ?? 0,
    inflight: load?.inflight ?? 0,
    rss: process.memoryUsage.rss(),
    cpuMs: (cpu.user + cpu.system) / 1000,
    ...(req ? { oldest: `${req.method} ${req.url}` } : {}),
    ...(answers === undefined ? {} : { answers }),
  };
}

/** pre_request / post_request, only when the hooks module has them (the request path pays nothing otherwise). */
function requestHooks(hooks: Hooks, worker: object): RequestHooks | null {
  if (!hooks.has('pre_request') && !hooks.has('post_request')) return null;
  return {
    pre: (req) => hooks.call('pre_request', worker, req),
    post: (req, res) => hooks.call('post_request', worker, req, res),
  };
}
