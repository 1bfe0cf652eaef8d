import type { IncomingHttpHeaders } from 'node:http';
import { cutJson, cutLine, cutText, jsonSize, MARK, shareBudget, textSize } from './line-fit.js';

/** What the formatter reads of a request: an IncomingMessage, or what is known of one Node's parser refused. */
export interface RequestView {
  method?: string | undefined;
  url?: string | undefined;
  httpVersion?: string | undefined;
  headers: IncomingHttpHeaders;
}

/** What the formatter reads of a response (`%({header}o)s`). */
export interface ResponseView {
  getHeader(name: string): number | string | string[] | undefined;
  /** The head as sent (Node's ServerResponse keeps it): headers given to writeHead() are only there. */
  _header?: string | null;
}

/** What one access log line is made from; the formatter reads the rest from req and res. */
export interface AccessRecord {
  req: RequestView;
  res: ResponseView;
  /** When the request arrived (ms since the epoch). */
  startMs: number;
  /** Request duration in microseconds. */
  durationUs: number;
  /** Response body bytes sent (0 for HEAD, 204, 304). */
  bytes: number;
  /** Status as logged: the response's, or 499 when the client went away before it was sent. */
  status: number;
  remoteAddr: string;
  /** null for a request refused before it had one (a parse error). */
  requestId: string | null;
  /** A refused request line that does not split into method, target and version: as received. */
  requestLine?: string;
  /** CN of the verified mTLS client certificate: %(u)s when there is no Basic auth user. */
  user?: string;
}

/**
 * Formats one line (no newline). With `maxBytes` (a pipe: PIPE_BUF less the newline), the
 * fields the client or app supplied are shortened so that the line fits (line-fit.ts).
 */
export type AccessFormatter = (record: AccessRecord, maxBytes?: number) => string;

export class AccessFormatError extends Error {}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

let clfSecond = -1;
let clfText = '';
/** `[10/Oct/2000:13:55:36 -0700]`, local time as Apache writes it; computed once a second. */
export function clfTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === clfSecond) return clfText;
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  clfText = `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}]`;
  clfSecond = second;
  return clfText;
}

let isoMs = Number.NaN;
let isoText = '';
/** `2026-11-25T12:30:05.123Z`, as toISOString() writes it; made once a millisecond (~470 ns each). */
export function isoTime(ms: number): string {
  const whole = Math.floor(ms);
  if (whole !== isoMs) {
    isoText = new Date(whole).toISOString();
    isoMs = whole;
  }
  return isoText;
}

/**
 * Escapes a value for a text log line the way Apache and nginx do: `"` and `\` are
 * backslash-escaped, control bytes and bytes above 0x7e become `\xHH`. Node hands header values
 * and the URL over as latin1 strings, so each char is one byte of what the client sent: nothing
 * a client sends can break a line or forge a field.
 */
export function escapeLogText(value: string): string {
  let safe = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
      safe = false;
      break;
    }
  }
  if (safe) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20 || c > 0x7e) out += `\\x${(c & 0xff).toString(16).padStart(2, '0')}`;
    else out += value[i];
  }
  return out;
}

/** Node gives the URL and header values as latin1 (one char per byte); JSON wants the UTF-8 the client meant. */
function utf8(value: string): string {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return Buffer.from(value, 'latin1').toString('utf8');
  return value;
}

const join = (value: number | string | string[] | undefined) =>
  value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value);
/** A header's value, or undefined when absent or empty (written `-`). */
export const reqHeader = (req: RequestView, name: string) => join(req.headers[name]) || undefined;
// The two every combined line reads, as named loads: reqHeader's one keyed load, given two names
// a request, goes megamorphic (V8's generic lookup, measured in callgrind). Node keeps one of each.
export const referer = (req: RequestView) => join(req.headers.referer) || undefined;
export const userAgent = (req: RequestView) => join(req.headers['user-agent']) || undefined;
const resHeader = (res: ResponseView, name: string) =>
  join(res.getHeader(name)) || (typeof res._header === 'string' ? sentHeader(res._header, name) : undefined);

/** A header from the head as sent: writeHead(status, {…}) with nothing set before skips getHeader() (Node's fast path). */
function sentHeader(head: string, name: string): string | undefined {
  const values: string[] = [];
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.length > name.length && line.slice(0, colon).toLowerCase() === name) values.push(line.slice(colon + 1).trim());
  }
  return values.join(', ') || undefined;
}

const splitUrl = (url = '') => {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
};
export const protocol = (req: RequestView) => (req.httpVersion ? `HTTP/${req.httpVersion}` : '-');
/** The URL, when the request line was understood. */
export const knownUrl = (r: AccessRecord) => (r.requestLine === undefined && r.req.method !== undefined ? (r.req.url ?? '') : undefined);

