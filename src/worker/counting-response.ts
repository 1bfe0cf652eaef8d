import { ServerResponse } from 'node:http';

/** A response whose body bytes are counted: see countBodies(). Absent until its first write() or end(). */
export interface CountedResponse {
  bodyBytes?: number;
}

type Encoding = BufferEncoding | undefined;

/** The body bytes one write() or end() adds: a string in its encoding, or a buffer's length. */
function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as Encoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
type End = (chunk?: unknown, encoding?: unknown, cb?: unknown) => unknown;
interface Countable {
  write: Write;
  end: End;
}

// Fixed arity, no rest parameters: a rest array and a spread call per write were measurable on
// the request path. Node's write() and end() take (chunk, encoding, callback) and read missing
// ones as undefined, so passing undefined is the same call.
function countingWriteOf(write: Write): Write {
  return function countingWrite(this: CountedResponse, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    this.bodyBytes = (this.bodyBytes ?? 0) + byteLength(chunk, encoding);
    return write.call(this, chunk, encoding, cb);
  };
}

function countingEndOf(end: End): End {
  return function countingEnd(this: CountedResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): unknown {
    if (typeof chunk !== 'function') this.bodyBytes = (this.bodyBytes ?? 0) + byteLength(chunk, encoding);
    return end.call(this, chunk, encoding, cb);
  };
}

/** A prototype's write (and end) as Node has them, and as they count. */
interface Patch {
  proto: Countable;
  own: { write?: PropertyDescriptor; end?: PropertyDescriptor };
  counting: Partial<Countable>;
}

function patchOf(proto: Countable, names: readonly ('write' | 'end')[]): Patch {
  const own: Patch['own'] = {};
  const counting: Partial<Countable> = {};
  for (const name of names) {
    own[name] = Object.getOwnPropertyDescriptor(proto, name);
    if (name === 'write') counting.write = countingWriteOf(proto.write);
    else counting.end = countingEndOf(proto.end);
  }
  return { proto, own, counting };
}

function apply(patch: Patch, on: boolean): void {
  for (const name of ['write', 'end'] as const) {
    const fn = patch.counting[name];
    if (fn === undefined) continue;
    const own = patch.own[name];
    if (on) Object.defineProperty(patch.proto, name, { value: fn, writable: true, configurable: true, enumerable: false });
    else if (own) Object.defineProperty(patch.proto, name, own);
    // ServerResponse inherits write() and end() from OutgoingMessage, which ClientRequest shares:
    // the counting ones shadow them on ServerResponse's prototype alone, and go again.
    else delete (patch.proto as Partial<Countable>)[name];
  }
}

/** Node's HTTP/1 end(chunk) does not go through write(): both count. */
const http1 = patchOf(ServerResponse.prototype as unknown as Countable, ['write', 'end']);
/** HTTP/2's end(chunk) does (Http2ServerResponse): write() alone counts. Made at the first HTTP/2 response. */
let http2: Patch | null = null;
let counting = false;

/**
 * Counts the body bytes the app writes, for the access log's %(B)s (the socket's byte count would
 * include headers and chunked framing), in `bodyBytes` on each response. On only while the access
 * log is on: off, a response is Node's own with nothing added per request.
 *
 * Why on the prototypes: write() and end() set on each response (three properties a request, new
 * hidden classes) and a ServerResponse subclass (500–1,150 instructions a request in callgrind,
 * with the log off too) both cost more. The counting functions run for any ServerResponse in the
 * worker, the app's own servers' too; a count nobody reads is harmless.
 */
export function countBodies(on: boolean): void {
  if (on === counting) return;
  counting = on;
  apply(http1, on);
  if (http2) apply(http2, on);
}

/**
 * An HTTP/2 response while counting: its prototype counts from now on. Taken from a response, as
 * importing node:http2 here would load it (~15 ms) in every worker.
 */
export function countHttp2Bodies(res: object): void {
  if (!counting || http2 !== null) return;
  const proto = Object.getPrototypeOf(res) as Countable;
  http2 = patchOf(proto, ['write']);
  // (This response counts too: its write() is looked up on the prototype when called.)
  apply(http2, true);
}
