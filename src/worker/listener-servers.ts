import type { Server as HttpServer, IncomingMessage, RequestListener } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { type ConnectionStep, installFront } from './connection-front.js';
import type { ConnectionTracker } from './connections.js';
import type { Http2Sessions } from './http2-sessions.js';
import { buildServer } from './servers.js';
import type { TlsMaterial } from './tls-context.js';

export interface ListenerServerOptions {
  settings: Settings;
  tls: TlsMaterial | null;
  /** The request pipeline: HTTP/1 and HTTP/2 requests alike. */
  listener: RequestListener;
  log: Logger;
  tracker: ConnectionTracker;
  sessions: Http2Sessions;
  /** The 'upgrade' listener when the app handles upgrades; without one Node serves them as requests. */
  upgrade: ((this: HttpServer, req: IncomingMessage, socket: Duplex, head: Buffer) => void) | null;
  modules: ServerModules;
}

/**
 * What serving the listeners needs beyond node:http, each imported only when the settings ask for
 * it: a worker's boot is on the path of every start and every rotation. Their load times here:
 * the PROXY protocol parser ~15 ms, node:http2 ~15 ms, node:https ~8 ms.
 */
export interface ServerModules {
  /** src/worker/proxy-protocol.ts when `proxy.protocol` is on. */
  proxy: typeof import('./proxy-protocol.js') | null;
  /** src/worker/http2-servers.ts when `worker_class` is http2. */
  http2: typeof import('./http2-servers.js') | null;
  /** node:https for HTTP/1 with TLS. */
  https: typeof import('node:https') | null;
}

export async function serverModules(settings: Settings, tls: boolean): Promise<ServerModules> {
  const http2 = settings.worker_class === 'http2';
  const [proxy, http2Servers, https] = await Promise.all([
    settings.proxy.protocol ? import('./proxy-protocol.js') : null,
    http2 ? import('./http2-servers.js') : null,
    tls && !http2 ? import('node:https') : null,
  ]);
  return { proxy, http2: http2Servers, https };
}

/**
 * Everything that serves one inherited listener, for `worker_class` and `tls`:
 * - http: an http.Server, or an https.Server with TLS;
 * - http2 with TLS: one HTTP/2 server that falls back to HTTP/1.1 by ALPN;
 * - http2 without TLS: the http.Server, with an h2c server behind it that takes the connections
 *   starting with the HTTP/2 preface.
 * With `proxy.protocol`, the PROXY header is read first. The returned server is the one that
 * listens (and takes round-robin connections); connections that become HTTP/2 sessions leave the
 * HTTP/1 tracker for `sessions`.
 */
export function buildListenerServer(opts: ListenerServerOptions): HttpServer {
  const { settings, tls, listener, log, tracker, sessions } = opts;
  const { proxy, http2, https } = opts.modules;
  const steps: ConnectionStep[] = [];
  if (proxy) steps.push(proxy.proxyHeaderStep(settings, log));
  let server: HttpServer;
  if (http2 && tls) {
    const secure = http2.buildSecureHttp2Server(settings, tls, listener);
    // Node's own test (lib/internal/http2/core.js): anything but no ALPN or http/1.1 is a session.
    secure.prependListener('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol !== false && socket.alpnProtocol !== 'http/1.1') tracker.forget(socket);
    });
    secure.on('session', (session) => sessions.add(session));
    server = secure as unknown as HttpServer;
  } else {
    server = buildServer(settings, listener, tls && https ? { tls, createServer: https.createServer } : null);
    if (http2) {
      const h2c = http2.buildH2cServer(settings, listener);
      h2c.on('session', (session) => sessions.add(session));
      steps.push(http2.h2cSniffStep(h2c, settings, log, (socket) => tracker.forget(socket)));
    }
  }
  if (opts.upgrade) server.on('upgrade', opts.upgrade);
  tracker.watch(server, tls !== null);
  installFront(server, steps, (socket) => tracker.enterFront(socket));
  if (tls && proxy) proxy.carryDeclaredPeer(server);
  return server;
}
