import {
  type AccessRecord,
  basicUser,
  clfTime,
  type Fixed,
  knownUrl,
  type Part,
  parseAccessFormat,
  protocol,
  referer,
  type Supplied,
  userAgent,
} from './access-format.js';
import { jsonBytes } from './access-json-bytes.js';
import { BACKSLASH, clockBytes, copyBytes, digits, type Escapes, escapeInto, plain, QUOTE } from './byte-text.js';

/**
 * Writes one access log line (with its newline) into `buf` from `at` and returns where it ends.
 * An end past `buf.length` means the line did not fit: the bytes past the end were not written
 * (a typed array drops them), and the caller writes the line again into a fresh buffer. A
 * negative end (json only, see access-json-bytes.ts): the line is for the string formatter.
 */
export type ByteFormatter = (r: AccessRecord, buf: Buffer, at: number) => number;

/**
 * `log.access_format` (`common`, `combined`, atoms, or `json`: access-json-bytes.ts) written
 * straight into the access log's buffer, byte for byte what access-format.ts's strings encode to
 * in UTF-8 (unit tests hold them to it).
 *
 * Why: with a string per line, a `combined` line was ~20 joined pieces (StringAdd), which the
 * writer then flattened (Array.join) and encoded (Buffer.from): ~290 of the ~540 ns a line cost
 * in a microbenchmark, and young-generation garbage. Here each value is copied char by char as it
 * is escaped, and nothing is allocated per line but the numbers' digits.
 *
 * Not for a pipe's over-long line: that goes through the string formatter, which can shorten
 * fields to fit PIPE_BUF.
 */
export function compileAccessBytes(format: string): ByteFormatter {
  if (format === 'json') return jsonBytes;
  if (format === 'combined') return combinedBytes;
  if (format === 'common') return commonBytes;
  const writers = parseAccessFormat(format).map(partWriter);
  return (r, buf, at) => {
    let p = at;
    for (let i = 0; i < writers.length; i++) p = (writers[i] as PartWriter)(r, buf, p);
    buf[p] = NEWLINE;
    return p + 1;
  };
}

type PartWriter = (r: AccessRecord, buf: Buffer, at: number) => number;

const NEWLINE = 0x0a;
const SPACE = 0x20;
const DASH = 0x2d;
const HTTP_SLASH = Buffer.from('HTTP/');

function partWriter(part: Part): PartWriter {
  if ('supplied' in part) {
    const get: Supplied = part.supplied;
    return (r, buf, at) => shown(buf, at, get(r));
  }
  if (part.literal !== undefined) {
    // The format's own text, any Unicode: encoded once.
    const bytes = Buffer.from(part.literal);
    return (_r, buf, at) => copyBytes(buf, at, bytes);
  }
  const get: Fixed = part.fixed;
  return (r, buf, at) => plain(buf, at, get(r));
}

/** escapeLogText's escapes: `\"`, `\\`, and `\xHH` for control bytes, DEL and a char's low byte from 0x80. */
const hexEscape = (b: number) => Buffer.from(`\\x${b.toString(16).padStart(2, '0')}`, 'latin1');
const TEXT_ASCII: Escapes = Array.from({ length: 0x80 }, (_, c) =>
  c < 0x20 || c === 0x7f ? hexEscape(c) : c === QUOTE || c === BACKSLASH ? Buffer.from([BACKSLASH, c]) : undefined,
);
const TEXT_HIGH = Array.from({ length: 0x100 }, (_, b) => hexEscape(b));
/** Any char escapeLogText escapes. */
const UNSAFE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;
/** From this length a value with nothing to escape is copied by Buffer's write (a call into C++, then memcpy). */
const BULK = 24;

/** A value the client or app supplied, as escapeLogText escapes it: `\"`, `\\`, `\xHH`. */
function escaped(buf: Buffer, at: number, text: string): number {
  if (text.length >= BULK && !UNSAFE.test(text)) {
    // Past the buffer's end: report the end the whole value would have had (write() would throw).
    if (at + text.length > buf.length) return at + text.length;
    return at + buf.write(text, at, 'latin1');
  }
  return escapeInto(buf, at, text, TEXT_ASCII, TEXT_HIGH);
}

/** A supplied value, or `-` when there is none. */
function shown(buf: Buffer, at: number, text: string | undefined): number {
  if (text === undefined) {
    buf[at] = DASH;
    return at + 1;
  }
  return escaped(buf, at, text);
}

/** The time as bytes, made once a second: a copy from bytes is cheaper than from a joined string. */
const clfBytes = clockBytes(clfTime);

/** `%(r)s`: method, target and protocol, or a refused line as received (`-` if none). */
function requestBytes(r: AccessRecord, buf: Buffer, at: number): number {
  const url = knownUrl(r);
  if (url === undefined) return shown(buf, at, r.requestLine);
  let p = escaped(buf, at, r.req.method ?? '-');
  buf[p++] = SPACE;
  p = escaped(buf, p, url);
  buf[p++] = SPACE;
  const version = r.req.httpVersion;
  // protocol(r.req), without making its string.
  if (!version) return plain(buf, p, protocol(r.req));
  p = copyBytes(buf, p, HTTP_SLASH);
  return plain(buf, p, version);
}

/** `%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s`, without the newline. */
function commonPart(r: AccessRecord, buf: Buffer, at: number): number {
  let p = plain(buf, at, r.remoteAddr);
  buf[p++] = SPACE;
  buf[p++] = DASH;
  buf[p++] = SPACE;
  p = shown(buf, p, basicUser(r.req) ?? r.user);
  buf[p++] = SPACE;
  p = copyBytes(buf, p, clfBytes(r.startMs));
  buf[p++] = SPACE;
  buf[p++] = QUOTE;
  p = requestBytes(r, buf, p);
  buf[p++] = QUOTE;
  buf[p++] = SPACE;
  p = digits(buf, p, r.status);
  buf[p++] = SPACE;
  if (r.bytes > 0) return digits(buf, p, r.bytes);
  buf[p++] = DASH;
  return p;
}

function commonBytes(r: AccessRecord, buf: Buffer, at: number): number {
  const p = commonPart(r, buf, at);
  buf[p] = NEWLINE;
  return p + 1;
}

function combinedBytes(r: AccessRecord, buf: Buffer, at: number): number {
  let p = commonPart(r, buf, at);
  buf[p++] = SPACE;
  buf[p++] = QUOTE;
  p = shown(buf, p, referer(r.req));
  buf[p++] = QUOTE;
  buf[p++] = SPACE;
  buf[p++] = QUOTE;
  p = shown(buf, p, userAgent(r.req));
  buf[p++] = QUOTE;
  buf[p] = NEWLINE;
  return p + 1;
}
