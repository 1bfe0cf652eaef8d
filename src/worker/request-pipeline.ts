import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AccessLog } from '../log/access-log.js';
import type { Logger } from '../log/logger.js';
import type { LoadedApp } from './app-loader.js';
import { type CountedResponse, countHttp2Bodies } from './counting-response.js';
import type { OpenEntry, OpenResponses } from './open-responses.js';
import type { ProxyRules } from './proxy-trust.js';
import { setRawHeader } from './raw-headers.js';
import type { HeadScanner } from './request-head.js';
import { identify, isHttp2 } from './request-identity.js';
import { guardTrailers, type RequestLimits } from './request-limits.js';

type AnyListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Turns any app interface into one Node request listener (fetch handlers through Hono's adapter,
 * imported only for them: it takes ~40 ms of every worker's boot, and of every rotation).
 */
export async function appListener(app: LoadedApp, log: Logger): Promise<AnyListener> {
  switch (app.kind) {
    case 'fetch': {
      const { getRequestListener } = await import('@hono/node-server');
      // Streams bodies both ways; errors thrown by the handler become a 500 here.
      return getRequestListener(app.fetch, {
        errorHandler: (err) => {
          log.error({ err }, 'request handler failed');
          return new Response('Internal Server Error\n', { status: 500, headers: { 'content-type': 'text/plain' } });
        },
      }) as AnyListener;
    }
    case 'koa':
    case 'node':
      return app.listener as AnyListener;
    case 'server': {
      // An app-owned http.Server (e.g. Fastify's `app.server`): serve through its own listeners.
      const listeners = app.server.listeners('request') as RequestListener[];
      const [only] = listeners;
      if (listeners.length === 1 && only) return only as AnyListener;
      return (req, res) => {
        for (const listener of listeners) listener.call(app.server, req, res);
      };
    }
  }
}

export interface RequestCounters {
  requests: number;
  /**
   * HTTP/2 requests not yet closed, oldest first (their size is the HTTP/2 requests in flight).
   * HTTP/1 ones are read from the connections when asked (ConnectionTracker), not tracked.
   */
  http2: OpenResponses;
}

export interface PipelineOptions {
  listener: AnyListener;
  counters: RequestCounters;
  log: Logger;
  /** True once the worker drains: every further response closes its connection. */
  isDraining: () => boolean;
  /** `keepalive: 0`: every response closes its connection (Node would keep it open forever). */
  keepAlive: boolean;
  /** Called after each request is counted (max_requests). */
  onRequest: (count: number) => void;
  /** Called just before the app is: the worker's chance to tell the master what is about to run. */
  beforeApp: () => void;
  accessLog: AccessLog;
  /** Lower-case name of the request id header (`log.request_id_header`). */
  requestIdHeader: string;
  proxyRules: ProxyRules;
  limits: RequestLimits;
  /** Reads an HTTP/1 request's fields once for the limits, the request id and the proxy rules. */
  scanner: HeadScanner;
  /** The user's pre_request / post_request hooks, or null when it has neither. */
  requestHooks: RequestHooks | null;
  /** Request metrics (src/metrics/worker-metrics.ts); null when Prometheus and StatsD are off. */
  metrics?: { record(method: string | undefined, status: number, ms: number): void } | null;
}

export interface RequestHooks {
  pre(req: IncomingMessage): void;
  post(req: IncomingMessage, res: ServerResponse): void;
}

/** The head of tsicorn's own text answers (a refusal, a 500): HTTP/1 closes the connection after it; HTTP/2 has no such field and its session goes on. */
function plainText(http2: boolean): Record<string, string> {
  return http2 ? { 'content-type': 'text/plain' } : { 'content-type': 'text/plain', connection: 'close' };
}

/** The status the access log shows: the response's, or 499 (nginx's) if the client left first. */
function loggedStatus(res: ServerResponse): number {
  if (res.writableFinished || res.headersSent) return res.statusCode;
  return 499;
}

function bodyBytes(req: IncomingMessage, res: ServerResponse): number {
  if (req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) return 0;
  return (res as CountedResponse).bodyBytes ?? 0;
}

const TRACKED = Symbol('tsicorn.tracked');

/**
 * What the pipeline keeps of a request until its response closes, on the response itself: one
 * shared 'close' listener reads it, so a request allocates no closure and no once() wrapper.
 */
interface Tracked {
  [TRACKED]?: RequestState | undefined;
}
interface RequestState extends OpenEntry {
  started: number;
  /** Linked into counters.http2. */
  http2: boolean;
  remoteAddr: string;
  requestId: string;
  certUser: string | undefined;
}

/**
 * Wraps the app's listener with what every request needs: counting for heartbeats and
 * max_requests, the limits, the request id and the client behind a proxy, and a 500 instead of a
 * dead worker when the handler throws or its promise rejects (bare Node would crash on a
 * synchronous throw). A response is followed to its end only for what needs its end: the access
 * log, metrics, post_request, and HTTP/2's count of requests in flight.
 */
export function requestPipeline(opts: PipelineOptions): RequestListener {
  const { listener, counters, log } = opts;
  const fail = (err: unknown, req: IncomingMessage, res: ServerResponse) => {
    log.error({ err, method: req.method, url: req.url }, 'request handler failed');
    if (!res.headersSent) {
      res.writeHead(500, plainText(isHttp2(req)));
      res.end('Internal Server Error\n');
    } else {
      res.destroy();
    }
  };
  const { accessLog, requestIdHeader, proxyRules, limits, scanner, requestHooks } = opts;
  const metrics = opts.metrics ?? null;
  // A function, not an arrow: `this` is the response whose 'close' it is.
  function onClose(this: ServerResponse & Tracked): void {
    const req = this.req;
    const state = this[TRACKED];
    if (!state) return;
    this[TRACKED] = undefined;
    requestHooks?.post(req, this);
    if (state.http2) counters.http2.unlink(state);
    if (metrics === null && !accessLog.enabled) return;
    // One clock read for both: the metrics and the access log show the same duration.
    const ms = performance.now() - state.started;
    const status = loggedStatus(this);
    metrics?.record(req.method, status, ms);
    if (accessLog.enabled) {
      accessLog.write({
        req,
        res: this,
        startMs: Date.now() - ms,
        durationUs: ms * 1000,
        bytes: bodyBytes(req, this),
        status,
        remoteAddr: state.remoteAddr,
        requestId: state.requestId,
        user: state.certUser,
      });
    }
  }
  return (req, res) => {
    counters.requests++;
    const http2 = isHttp2(req);
    // Followed to its end only for what needs the end (a clock read, a listener, an object).
    const follow = http2 || accessLog.enabled || metrics !== null || requestHooks !== null;
    const started = follow ? performance.now() : 0;
    // Read before anything is added: the limits count the fields the client sent.
    const head = http2 ? undefined : scanner.scan(req);
    // Honour the client's (or proxy's) request id, resolve the client through the proxy rules.
    const { requestId, madeId, remoteAddr, certUser } = identify(req, requestIdHeader, proxyRules, head, accessLog.enabled);
    if (follow) {
      const state: RequestState = { res, prev: null, next: null, started, http2, remoteAddr, requestId, certUser };
      (res as ServerResponse & Tracked)[TRACKED] = state;
      if (http2) counters.http2.link(state);
      res.on('close', onClose);
      // (Counting follows the access log: countHttp2Bodies does nothing while it is off.)
      if (http2) countHttp2Bodies(res);
    }
    // HTTP/2 has no Connection field (RFC 9113 8.2.2: Node drops it with a warning); GOAWAY closes.
    if (!http2 && (!opts.keepAlive || opts.isDraining())) res.setHeader('connection', 'close');
    const refusal = head ? limits.check(req, head) : limits.checkHttp2(req);
    if (refusal) {
      log.debug({ status: refusal.status, reason: refusal.reason, url: req.url }, 'request refused');
      res.writeHead(refusal.status, plainText(http2));
      res.end(`${refusal.reason}\n`);
      return;
    }
    // Only a chunked body has trailers; checked before the app sees the body end, declared or not.
    if (head?.transferEncoding !== undefined) {
      guardTrailers(req, (name) => log.debug({ trailer: name, url: req.url }, 'forbidden trailer; connection closed'));
    }
    // After the limits: they count the fields the client sent, not the id made here.
    if (madeId) {
      if (head?.requestIds === 0) req.rawHeaders.push(requestIdHeader, requestId);
      else setRawHeader(req, requestIdHeader, requestId);
    }
    opts.beforeApp();
    requestHooks?.pre(req);
    try {
      const out = listener(req, res);
      if (out !== null && typeof out === 'object' && typeof (out as Promise<unknown>).then === 'function') {
        (out as Promise<unknown>).then(undefined, (err: unknown) => fail(err, req, res));
      }
    } catch (err) {
      fail(err, req, res);
    }
    opts.onRequest(counters.requests);
  };
}
