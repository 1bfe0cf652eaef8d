import type { RequestListener } from 'node:http';
import { createSecureServer, createServer, type Http2SecureServer, type Http2Server } from 'node:http2';
import type { Socket } from 'node:net';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import type { ConnectionStep } from './connection-front.js';
import { readPrefix } from './connection-front.js';
import { http1Options } from './servers.js';
import type { TlsMaterial } from './tls-context.js';

/** The client connection preface (RFC 9113 3.4): what an h2c prior-knowledge client sends first. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function http2Options(settings: Settings) {
  return {
    // Node advertises no limit (2^32-1) by default; a bound per connection keeps one client from
    // holding a worker's memory with streams (nginx uses 128 too).
    settings: { maxConcurrentStreams: 128 },
    // Above nghttp2's own cap the stream is reset; below it, request-limits answers 431.
    maxHeaderListPairs: Math.max(128, settings.limit_request_fields + 16),
  };
}

/**
 * `worker_class: http2` with TLS: HTTP/2 when the client's ALPN offers h2, HTTP/1.1 otherwise,
 * on the same port. The same listener serves both (Node's compat request and response).
 */
export function buildSecureHttp2Server(settings: Settings, tls: TlsMaterial, listener: RequestListener): Http2SecureServer {
  const h1 = http1Options(settings);
  const server = createSecureServer({ ...tls.options, ...http2Options(settings), allowHTTP1: true }, listener as never);
  // The HTTP/1.1 fallback is Node's http connection handling running on this server: it reads its
  // timeouts from these properties, which createSecureServer has no options for.
  Object.assign(server, {
    keepAliveTimeout: h1.keepAliveTimeout,
    headersTimeout: h1.headersTimeout,
    requestTimeout: h1.requestTimeout,
    connectionsCheckingInterval: h1.connectionsCheckingInterval,
    insecureHTTPParser: h1.insecureHTTPParser,
    maxHeadersCount: settings.limit_request_fields,
  });
  server.maxConnections = settings.worker_connections;
  return server;
}

/**
 * `worker_class: http2` without TLS: the h2c server behind the HTTP/1 server. It never listens;
 * the preface sniff hands it the connections that start with the HTTP/2 preface.
 */
export function buildH2cServer(settings: Settings, listener: RequestListener): Http2Server {
  return createServer(http2Options(settings), listener as never);
}

/**
 * Tells h2c prior knowledge from HTTP/1 by the first bytes: a connection that starts with the
 * preface goes to `h2c`, any other to the HTTP/1 server. No HTTP/1 request line can start with
 * "PRI * HTTP/2.0" (RFC 9113 3.4 chose it for that), and the decision is taken at the first byte
 * that differs, so HTTP/1 clients wait for nothing. The bytes read are given back to whichever
 * server takes the connection.
 */
export function h2cSniffStep(h2c: Http2Server, settings: Settings, log: Logger, onHttp2: (socket: Socket) => void): ConnectionStep {
  const timeoutMs = settings.headers_timeout * 1000;
  return (socket, next) => {
    const peer = socket.remoteAddress;
    readPrefix(
      socket,
      timeoutMs,
      (buffered) => {
        const n = Math.min(buffered.length, PREFACE.length);
        const isHttp2 = buffered.subarray(0, n).equals(PREFACE.subarray(0, n));
        if (isHttp2 && buffered.length < PREFACE.length) return undefined;
        return { verdict: isHttp2, rest: buffered };
      },
      (isHttp2) => {
        if (!isHttp2) return next();
        onHttp2(socket);
        h2c.emit('connection', socket);
      },
      (reason) => log.debug({ peer, reason }, 'connection closed before its first request'),
    );
  };
}
