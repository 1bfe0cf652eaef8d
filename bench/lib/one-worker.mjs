// One worker under load, for the scripts that look at a single serving process (request-path,
// profile): wrk -t1 (h2load for h2c), so the worker and not the load generator is the bottleneck on
// a 2-core machine.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './proc.mjs';

/** Drives `url` for `seconds`: wrk -t1 -c50, or h2load -t1 -c50 -m10 for h2c. Its req/s and requests answered. */
export function drive(scheme, url, seconds, { close = false } = {}) {
  if (scheme !== 'h2c') {
    const out = spawnSync('wrk', ['-t1', '-c50', `-d${seconds}s`, ...(close ? ['-H', 'Connection: close'] : []), url], {
      encoding: 'utf8',
    }).stdout;
    return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0) };
  }
  const out = spawnSync('h2load', ['-t1', '-c50', '-m10', `-D${seconds}`, url], { encoding: 'utf8' }).stdout;
  return {
    rps: Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0),
    requests: Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0),
  };
}

/**
 * Starts a tsicorn built in `root` with one worker on `port`, in a fresh directory under
 * `scratch`: the hello app, warnings only, and `extra` settings. `nodeArgs` go to the master,
 * whose workers inherit them.
 */
export function startTsicorn(root, scratch, app, port, extra = {}, nodeArgs = []) {
  const dir = mkdtempSync(join(scratch, 'ts-'));
  writeFileSync(join(dir, 'server.yaml'), JSON.stringify({ app, bind: `127.0.0.1:${port}`, workers: 1, log: { level: 'warn' }, ...extra }));
  return launch(process.execPath, [...nodeArgs, join(root, 'bin', 'tsicorn'), '-c', 'server.yaml'], { cwd: dir });
}
