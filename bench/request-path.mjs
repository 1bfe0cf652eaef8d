#!/usr/bin/env node
// The request path, before and after: ONE worker under wrk -t1 (so the worker, not the load
// generator, is the bottleneck on a 2-core machine), its req/s and the CPU time it spends per
// request (from /proc, the worker process alone). Contenders: a bare node:http process, a bare
// `cluster` worker (https for TLS), this checkout's tsicorn, and with --base DIR another built
// checkout's tsicorn (e.g. `git worktree add /tmp/base main && cd /tmp/base && npm ci && npm run build`),
// each plain, with TLS, with the access log on, over HTTP/2 without TLS (h2c, driven by h2load -m10
// when Debian's nghttp2-client is there), and serving the hello app as a fetch handler (through
// @hono/node-server's adapter in the cluster worker too). Rounds alternate; medians.
//
//   npm run build && node bench/request-path.mjs [--base /tmp/base --rounds 3 --duration 4 --only 'tls,cluster worker' --close --access-format json]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { drive, startTsicorn } from './lib/one-worker.mjs';
import {
  cpuTicks,
  firstAnswer,
  freePort,
  groupCpu,
  has,
  launch,
  machineBusy,
  members,
  onCleanup,
  quiet,
  selfCpu,
  sleep,
} from './lib/proc.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '4' },
    only: { type: 'string' },
    // Every request on a new connection: what a connection costs (accept, socket, close).
    close: { type: 'boolean', default: false },
    // The access log contenders' format: combined, common, json, or atoms.
    'access-format': { type: 'string', default: 'combined' },
  },
});
if (!has('wrk')) {
  console.error('wrk is not installed: apt-get install -y wrk');
  process.exit(2);
}
const scratch = mkdtempSync(join(tmpdir(), 'tsicorn-path-'));
onCleanup(() => rmSync(scratch, { recursive: true, force: true }));
const cert = join(scratch, 'cert.pem');
const key = join(scratch, 'key.pem');
execFileSync(
  'openssl',
  ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
  {
    stdio: 'ignore',
  },
);
const hello = join(HERE, 'apps', 'hello.cjs');
const helloFetch = join(HERE, 'apps', 'hello-fetch.cjs');

const tsicorn =
  (root, extra, app = hello) =>
  (port) =>
    startTsicorn(root, scratch, app, port, extra);
const cluster = (env) => (port) =>
  launch(process.execPath, [join(HERE, 'apps', 'cluster.cjs')], {
    env: { ...process.env, PORT: String(port), WORKERS: '1', CLUSTER_SCHED: 'none', ...env },
  });
