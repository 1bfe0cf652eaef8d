import type { Server as HttpServer, IncomingMessage, RequestListener } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { type ConnectionStep, installFront } from './connection-front.js';
import type { ConnectionTracker } from './connections.js';
import { buildH2cServer, buildSecureHttp2Server, h2cSniffStep } from './http2-servers.js';
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
  /** src/worker/proxy-protocol.ts when `proxy.protocol` is on (imported only then: see proxyProtocol()). */
  proxy: ProxyProtocolModule | null;
}

type ProxyProtocolModule = typeof import('./proxy-protocol.js');

/**
 * The PROXY protocol reader when `proxy.protocol` is on, else null: its parser library takes
 * ~15 ms of a worker's boot, which a server without a load balancer speaking PROXY should not pay.
 */
export async function proxyProtocol(settings: Settings): Promise<ProxyProtocolModule | null> {
  return settings.proxy.protocol ? import('./proxy-protocol.js') : null;
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
  const { settings, tls, listener, log, tracker, sessions, proxy } = opts;
  const steps: ConnectionStep[] = [];
  if (proxy) steps.push(proxy.proxyHeaderStep(settings, log));
  let server: HttpServer;
  if (settings.worker_class === 'http2' && tls) {
    const secure = buildSecureHttp2Server(settings, tls, listener);
    // Node's own test (lib/internal/http2/core.js): anything but no ALPN or http/1.1 is a session.
    secure.prependListener('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol !== false && socket.alpnProtocol !== 'http/1.1') tracker.forget(socket);
    });
    secure.on('session', (session) => sessions.add(session));
    server = secure as unknown as HttpServer;
  } else {
    server = buildServer(settings, tls, listener);
    if (settings.worker_class === 'http2') {
      const h2c = buildH2cServer(settings, listener);
      h2c.on('session', (session) => sessions.add(session));
      steps.push(h2cSniffStep(h2c, settings, log, (socket) => tracker.forget(socket)));
    }
  }
  if (opts.upgrade) server.on('upgrade', opts.upgrade);
  installFront(server, steps);
  if (tls && proxy) proxy.carryDeclaredPeer(server);
  // After the front: the tracker sees each socket when accepted, before its PROXY header is read.
  tracker.watch(server);
  return server;
}
