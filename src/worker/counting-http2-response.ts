import { Http2ServerResponse } from 'node:http2';
import { byteLength } from './counting-response.js';

/**
 * The access log's body count for HTTP/2 responses (countBody() in counting-response.ts does it for
 * HTTP/1), always on: HTTP/2 needs this class anyway. Http2ServerResponse's end(chunk) goes through
 * write(), so only write() counts. Connection-specific fields are forbidden in HTTP/2 (RFC 9113 8.2.2) and Node
 * drops them with a process warning: the pipeline sets `Connection: close` on any response while
 * the worker drains (or with keepalive 0), so this class drops it quietly instead (GOAWAY is how
 * HTTP/2 closes).
 */
export class CountingHttp2Response extends Http2ServerResponse {
  bodyBytes = 0;
}

const h2 = Http2ServerResponse.prototype;
/** `connection` in any case; the length test spares a lower-cased copy of every other name. */
const isConnection = (name: unknown) => typeof name === 'string' && name.length === 10 && name.toLowerCase() === 'connection';

/** The headers given to writeHead(), without `connection`: the same object when it has none (nearly always). */
function withoutConnection(headers: unknown): unknown {
  if (headers === null || typeof headers !== 'object') return headers;
  if (Array.isArray(headers)) {
    if (headers.every((entry) => Array.isArray(entry))) return headers.filter((entry: unknown[]) => !isConnection(entry[0]));
    const out: unknown[] = [];
    for (let i = 0; i < headers.length; i += 2) if (!isConnection(headers[i])) out.push(headers[i], headers[i + 1]);
    return out;
  }
  for (const name in headers) {
    if (isConnection(name)) return Object.fromEntries(Object.entries(headers).filter(([key]) => !isConnection(key)));
  }
  return headers;
}

CountingHttp2Response.prototype.write = function countingWrite(
  this: CountingHttp2Response,
  chunk: unknown,
  encoding?: unknown,
  cb?: unknown,
) {
  this.bodyBytes += byteLength(chunk, encoding);
  return (h2.write as (...args: unknown[]) => boolean).call(this, chunk, encoding, cb);
} as CountingHttp2Response['write'];

CountingHttp2Response.prototype.setHeader = function quietSetHeader(this: CountingHttp2Response, name: string, value: unknown) {
  if (isConnection(name)) return this;
  return (h2.setHeader as (...args: unknown[]) => CountingHttp2Response).call(this, name, value);
} as CountingHttp2Response['setHeader'];

// Fixed arity: Node's writeHead(statusCode, statusMessage, headers) reads a missing one as undefined.
CountingHttp2Response.prototype.writeHead = function quietWriteHead(
  this: CountingHttp2Response,
  status: number,
  message?: unknown,
  headers?: unknown,
) {
  const writeHead = h2.writeHead as (...args: unknown[]) => CountingHttp2Response;
  return writeHead.call(this, status, withoutConnection(message), withoutConnection(headers));
} as CountingHttp2Response['writeHead'];
