// The load generators (wrk for HTTP/1.1 and TLS, h2load for HTTP/2), each run with the CPU of
// the whole machine accounted: what neither the contender, the load generator nor this script
// used is "foreign" (another job on the machine), and a run with too much of it is done again.
import { spawnSync } from 'node:child_process';
import { groupCpu, machineBusy, quiet, selfCpu } from './proc.mjs';

/** Share of the machine (all cores) other work may take during a measured run before it is repeated. */
const MAX_FOREIGN = 0.05;
const TRIES = 3;

function wrkOnce({ url, seconds, connections, close }) {
  const argv = ['-t', '2', '-c', String(connections), '-d', `${seconds}s`, '--latency'];
  if (close) argv.push('-H', 'Connection: close');
  argv.push(url);
  const r = spawnSync('wrk', argv, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const out = r.stdout ?? '';
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in /.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const p99ms = p99 ? Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2]] : null;
  return { rps, requests, errors, non2xx, p99ms, failed: rps === 0 ? out.trim() || r.stderr || String(r.error) : null };
}

function h2loadOnce({ url, seconds, connections }) {
  const argv = ['-t', '2', '-c', String(connections), '-m', '10', '-D', String(seconds), url];
  const r = spawnSync('h2load', argv, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const out = r.stdout ?? '';
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
  const m = /requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const requests = m ? Number(m[1]) : 0;
  const errors = m ? Number(m[2]) + Number(m[3]) + Number(m[4]) : 0;
  const non2xx = Number(
    /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/
      .exec(out)
      ?.slice(1)
      .reduce((a, b) => a + Number(b), 0) ?? 0,
  );
  return { rps, requests, errors, non2xx, p99ms: null, failed: rps === 0 ? out.trim() || r.stderr || String(r.error) : null };
}

/**
 * One measured run against the contender whose process groups are `pgids`: waits for a quiet
 * machine, runs the load, and repeats (at most TRIES times) while other work took more than
 * MAX_FOREIGN of the machine; keeps the run with the least foreign work, and says how much.
 * `cpuUs`: the CPU time the contender's processes (master and workers) took a request.
 */
export async function measure(pgids, opts) {
  const run = opts.tool === 'h2load' ? h2loadOnce : wrkOnce;
  let best = null;
  for (let i = 0; i < TRIES; i++) {
    await quiet(0.08, 30_000);
    const m0 = machineBusy();
    const s0 = selfCpu();
    const g0 = groupCpu(pgids);
    const r = run(opts);
    const m1 = machineBusy();
    const server = groupCpu(pgids) - g0;
    const ours = selfCpu() - s0 + server;
    const foreign = Math.max(0, (m1.busy - m0.busy - ours) / Math.max(1, m1.total - m0.total));
    // Ticks are 1/100 s.
    const cpuUs = r.requests > 0 ? (server * 10_000) / r.requests : Number.NaN;
    const result = { ...r, cpuUs, foreign, tries: i + 1 };
    if (!best || foreign < best.foreign) best = result;
    if (foreign <= MAX_FOREIGN) break;
  }
  return best;
}

/** A short unmeasured run, so that every contender is measured warm (JIT, connection pools). */
export function warmUp(opts) {
  (opts.tool === 'h2load' ? h2loadOnce : wrkOnce)({ ...opts, seconds: 1 });
}
