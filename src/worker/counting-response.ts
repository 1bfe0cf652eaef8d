import { ServerResponse } from 'node:http';

/** A response whose body bytes are counted: see countBody(). */
export interface CountedResponse {
  bodyBytes?: number;
}

type Encoding = BufferEncoding | undefined;

/** The body bytes one write() or end() adds: a string in its encoding, or a buffer's length. */
export function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as Encoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

type Write = (...args: unknown[]) => boolean;
const { end } = ServerResponse.prototype;

// Fixed arity, no rest parameters: a rest array and a spread call per write were measurable on
// the request path. Node's write() and end() take (chunk, encoding, callback) and read missing
// ones as undefined, so passing undefined is the same call.
function countingWriteOf(write: Write) {
  return function countingWrite(this: ServerResponse & CountedResponse, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    this.bodyBytes = (this.bodyBytes ?? 0) + byteLength(chunk, encoding);
    return write.call(this, chunk, encoding, cb);
  };
}

const countingWrite = countingWriteOf(ServerResponse.prototype.write as Write);
/** Made from the first HTTP/2 response's prototype: importing node:http2 here would load it in every worker. */
let countingH2Write: ReturnType<typeof countingWriteOf> | undefined;

function countingEnd(this: ServerResponse & CountedResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse {
  if (typeof chunk !== 'function') this.bodyBytes = (this.bodyBytes ?? 0) + byteLength(chunk, encoding);
  return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, encoding, cb);
}

/**
 * Counts the body bytes the app writes, for the access log's %(B)s (the socket's byte count would
 * include headers and chunked framing). Node's HTTP/1 end(chunk) does not go through write(), so
 * both count; HTTP/2's end(chunk) does (Http2ServerResponse), so only write() does there. Installed
 * per response, and only while the access log is on: with it off a response is Node's own, with
 * nothing added per request (a ServerResponse subclass cost 500–1,150 instructions a request in
 * callgrind; an Http2ServerResponse subclass ~5 µs of CPU a stream). The functions are shared and
 * added in the same order every time, so counted responses share one hidden class.
 */
export function countBody(res: ServerResponse, http2: boolean): void {
  const counted = res as ServerResponse & CountedResponse;
  counted.bodyBytes = 0;
  if (http2) {
    countingH2Write ??= countingWriteOf((Object.getPrototypeOf(res) as { write: Write }).write);
    counted.write = countingH2Write as ServerResponse['write'];
    return;
  }
  counted.write = countingWrite as ServerResponse['write'];
  counted.end = countingEnd as ServerResponse['end'];
}
