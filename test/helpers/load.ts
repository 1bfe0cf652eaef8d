/** Outcome of a bounded burst of requests: how many got each status, and every failure. */
export interface LoadResult {
  ok: number;
  statuses: Map<number, number>;
  errors: string[];
  pids: Set<number>;
}

/**
 * Sends `total` GET requests to `url` with `concurrency` in flight (fetch keeps connections
 * alive), counting statuses and errors. Bounded by count (and ended early once `stop()` is
 * true); each request has its own timeout.
 */
export async function load(url: string, total: number, concurrency: number, timeoutMs = 10_000, stop?: () => boolean): Promise<LoadResult> {
  const result: LoadResult = { ok: 0, statuses: new Map(), errors: [], pids: new Set() };
  let next = 0;
  const lane = async () => {
    while (next < total && !stop?.()) {
      next++;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        const text = await res.text();
        result.statuses.set(res.status, (result.statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200) result.ok++;
        const pid = /"pid":(\d+)/.exec(text)?.[1];
        if (pid) result.pids.add(Number(pid));
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        result.errors.push(`${e.message}${e.cause?.code ? ` (${e.cause.code})` : ''}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return result;
}
