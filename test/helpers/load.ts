import { request as httpRequest } from 'node:http';

/** Outcome of a bounded burst of requests: how many got each status, and every failure. */
export interface LoadResult {
  ok: number;
  total: number;
  statuses: Map<number, number>;
  errors: string[];
  pids: Set<number>;
}

export interface LoadOptions {
  /** Upper bound on requests sent. */
  total: number;
  concurrency: number;
  /** `Connection: close` on every request (a new connection each), instead of keep-alive. */
  close?: boolean;
  timeoutMs?: number;
  /** Ends the load early once true (checked before each request). */
  stop?: () => boolean;
}

/** One request over a fresh connection with `Connection: close` (fetch cannot set that header). */
function closeRequest(url: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(url, { agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function keepAliveRequest(url: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}

/**
 * Sends GET requests to `url` with `concurrency` in flight, counting statuses and errors (a reset
 * connection is an error). Bounded by count, ended early by `stop`; each request has a timeout.
 */
export async function runLoad(url: string, opts: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { ok: 0, total: 0, statuses: new Map(), errors: [], pids: new Set() };
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const send = opts.close ? closeRequest : keepAliveRequest;
  let next = 0;
  const lane = async () => {
    while (next < opts.total && !opts.stop?.()) {
      next++;
      try {
        const { status, text } = await send(url, timeoutMs);
        result.total++;
        result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
        if (status === 200) result.ok++;
        const pid = /"pid":(\d+)/.exec(text)?.[1];
        if (pid) result.pids.add(Number(pid));
      } catch (err) {
        result.total++;
        const e = err as Error & { code?: string; cause?: { code?: string } };
        result.errors.push(`${e.message}${e.code ? ` (${e.code})` : ''}${e.cause?.code ? ` (${e.cause.code})` : ''}`);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, lane));
  return result;
}

/** Keep-alive load of `total` requests (the common case in tests). */
export function load(url: string, total: number, concurrency: number, timeoutMs = 10_000, stop?: () => boolean): Promise<LoadResult> {
  return runLoad(url, { total, concurrency, timeoutMs, ...(stop ? { stop } : {}) });
}
