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

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as Encoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

const { write, end } = ServerResponse.prototype;

CountingResponse.prototype.write = function countingWrite(this: CountingResponse, chunk: unknown, ...rest: unknown[]) {
  this.bodyBytes += byteLength(chunk, rest[0]);
  return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
} as typeof write;

CountingResponse.prototype.end = function countingEnd(this: CountingResponse, chunk?: unknown, ...rest: unknown[]) {
  if (typeof chunk !== 'function') this.bodyBytes += byteLength(chunk, rest[0]);
  return (end as (...args: unknown[]) => CountingResponse).call(this, chunk, ...rest);
} as CountingResponse['end'];
