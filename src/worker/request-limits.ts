import type { IncomingMessage } from 'node:http';
import type { Settings } from '../config/settings.js';
import type { HeadScan } from './request-head.js';

/** A request refused before the app sees it: the status to answer and why. */
export interface Refusal {
  status: 400 | 414 | 431 | 501 | 505;
  reason: string;
}

/**
 * Gunicorn's request limits with its names, and the RFC 9112 ambiguities Node 20's parser lets
 * through, checked before the app is called. Node already refuses CL+TE, bad chunk sizes,
 * obs-fold, bare LF and NUL bytes; it does not refuse two Host headers, two Content-Types, a
 * chunked body on HTTP/1.0, `GET *`, or `HTTP/2.0` as an HTTP/1 version, and its only size limit
 * is 16 KiB for the whole head.
 */
export class RequestLimits {
  private readonly line: number;
  private readonly fields: number;
  private readonly fieldSize: number;

  constructor(settings: Settings) {
    this.line = settings.limit_request_line;
    this.fields = settings.limit_request_fields;
    this.fieldSize = settings.limit_request_field_size;
  }

  /** An HTTP/1 request, from its request line and what HeadScanner read of its fields. */
  check(req: IncomingMessage, head: HeadScan): Refusal | null {
    // The numbers, not httpVersion: the parser builds that string per request, so each comparison
    // with it reads it character by character.
    const major = req.httpVersionMajor;
    const minor = req.httpVersionMinor;
    if (major !== 1 || (minor !== 1 && minor !== 0)) {
      if (major === 0 && minor === 9) return { status: 400, reason: 'HTTP/0.9 requests are not served' };
      return { status: 505, reason: `HTTP/${req.httpVersion} is not HTTP/1.x` };
    }
    const url = req.url ?? '';
    const method = req.method ?? '';
    // `METHOD SP target SP HTTP/x.y`: Gunicorn's limit_request_line counts the whole line.
    if (this.line > 0 && method.length + url.length + 10 > this.line) {
      return { status: 414, reason: `request line longer than limit_request_line (${this.line})` };
    }
    if (url === '*' && method !== 'OPTIONS') return { status: 400, reason: 'asterisk-form target is only for OPTIONS' };
    if (this.fields > 0 && head.fields > this.fields) {
      return { status: 431, reason: `more than limit_request_fields (${this.fields}) header fields` };
    }
    if (head.oversized !== undefined) {
      return { status: 431, reason: `header field ${head.oversized} longer than limit_request_field_size (${this.fieldSize})` };
    }
    if (head.duplicate !== undefined) return { status: 400, reason: `${head.duplicate} given twice` };
    const te = head.transferEncoding;
    if (te !== undefined) {
      if (minor === 0) return { status: 400, reason: 'Transfer-Encoding on an HTTP/1.0 request' };
      // Only chunked is understood (RFC 9112 6.1: 501 for a coding the server does not know).
      if (te.trim().toLowerCase() !== 'chunked') return { status: 501, reason: `Transfer-Encoding ${te} is not supported` };
    }
    return null;
  }

  /**
   * HTTP/2 frames its own messages: no version line, no Transfer-Encoding, no obs-fold, and
   * nghttp2 already refuses connection-specific fields and conflicting Content-Lengths (RFC 9113
   * 8.2). What still applies is the size of the target and of the fields, and `*` only for
   * OPTIONS. Pseudo-header fields (`:method`, `:path`, ...) are the request line, not fields.
   */
  checkHttp2(req: IncomingMessage): Refusal | null {
    const url = req.url ?? '';
    const method = req.method ?? '';
    if (this.line > 0 && method.length + url.length + 10 > this.line) {
      return { status: 414, reason: `request target longer than limit_request_line (${this.line})` };
    }
    if (url === '*' && method !== 'OPTIONS') return { status: 400, reason: 'asterisk-form target is only for OPTIONS' };
    const raw = req.rawHeaders;
    let fields = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] ?? '';
      if (name.startsWith(':')) continue;
      fields++;
      const value = raw[i + 1] ?? '';
      if (this.fieldSize > 0 && name.length + value.length + 2 > this.fieldSize) {
        return { status: 431, reason: `header field ${name} longer than limit_request_field_size (${this.fieldSize})` };
      }
    }
    if (this.fields > 0 && fields > this.fields) {
      return { status: 431, reason: `more than limit_request_fields (${this.fields}) header fields` };
    }
    return null;
  }
}

/** Fields that must never arrive in trailers (RFC 9110 6.5.1): framing, routing, auth. */
const FORBIDDEN_TRAILERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'content-type',
  'authorization',
  'trailer',
  'te',
  'connection',
]);

/** The first forbidden field in the request's trailers, lower-case; null when there is none. */
export function forbiddenTrailer(req: IncomingMessage): string | null {
  const raw = req.rawTrailers;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase();
    if (FORBIDDEN_TRAILERS.has(name)) return name;
  }
  return null;
}

/**
 * Trailers arrive after the app was called, with the end of a chunked body: Node's parser sets
 * req.trailers and then pushes the end. A forbidden trailer, announced in `Trailer` or not,
 * destroys the request and its connection at that push, so the app never sees the end of a body
 * that carried one (its 'end' never fires; an 'error' listener is told why).
 */
export function guardTrailers(req: IncomingMessage, onForbidden: (name: string) => void): void {
  const push = req.push;
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    const name = chunk === null ? forbiddenTrailer(this) : null;
    if (name === null) return push.call(this, chunk, encoding);
    onForbidden(name);
    this.socket.destroy();
    this.destroy(new Error(`forbidden trailer field ${name}`));
    return false;
  };
}
