import { createServer as createHttpServer, type Server as HttpServer, type RequestListener } from 'node:http';
import type { createServer as createHttpsServer } from 'node:https';
import type { Settings } from '../config/settings.js';
import type { InheritedListener } from '../ipc/messages.js';
import type { TlsMaterial } from './tls-context.js';

/** The HTTP/1 timeouts from the settings, as http.Server options and properties. */
export function http1Options(settings: Settings) {
  return {
    keepAliveTimeout: settings.keepalive * 1000,
    headersTimeout: settings.headers_timeout * 1000,
    requestTimeout: settings.request_timeout * 1000,
    // Node checks headers_timeout and request_timeout only this often (30 s by default): a
    // slowloris crowd must be cut promptly.
    connectionsCheckingInterval: 500,
    // Never lenient, even when NODE_OPTIONS has --insecure-http-parser (workers inherit it): the
    // lenient parser lets CL + TE, obs-fold, bare LF and control bytes through (RFC 9112 smuggling).
    insecureHTTPParser: false,
  };
}

/** TLS for an HTTP/1 listener: the material, and node:https's createServer (imported only for TLS). */
export interface SecureServing {
  tls: TlsMaterial;
  createServer: typeof createHttpsServer;
}

/**
 * One HTTP(S) server for one inherited listener (a Node server listens on one handle), with the
 * timeouts and limits from the settings.
 */
export function buildServer(settings: Settings, listener: RequestListener, secure: SecureServing | null): HttpServer {
  const options = http1Options(settings);
  const server = secure
    ? secure.createServer({ ...options, ...secure.tls.options } as never, listener)
    : createHttpServer(options, listener);
  server.keepAliveTimeout = options.keepAliveTimeout;
  server.maxHeadersCount = settings.limit_request_fields;
  server.maxConnections = settings.worker_connections;
  return server;
}

/**
 * Accepts on the inherited descriptor; resolves when listening, rejects with the system error.
 * Under round-robin (no descriptor: the master accepts and hands connections over) the server
 * never listens, but it still emits 'listening', as a Node cluster worker's server does under
 * round-robin: that is where http.Server arms its connection list and the checks of
 * headers_timeout and request_timeout. Without it a slowloris client was never cut.
 */
export function listenOnInherited(server: HttpServer, inherited: InheritedListener, backlog: number): Promise<void> {
  const { fd } = inherited;
  if (fd === null) {
    server.emit('listening');
    return Promise.resolve();
  }
  return new Promise((resolvePromise, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(inherited.address, err.code ?? 'UNKNOWN', err.message));
    server.once('error', onError);
    // The backlog goes as an argument: Node 20 ignores `options.backlog` when listening on an fd.
    server.listen({ fd }, backlog, () => {
      server.off('error', onError);
      resolvePromise();
    });
  });
}

/** The inherited socket could not listen: the master bound it, but another server listens there. */
export class ListenError extends Error {
  constructor(
    readonly address: string,
    readonly code: string,
    message: string,
  ) {
    super(`${address}: ${message}`);
    this.name = 'ListenError';
  }
}