/** The user of HTTP Basic auth, as Gunicorn's %(u)s; undefined (`-`) otherwise. */
export function basicUser(req: RequestView): string | undefined {
  const auth = req.headers.authorization;
  if (!auth || !/^basic /i.test(auth)) return undefined;
  const decoded = Buffer.from(auth.slice(6), 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  return (colon < 0 ? decoded : decoded.slice(0, colon)) || undefined;
}

export type Fixed = (r: AccessRecord) => string;
/** A value the client or app supplied, raw (latin1); undefined is written `-`. Escaped, and shortened to fit a pipe. */
export type Supplied = (r: AccessRecord) => string | undefined;
/** `literal` marks text of the format itself (written as is); other fixed parts are computed per line. */
export type Part = { fixed: Fixed; literal?: string } | { supplied: Supplied };

const fixed = (fn: Fixed): Part => ({ fixed: fn });
const supplied = (fn: Supplied): Part => ({ supplied: fn });
const literal = (text: string): Part => ({ fixed: () => text, literal: text });

/** `%(r)s` is three parts: only the target is shortened; a refused, unsplittable line is one supplied value. */
const requestLine: Part[] = [
  fixed((r) => (knownUrl(r) === undefined ? '' : `${escapeLogText(r.req.method ?? '-')} `)),
  supplied((r) => r.requestLine ?? knownUrl(r)),
  fixed((r) => (knownUrl(r) === undefined ? '' : ` ${protocol(r.req)}`)),
];

/** Gunicorn's access log atoms, with their meaning in Gunicorn's docs. */
const ATOMS: Record<string, Part[]> = {
  h: [fixed((r) => r.remoteAddr)],
  l: [literal('-')],
  // With no Basic auth user, the verified client certificate's CN (Apache's SSLUserName).
  u: [supplied((r) => basicUser(r.req) ?? r.user)],
  t: [fixed((r) => clfTime(r.startMs))],
  r: requestLine,
  m: [fixed((r) => escapeLogText(r.req.method ?? '-'))],
  U: [supplied((r) => (knownUrl(r) === undefined ? undefined : splitUrl(knownUrl(r)).path))],
  q: [supplied((r) => (knownUrl(r) === undefined ? undefined : splitUrl(knownUrl(r)).query))],
  H: [fixed((r) => protocol(r.req))],
  s: [fixed((r) => String(r.status))],
  B: [fixed((r) => String(r.bytes))],
  b: [fixed((r) => (r.bytes > 0 ? String(r.bytes) : '-'))],
  f: [supplied((r) => referer(r.req))],
  a: [supplied((r) => userAgent(r.req))],
  T: [fixed((r) => String(Math.floor(r.durationUs / 1e6)))],
  D: [fixed((r) => String(Math.round(r.durationUs)))],
  M: [fixed((r) => String(Math.round(r.durationUs / 1000)))],
  L: [fixed((r) => (r.durationUs / 1e6).toFixed(6))],
  p: [literal(`<${process.pid}>`)],
};

const PRESETS: Record<string, string> = {
  common: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s',
  combined: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
};

/** A supplied value as a text log writes it: escaped, `-` when missing. */
const shown = (value: string | undefined) => (value === undefined ? '-' : escapeLogText(value));

/** The text a part writes: supplied values escaped, a missing one `-`. */
function render(part: Part): Fixed {
  if ('fixed' in part) return part.fixed;
  const get = part.supplied;
  return (r) => shown(get(r));
}

/** A text line over `limit` bytes: the supplied values share what the fixed parts leave. */
function fitText(parts: readonly Part[], r: AccessRecord, limit: number): string {
  const pieces: string[] = [];
  const values: { at: number; raw: string; size: number }[] = [];
  let used = 0;
  for (const part of parts) {
    const raw = 'fixed' in part ? undefined : part.supplied(r);
    if (raw === undefined) {
      const text = 'fixed' in part ? part.fixed(r) : '-';
      pieces.push(text);
      used += Buffer.byteLength(text);
    } else {
      values.push({ at: pieces.length, raw, size: textSize(raw) });
      pieces.push('');
    }
  }
  const caps = shareBudget(
    values.map((v) => v.size),
    limit - used,
  );
  for (const [i, { at, raw, size }] of values.entries()) {
    const cap = caps[i] ?? 0;
    pieces[at] = size <= cap ? escapeLogText(raw) : escapeLogText(cutText(raw, cap)) + MARK;
  }
  const line = pieces.join('');
  return Buffer.byteLength(line) <= limit ? line : cutLine(line, limit);
}

/** Fits when even 3 bytes a UTF-16 unit (the most UTF-8 takes) is within the limit, or when measured. */
const fits = (line: string, limit: number) => line.length * 3 <= limit || Buffer.byteLength(line) <= limit;

/** The JSON fields the client supplied: what is shortened to fit a pipe. */
const JSON_SUPPLIED = ['path', 'query', 'referer', 'user_agent', 'request'] as const;
const TRUNCATED = ',"truncated":true';

function jsonRecord(r: AccessRecord): Record<string, string | number | boolean | null> {
  const url = knownUrl(r);
  const { path, query } = splitUrl(url);
  const referrer = referer(r.req);
  const agent = userAgent(r.req);
  const fields: Record<string, string | number | boolean | null> = {
    time: isoTime(r.startMs),
    remote_addr: r.remoteAddr,
    method: r.req.method ?? null,
    path: url === undefined ? null : utf8(path),
    query: url === undefined ? null : utf8(query),
    protocol: r.req.httpVersion ? protocol(r.req) : null,
    status: r.status,
    bytes: r.bytes,
    duration_ms: Math.round(r.durationUs) / 1000,
    referer: referrer === undefined ? null : utf8(referrer),
    user_agent: agent === undefined ? null : utf8(agent),
    request_id: r.requestId,
  };
  if (r.requestLine !== undefined) fields.request = utf8(r.requestLine);
  return fields;
}

function jsonFormatter(r: AccessRecord, maxBytes = Number.POSITIVE_INFINITY): string {
  const fields = jsonRecord(r);
  const line = JSON.stringify(fields);
  if (fits(line, maxBytes)) return line;
  // Shortened: the supplied strings share what the rest leaves, and `truncated: true` says so.
  const keys = JSON_SUPPLIED.filter((k) => typeof fields[k] === 'string');
  const sizes = keys.map((k) => jsonSize(fields[k] as string));
  const rest = Buffer.byteLength(line) - sizes.reduce((a, b) => a + b, 0) + TRUNCATED.length;
  const caps = shareBudget(sizes, maxBytes - rest);
  for (const [i, key] of keys.entries()) {
    const cap = caps[i] ?? 0;
    if ((sizes[i] ?? 0) > cap) fields[key] = cutJson(fields[key] as string, cap) + MARK;
  }
  fields.truncated = true;
  const fitted = JSON.stringify(fields);
  if (Buffer.byteLength(fitted) <= maxBytes) return fitted;
  for (const key of keys) fields[key] = MARK;
  return JSON.stringify(fields);
}

const malformed = (text: string) =>
  new AccessFormatError(`malformed atom near ${JSON.stringify(text.slice(text.indexOf('%(')))}; atoms look like %(h)s or %({header}i)s`);

/**
 * Compiles `log.access_format` once into a function: `combined`, `common`, `json`, or a string
 * of Gunicorn atoms (`%(h)s`, `%({x-forwarded-for}i)s`, `%({content-type}o)s`, `%({HOME}e)s`,
 * `%%` for a `%`). Throws AccessFormatError naming the first unknown atom.
 */
export function compileAccessFormat(format: string): AccessFormatter {
  if (format === 'json') return jsonFormatter;
  // The access log writes text lines with compileAccessBytes (access-bytes.ts); a line is made as
  // a string here only to be shortened for a pipe, or for a file when it exceeds the writer's chunk.
  const parts = parseAccessFormat(format);
  const texts = parts.map(render);
  return (r, maxBytes = Number.POSITIVE_INFINITY) => {
    let line = '';
    for (let i = 0; i < texts.length; i++) line += (texts[i] as Fixed)(r);
    return fits(line, maxBytes) ? line : fitText(parts, r, maxBytes);
  };
}

/** A text format (a preset's name, or atoms) as its parts; throws AccessFormatError. Not for `json`. */
export function parseAccessFormat(format: string): Part[] {
  // Own names only: a format that is literally `toString` is text, not Object.prototype's.
  const text = Object.hasOwn(PRESETS, format) ? (PRESETS[format] as string) : format;
  const parts: Part[] = [];
  const token = /%%|%\((\{([^}]*)\}([ieo])|[A-Za-z])\)s/g;
  let last = 0;
  for (let m = token.exec(text); m; m = token.exec(text)) {
    const before = text.slice(last, m.index);
    if (before.includes('%(')) throw malformed(before);
    if (before) parts.push(literal(before));
    last = token.lastIndex;
    const [whole, atom = '', name, kind] = m;
    if (whole === '%%') parts.push(literal('%'));
    else if (name !== undefined && kind) {
      const key = name.toLowerCase();
      if (kind === 'i') parts.push(supplied((r) => reqHeader(r.req, key)));
      else if (kind === 'o') parts.push(supplied((r) => resHeader(r.res, key)));
      else {
        // Environment atoms are fixed for the life of the worker: read once.
        const value = process.env[name] ? escapeLogText(process.env[name]) : '-';
        parts.push(literal(value));
      }
    } else {
      const atomParts = ATOMS[atom];
      if (!atomParts)
        throw new AccessFormatError(`unknown atom %(${atom})s; known: ${Object.keys(ATOMS).join(' ')}, {header}i, {header}o, {var}e, %%`);
      parts.push(...atomParts);
    }
  }
  const tail = text.slice(last);
  if (tail.includes('%(')) throw malformed(tail);
  if (tail) parts.push(literal(tail));
  if (parts.length === 0) throw new AccessFormatError('the format is empty');
  return parts;
}