const tls = { certfile: cert, keyfile: key };
const accessLog = { level: 'warn', accesslog: 'access.log', access_format: args['access-format'] };
const contenders = [
  {
    name: 'node:http (1 process)',
    scheme: 'http',
    start: (port) => launch(process.execPath, [join(HERE, 'apps', 'bare.cjs')], { env: { ...process.env, PORT: String(port) } }),
  },
  { name: 'cluster worker', scheme: 'http', start: cluster({}) },
  { name: 'tsicorn', scheme: 'http', start: tsicorn(ROOT, {}) },
  { name: 'tsicorn + access log', scheme: 'http', start: tsicorn(ROOT, { log: accessLog }) },
  { name: 'cluster worker, TLS', scheme: 'https', start: cluster({ PROTO: 'https', TLS_CERT: cert, TLS_KEY: key }) },
  { name: 'tsicorn, TLS', scheme: 'https', start: tsicorn(ROOT, { tls }) },
  // HTTP/2 without TLS, driven by h2load (10 streams at a time on each connection).
  { name: 'cluster worker, h2c', scheme: 'h2c', start: cluster({ PROTO: 'h2c' }) },
  { name: 'tsicorn, h2c', scheme: 'h2c', start: tsicorn(ROOT, { worker_class: 'http2' }) },
  { name: 'cluster worker, fetch app', scheme: 'http', start: cluster({ APP: helloFetch }) },
  { name: 'tsicorn, fetch app', scheme: 'http', start: tsicorn(ROOT, {}, helloFetch) },
];
if (args.base) {
  contenders.push(
    { name: 'base tsicorn', scheme: 'http', start: tsicorn(args.base, {}) },
    { name: 'base tsicorn + access log', scheme: 'http', start: tsicorn(args.base, { log: accessLog }) },
    { name: 'base tsicorn, TLS', scheme: 'https', start: tsicorn(args.base, { tls }) },
    { name: 'base tsicorn, h2c', scheme: 'h2c', start: tsicorn(args.base, { worker_class: 'http2' }) },
    { name: 'base tsicorn, fetch app', scheme: 'http', start: tsicorn(args.base, {}, helloFetch) },
  );
}
// --only: names, comma-separated; one that is exactly a contender's name picks only that one.
const wanted = args.only?.toLowerCase().split(',') ?? [];
const chosen = contenders.filter(
  (c) =>
    (c.scheme !== 'h2c' || has('h2load')) &&
    (wanted.length === 0 || wanted.some((w) => (contenders.some((o) => o.name === w) ? c.name === w : c.name.toLowerCase().includes(w)))),
);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const results = new Map(chosen.map((c) => [c.name, { rps: [], us: [] }]));
for (let round = 1; round <= Number(args.rounds); round++) {
  for (const c of chosen.map((_, i) => chosen[(i + round - 1) % chosen.length])) {
    const port = await freePort();
    const p = c.start(port);
    try {
      const url = `${c.scheme === 'h2c' ? 'http' : c.scheme}://127.0.0.1:${port}/`;
      if (c.scheme === 'http') await firstAnswer(port);
      else await sleep(1500);
      await sleep(500);
      // The serving process: the group's only member, or the leader's child (the worker).
      const group = members(p.pgid);
      const worker = group.length > 1 ? group.filter((m) => m.pid !== p.pgid).map((m) => m.pid) : [p.pgid];
      drive(c.scheme, url, 1, { close: args.close });
      let best = null;
      for (let attempt = 0; attempt < 3; attempt++) {
        await quiet(0.08, 20_000);
        const m0 = machineBusy();
        const s0 = selfCpu();
        const g0 = groupCpu([p.pgid]);
        const w0 = worker.reduce((a, x) => a + cpuTicks(x), 0);
        const driven = drive(c.scheme, url, Number(args.duration), { close: args.close });
        const w1 = worker.reduce((a, x) => a + cpuTicks(x), 0);
        const m1 = machineBusy();
        const foreign = (m1.busy - m0.busy - (selfCpu() - s0) - (groupCpu([p.pgid]) - g0)) / (m1.total - m0.total);
        const requests = driven.requests;
        const r = {
          rps: driven.rps,
          us: ((w1 - w0) * 10_000) / Math.max(1, requests),
          foreign,
        };
        if (!best || r.foreign < best.foreign) best = r;
        if (r.foreign <= 0.05) break;
      }
      results.get(c.name).rps.push(best.rps);
      results.get(c.name).us.push(best.us);
      console.error(`round ${round} ${c.name}: ${best.rps.toFixed(0)} req/s, ${best.us.toFixed(2)} µs CPU/request`);
    } finally {
      await p.stop();
      await sleep(300);
    }
  }
}
console.log(
  `one worker, wrk -t1 -c50 -d${args.duration}s${args.close ? ', Connection: close' : ''}, ${args.rounds} rounds alternating, medians; node ${process.version}; ${new Date().toISOString()}\n`,
);
console.log('| contender | req/s | worker CPU µs/request |\n| --- | ---: | ---: |');
for (const [name, r] of results) console.log(`| ${name} | ${median(r.rps).toFixed(0)} | ${median(r.us).toFixed(2)} |`);
process.exit(0);
