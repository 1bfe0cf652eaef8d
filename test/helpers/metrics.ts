import type { RunningServer } from './server.js';

/** A scrape parsed: `name{label="v",...}` (labels sorted by name) → value. */
export type Scrape = Map<string, number>;

/** The series key for `name` and `labels`, as `parseScrape` writes them. */
export function series(name: string, labels: Record<string, string> = {}): string {
  const inner = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`)
    .join(',');
  return inner ? `${name}{${inner}}` : name;
}

/** Prometheus text format 0.0.4 → series values (comments and blank lines skipped). */
export function parseScrape(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1] as string] = pair[2] as string;
    out.set(series(m[1] as string, labels), Number(m[3]));
  }
  return out;
}

/** Base URL of the metrics listener, from its "metrics listening" log line. */
export async function metricsUrl(server: RunningServer, from = 0): Promise<string> {
  const line = await server.waitForLog('metrics listening', {}, 15_000, from);
  return `http://${line.address as string}`;
}

export async function scrape(base: string, path = '/metrics'): Promise<Scrape> {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}`);
  return parseScrape(await res.text());
}

/**
 * Scrapes until `check` holds, or fails after `ms` with the last scrape. A worker records a
 * request when its response closes, a moment after the client has read it: the count arrives
 * with the next scrape, not necessarily this one.
 */
export async function scrapeUntil(base: string, what: string, check: (s: Scrape) => boolean, ms = 10_000): Promise<Scrape> {
  const deadline = Date.now() + ms;
  for (;;) {
    const last = await scrape(base);
    if (check(last)) return last;
    if (Date.now() > deadline) {
      const ours = [...last].filter(([k]) => k.startsWith('tsicorn_') && !k.includes('_bucket'));
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last scrape:\n${ours.map(([k, v]) => `${k} ${v}`).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const GET_2XX = series('tsicorn_requests_total', { method: 'GET', status: '2xx' });
