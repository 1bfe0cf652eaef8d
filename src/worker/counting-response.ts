import { ServerResponse } from 'node:http';

/**
 * A ServerResponse that counts the body bytes the app writes, for the access log's %(B)s:
 * the socket's byte count would include headers and chunked framing. Counting happens in the
 * class (no per-request closures); Node's end(chunk) does not go through write(), so both count.
 */
export class CountingResponse extends ServerResponse {
  bodyBytes = 0;
}

type Encoding = BufferEncoding | undefined;

/** The body bytes one write() or end() adds: a string in its encoding, or a buffer's length. */
export function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as Encoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

const { write, end } = ServerResponse.prototype;

// Fixed arity, no rest parameters: a rest array and a spread call per write were measurable on
// the request path. Node's write() and end() take (chunk, encoding, callback) and read missing
// ones as undefined, so passing undefined is the same call.
CountingResponse.prototype.write = function countingWrite(this: CountingResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
  this.bodyBytes += byteLength(chunk, encoding);
  return (write as (...args: unknown[]) => boolean).call(this, chunk, encoding, cb);
} as typeof write;

CountingResponse.prototype.end = function countingEnd(this: CountingResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
  if (typeof chunk !== 'function') this.bodyBytes += byteLength(chunk, encoding);
  return (end as (...args: unknown[]) => CountingResponse).call(this, chunk, encoding, cb);
} as CountingResponse['end'];
