import { type ClientHttp2Session, connect, constants, type SecureClientSessionOptions } from 'node:http2';

export interface H2Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP/2 session to `origin` (h2c prior knowledge for http:, ALPN h2 for https:). */
export function h2connect(origin: string, options: SecureClientSessionOptions = {}): Promise<ClientHttp2Session> {
  return new Promise((resolvePromise, reject) => {
    const session = connect(origin, options);
    session.once('connect', () => {
      session.off('error', reject);
      resolvePromise(session);
    });
    session.once('error', reject);
  });
}

/** One request on a session, with a timeout. */
export function h2request(
  session: ClientHttp2Session,
  path: string,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<H2Response> {
  return new Promise((resolvePromise, reject) => {
    const stream = session.request({ ':path': path, ...headers });
    const timer = setTimeout(() => stream.close(), timeoutMs);
    let status = 0;
    let responseHeaders: H2Response['headers'] = {};
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h as H2Response['headers'];
    });
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => {
      clearTimeout(timer);
      resolvePromise({ status, headers: responseHeaders, body });
    });
    stream.on('error', (err: Error & { rstCode?: number }) => {
      clearTimeout(timer);
      err.rstCode = stream.rstCode;
      reject(err);
    });
    stream.end();
  });
}

/** A GET over a session opened for it and closed after. */
export async function h2get(origin: string, path: string, options: SecureClientSessionOptions = {}): Promise<H2Response> {
  const session = await h2connect(origin, options);
  try {
    return await h2request(session, path);
  } finally {
    session.close();
  }
}

export interface H2LoadResult {
  ok: number;
  /** Streams that were sent and did not end in a 200 (nor were refused unprocessed). */
  failed: string[];
  /** Requests the client did not send (its session was going away) and sent again on a new one. */
  resent: number;
  /** Request ids of streams the server refused unprocessed (REFUSED_STREAM), sent again. */
  refused: string[];
  sessions: number;
  pids: Set<number>;
}

/**
 * Keeps `concurrency` streams in flight over one shared session (as a browser multiplexes),
 * opening a new session when the server sends GOAWAY, until `stop()`. As a browser does, a
 * request is sent again when its session would not send it (ERR_HTTP2_GOAWAY_SESSION,
 * ERR_HTTP2_INVALID_SESSION) or the server refused the stream unprocessed (REFUSED_STREAM, RFC
 * 9113 8.7); each stream carries an x-request-id so a test can check the refused ones never ran.
 * Any other failed stream is a failure.
 */
export async function h2load(
  origin: string,
  path: string,
  opts: { concurrency: number; stop: () => boolean; options?: SecureClientSessionOptions },
): Promise<H2LoadResult> {
  const result: H2LoadResult = { ok: 0, failed: [], resent: 0, refused: [], sessions: 0, pids: new Set() };
  let next = 0;
  let session: ClientHttp2Session | null = null;
  let opening: Promise<ClientHttp2Session> | null = null;
  const open: ClientHttp2Session[] = [];
  const current = (): Promise<ClientHttp2Session> => {
    if (session && !session.closed && !session.destroyed) return Promise.resolve(session);
    opening ??= h2connect(origin, opts.options).then(
      (s) => {
        session = s;
        opening = null;
        result.sessions++;
        open.push(s);
        return s;
      },
      (err: unknown) => {
        opening = null;
        throw err;
      },
    );
    return opening;
  };
  const lane = async () => {
    while (!opts.stop()) {
      const id = `load-${next++}`;
      try {
        const res = await h2request(await current(), path, { 'x-request-id': id });
        if (res.status === 200) result.ok++;
        else result.failed.push(`status ${res.status}`);
        const pid = /"pid":(\d+)/.exec(res.body)?.[1];
        if (pid) result.pids.add(Number(pid));
      } catch (err) {
        const e = err as Error & { code?: string; rstCode?: number };
        if (e.code === 'ERR_HTTP2_GOAWAY_SESSION' || e.code === 'ERR_HTTP2_INVALID_SESSION') result.resent++;
        else if (e.rstCode === constants.NGHTTP2_REFUSED_STREAM) result.refused.push(id);
        else result.failed.push(`${e.code ?? ''} ${e.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, lane));
  for (const s of open) s.destroy();
  return result;
}
