import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { resolve } from 'node:path';
import type { Settings } from '../config/settings.js';
import type { InheritedListener } from '../ipc/messages.js';
import { CountingResponse } from './counting-response.js';

function tlsOptions(settings: Settings, baseDir: string) {
  const { tls } = settings;
  if (!tls.certfile || !tls.keyfile) return null;
  const read = (path: string) => readFileSync(resolve(baseDir, path));
  return {
    cert: read(tls.certfile),
    key: read(tls.keyfile),
    ...(tls.ca_certs ? { ca: read(tls.ca_certs) } : {}),
    requestCert: tls.cert_reqs !== 'none',
    rejectUnauthorized: tls.cert_reqs === 'required',
    minVersion: tls.min_version,
    ciphers: tls.ciphers,
  };
}

/**
 * One HTTP(S) server for one inherited listener (a Node server listens on one handle), with the
 * timeouts and limits from the settings.
 */
export function buildServer(settings: Settings, baseDir: string, listener: RequestListener): HttpServer {
  const options = {
    ServerResponse: CountingResponse as unknown as typeof ServerResponse,
    keepAliveTimeout: settings.keepalive * 1000,
    headersTimeout: settings.headers_timeout * 1000,
    requestTimeout: settings.request_timeout * 1000,
    // Node checks headers_timeout and request_timeout only this often (30 s by default): a
    // slowloris crowd must be cut promptly.
    connectionsCheckingInterval: 1000,
  };
  const tls = tlsOptions(settings, baseDir);
  const server = tls ? createHttpsServer({ ...options, ...tls }, listener) : createHttpServer(options, listener);
  server.keepAliveTimeout = options.keepAliveTimeout;
  server.maxHeadersCount = settings.limit_request_fields;
  server.maxConnections = settings.worker_connections;
  return server;
}

/** Accepts on the inherited descriptor; resolves when listening, rejects with the system error. */
export function listenOnInherited(server: HttpServer, inherited: InheritedListener, backlog: number): Promise<void> {
  const { fd } = inherited;
  if (fd === null) return Promise.resolve();
  return new Promise((resolvePromise, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(inherited.address, err.code ?? 'UNKNOWN', err.message));
    server.once('error', onError);
    server.listen({ fd, backlog }, () => {
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
