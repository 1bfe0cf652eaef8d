import { type AccessRecord, isoTime, knownUrl, referer, userAgent } from './access-format.js';
import { BACKSLASH, clockBytes, copyBytes, DECLINED, digits, type Escapes, escapeInto, plain, QUOTE } from './byte-text.js';

/** JSON.stringify's escapes below 0x80: `\"`, `\\`, \b \t \n \f \r, and \u00xx for the other control chars (not DEL). */
const SHORT: Record<number, string> = { 8: 'b', 9: 't', 10: 'n', 12: 'f', 13: 'r' };
const JSON_ASCII: Escapes = Array.from({ length: 0x80 }, (_, c) => {
  if (c === QUOTE || c === BACKSLASH) return Buffer.from([BACKSLASH, c]);
  if (c >= 0x20) return undefined;
  return Buffer.from(`\\${SHORT[c] ?? `u00${c.toString(16).padStart(2, '0')}`}`, 'latin1');
});
const key = (text: string) => Buffer.from(text, 'latin1');
const NULL = key('null');
const K = {
  time: key('{"time":"'),
  remoteAddr: key('","remote_addr":'),
  method: key(',"method":'),
  path: key(',"path":'),
  query: key(',"query":'),
  protocol: key(',"protocol":"HTTP/'),
  noProtocol: key(',"protocol":null'),
  status: key(',"status":'),
  bytes: key(',"bytes":'),
  duration: key(',"duration_ms":'),
  referer: key(',"referer":'),
  agent: key(',"user_agent":'),
  requestId: key(',"request_id":'),
  request: key(',"request":'),
  end: key('}\n'),
};

const isoBytes = clockBytes(isoTime);

/**
 * `text.slice(from, to)` as a JSON string, escaped as JSON.stringify escapes it; DECLINED when it
 * holds a char above 0x7f (Node hands URLs and header values over as latin1: the string formatter
 * decodes them as the UTF-8 the client meant, and replaces what is not UTF-8).
 */
function jsonString(buf: Buffer, at: number, text: string, from = 0, to = text.length): number {
  buf[at] = QUOTE;
  const p = jsonChars(buf, at + 1, text, from, to);
  if (p < 0) return DECLINED;
  buf[p] = QUOTE;
  return p + 1;
}

/** The inside of jsonString(), without its quotes. */
function jsonChars(buf: Buffer, at: number, text: string, from = 0, to = text.length): number {
  return escapeInto(buf, at, text, JSON_ASCII, null, from, to);
}

/** A string, or null. */
function jsonValue(buf: Buffer, at: number, text: string | null | undefined): number {
  return text === null || text === undefined ? copyBytes(buf, at, NULL) : jsonString(buf, at, text);
}

/** A number as JSON.stringify writes it (null when not finite). */
function jsonNumber(buf: Buffer, at: number, n: number): number {
  if (Number.isSafeInteger(n) && n >= 0) return digits(buf, at, n);
  return Number.isFinite(n) ? plain(buf, at, String(n)) : copyBytes(buf, at, NULL);
}

/**
 * The `json` access log line, byte for byte what `JSON.stringify(jsonRecord(r))` and a newline
 * encode to (a unit test holds it to that): JSON.stringify of the record took ~800 of the ~950 ns
 * a line cost in a microbenchmark. A line with a non-ASCII value (rare: a URL or header with raw
 * UTF-8) returns DECLINED and is made by the string formatter.
 */
export function jsonBytes(r: AccessRecord, buf: Buffer, at: number): number {
  let p = copyBytes(buf, at, K.time);
  p = copyBytes(buf, p, isoBytes(r.startMs));
  p = copyBytes(buf, p, K.remoteAddr);
  p = jsonString(buf, p, r.remoteAddr);
  if (p < 0) return DECLINED;
  p = copyBytes(buf, p, K.method);
  p = jsonValue(buf, p, r.req.method);
  if (p < 0) return DECLINED;
  const url = knownUrl(r);
  p = copyBytes(buf, p, K.path);
  if (url === undefined) {
    p = copyBytes(buf, p, NULL);
    p = copyBytes(buf, p, K.query);
    p = copyBytes(buf, p, NULL);
  } else {
    const q = url.indexOf('?');
    p = jsonString(buf, p, url, 0, q < 0 ? url.length : q);
    if (p < 0) return DECLINED;
    p = copyBytes(buf, p, K.query);
    p = jsonString(buf, p, url, q < 0 ? url.length : q + 1);
    if (p < 0) return DECLINED;
  }
  const version = r.req.httpVersion;
  if (version) {
    p = jsonChars(buf, copyBytes(buf, p, K.protocol), version);
    if (p < 0) return DECLINED;
    buf[p++] = QUOTE;
  } else p = copyBytes(buf, p, K.noProtocol);
  p = copyBytes(buf, p, K.status);
  p = jsonNumber(buf, p, r.status);
  p = copyBytes(buf, p, K.bytes);
  p = jsonNumber(buf, p, r.bytes);
  p = copyBytes(buf, p, K.duration);
  p = jsonNumber(buf, p, Math.round(r.durationUs) / 1000);
  p = copyBytes(buf, p, K.referer);
  p = jsonValue(buf, p, referer(r.req));
  if (p < 0) return DECLINED;
  p = copyBytes(buf, p, K.agent);
  p = jsonValue(buf, p, userAgent(r.req));
  if (p < 0) return DECLINED;
  p = copyBytes(buf, p, K.requestId);
  p = jsonValue(buf, p, r.requestId);
  if (p < 0) return DECLINED;
  if (r.requestLine !== undefined) {
    p = copyBytes(buf, p, K.request);
    p = jsonString(buf, p, r.requestLine);
    if (p < 0) return DECLINED;
  }
  return copyBytes(buf, p, K.end);
}
