import type { IncomingMessage, ServerResponse } from 'node:http';

/** What one access log line is made from; the formatter reads the rest from req and res. */
export interface AccessRecord {
  req: IncomingMessage;
  res: ServerResponse;
  /** When the request arrived (ms since the epoch). */
  startMs: number;
  /** Request duration in microseconds. */
  durationUs: number;
  /** Response body bytes sent (0 for HEAD, 204, 304). */
  bytes: number;
  /** Status as logged: the response's, or 499 when the client went away before it was sent. */
  status: number;
  remoteAddr: string;
  requestId: string;
  /** CN of the verified mTLS client certificate: %(u)s when there is no Basic auth user. */
  user?: string;
}

export type AccessFormatter = (record: AccessRecord) => string;

export class AccessFormatError extends Error {}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

let clfSecond = -1;
let clfText = '';
/** `[10/Oct/2000:13:55:36 -0700]`, local time as Apache writes it; computed once a second. */
function clfTime(ms: number): string {
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

/** Node gives the URL as latin1 (one char per byte); JSON wants the UTF-8 the client meant. */
function utf8(value: string): string {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return Buffer.from(value, 'latin1').toString('utf8');
  return value;
}

function header(req: IncomingMessage | ServerResponse, name: string): string | undefined {
  const value = 'getHeader' in req ? req.getHeader(name) : req.headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

const dash = (v: string | undefined) => (v === undefined || v === '' ? '-' : escapeLogText(v));
const splitUrl = (url = '') => {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
};
const protocol = (req: IncomingMessage) => `HTTP/${req.httpVersion}`;

/** The user of HTTP Basic auth, as Gunicorn's %(u)s; `-` otherwise. */
function basicUser(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (!auth || !/^basic /i.test(auth)) return '-';
  const decoded = Buffer.from(auth.slice(6), 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  return dash(colon < 0 ? decoded : decoded.slice(0, colon));
}

type Part = (r: AccessRecord) => string;

/** Gunicorn's access log atoms, with their meaning in Gunicorn's docs. */
const ATOMS: Record<string, Part> = {
  h: (r) => r.remoteAddr,
  l: () => '-',
  // With no Basic auth user, the verified client certificate's CN (Apache's SSLUserName).
  u: (r) => {
    const user = basicUser(r.req);
    return user === '-' && r.user !== undefined ? dash(r.user) : user;
  },
  t: (r) => clfTime(r.startMs),
  r: (r) => `${escapeLogText(r.req.method ?? '-')} ${escapeLogText(r.req.url ?? '')} ${protocol(r.req)}`,
  m: (r) => escapeLogText(r.req.method ?? '-'),
  U: (r) => escapeLogText(splitUrl(r.req.url).path),
  q: (r) => escapeLogText(splitUrl(r.req.url).query),
  H: (r) => protocol(r.req),
  s: (r) => String(r.status),
  B: (r) => String(r.bytes),
  b: (r) => (r.bytes > 0 ? String(r.bytes) : '-'),
  f: (r) => dash(header(r.req, 'referer')),
  a: (r) => dash(header(r.req, 'user-agent')),
  T: (r) => String(Math.floor(r.durationUs / 1e6)),
  D: (r) => String(Math.round(r.durationUs)),
  M: (r) => String(Math.round(r.durationUs / 1000)),
  L: (r) => (r.durationUs / 1e6).toFixed(6),
  p: () => `<${process.pid}>`,
};

const PRESETS: Record<string, string> = {
  common: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s',
  combined: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
};

function jsonFormatter(r: AccessRecord): string {
  const { path, query } = splitUrl(r.req.url);
  return JSON.stringify({
    time: new Date(r.startMs).toISOString(),
    remote_addr: r.remoteAddr,
    method: r.req.method,
    path: utf8(path),
    query: utf8(query),
    protocol: protocol(r.req),
    status: r.status,
    bytes: r.bytes,
    duration_ms: Math.round(r.durationUs) / 1000,
    referer: header(r.req, 'referer') ?? null,
    user_agent: header(r.req, 'user-agent') ?? null,
    request_id: r.requestId,
  });
}

/**
 * Compiles `log.access_format` once into a function: `combined`, `common`, `json`, or a string
 * of Gunicorn atoms (`%(h)s`, `%({x-forwarded-for}i)s`, `%({content-type}o)s`, `%({HOME}e)s`).
 * Throws AccessFormatError naming the first unknown atom.
 */
export function compileAccessFormat(format: string): AccessFormatter {
  if (format === 'json') return jsonFormatter;
  const text = PRESETS[format] ?? format;
  const parts: Part[] = [];
  const atom = /%\((\{([^}]*)\}([ieo])|[A-Za-z])\)s/g;
  let last = 0;
  for (let m = atom.exec(text); m; m = atom.exec(text)) {
    const literal = text.slice(last, m.index);
    if (literal.includes('%('))
      throw new AccessFormatError(
        `malformed atom near ${JSON.stringify(literal.slice(literal.indexOf('%(')))}; atoms look like %(h)s or %({header}i)s`,
      );
    if (literal) parts.push(() => literal);
    last = atom.lastIndex;
    const [, whole = '', name, kind] = m;
    if (name !== undefined && kind) {
      const key = name.toLowerCase();
      if (kind === 'i') parts.push((r) => dash(header(r.req, key)));
      else if (kind === 'o') parts.push((r) => dash(header(r.res, key)));
      else {
        // Environment atoms are fixed for the life of the worker: read once.
        const value = dash(process.env[name]);
        parts.push(() => value);
      }
      continue;
    }
    const fn = ATOMS[whole];
    if (!fn) throw new AccessFormatError(`unknown atom %(${whole})s; known: ${Object.keys(ATOMS).join(' ')}, {header}i, {header}o, {var}e`);
    parts.push(fn);
  }
  const tail = text.slice(last);
  if (tail.includes('%('))
    throw new AccessFormatError(
      `malformed atom near ${JSON.stringify(tail.slice(tail.indexOf('%(')))}; atoms look like %(h)s or %({header}i)s`,
    );
  if (tail) parts.push(() => tail);
  if (parts.length === 0) throw new AccessFormatError('the format is empty');
  return (r) => {
    let line = '';
    for (const part of parts) line += part(r);
    return line;
  };
}
