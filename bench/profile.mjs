#!/usr/bin/env node
// Where one worker's time goes: a tsicorn worker and a bare node:http process serving the hello
// app (with --fetch, as a fetch handler: through @hono/node-server's adapter in both), each run
// with --cpu-prof while wrk -t1 (h2load -m10 with --h2c) drives it, then stopped gracefully so it
// writes its profile. For the measured window only, it prints each one's CPU time
// per request (from /proc, all its threads), the time the profiler saw its main thread busy, and
// the functions that time went to (self time per request), side by side, with tsicorn's own code
// marked. The .cpuprofile files are kept: open one in Chrome DevTools (Performance panel) or
// https://www.speedscope.app for its flame graph.
//
//   npm run build && node bench/profile.mjs [--h2c --fetch --access-log --close --duration 6 --top 30 --base DIR --out DIR]
//
// Reading it: V8's profiler samples the main thread by the wall clock, so "busy" includes time the
// thread was off the CPU inside a system call. With HTTP/1 on loopback most samples land in
// `writev`: sending a response runs the receiver's side in the kernel and wakes wrk, which on a
// 2-core machine often takes the worker's core then and there. The rows below it still compare.
// A profile is statistical (one sample a millisecond): rows under ~0.05 µs move from run to run.
// For costs that noise cannot move, bench/request-instructions.mjs counts instructions.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { drive, startTsicorn } from './lib/one-worker.mjs';
import { cpuTicks, firstAnswer, freePort, has, launch, members, onCleanup, sleep } from './lib/proc.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const { values: args } = parseArgs({
  options: {
    h2c: { type: 'boolean', default: false },
    fetch: { type: 'boolean', default: false },
    'access-log': { type: 'boolean', default: false },
    close: { type: 'boolean', default: false },
    duration: { type: 'string', default: '6' },
    top: { type: 'string', default: '30' },
    base: { type: 'string' },
    out: { type: 'string', default: join(HERE, '.scratch', 'profiles', new Date().toISOString().replace(/[:.]/g, '-')) },
  },
});
const scheme = args.h2c ? 'h2c' : 'http';
if (!has(args.h2c ? 'h2load' : 'wrk')) {
  console.error(args.h2c ? 'h2load is not installed: apt-get install -y nghttp2-client' : 'wrk is not installed: apt-get install -y wrk');
  process.exit(2);
}
const scratch = mkdtempSync(join(tmpdir(), 'tsicorn-profile-'));
onCleanup(() => rmSync(scratch, { recursive: true, force: true }));
const appFile = join(HERE, 'apps', args.fetch ? 'hello-fetch.cjs' : 'hello.cjs');
const extra = {
  ...(args.h2c ? { worker_class: 'http2' } : {}),
  ...(args['access-log'] ? { log: { level: 'warn', accesslog: 'access.log', access_format: 'combined' } } : {}),
};
const contenders = [
  {
    name: 'node:http (1 process)',
    start: (port, nodeArgs) =>
      launch(process.execPath, [...nodeArgs, join(HERE, 'apps', 'bare.cjs')], {
        env: { ...process.env, PORT: String(port), PROTO: scheme, APP: appFile },
      }),
  },
  { name: 'tsicorn', start: (port, nodeArgs) => startTsicorn(ROOT, scratch, appFile, port, extra, nodeArgs) },
];
if (args.base)
  contenders.push({ name: 'base tsicorn', start: (port, nodeArgs) => startTsicorn(args.base, scratch, appFile, port, extra, nodeArgs) });

/** Until the server answers a GET: over HTTP/1, or over HTTP/2 (prior knowledge) for h2c. */
async function serving(port) {
  if (!args.h2c) return firstAnswer(port);
  const answered = () =>
    new Promise((resolve) => {
      const session = connect(`http://127.0.0.1:${port}`);
      session.on('error', () => resolve(false));
      const req = session.request({ ':path': '/' });
      req.on('response', (h) => resolve(h[':status'] === 200));
      req.on('error', () => resolve(false));
      req.on('close', () => session.close());
      req.resume();
      req.end();
    });
  for (let i = 0; i < 300; i++) {
    if (await answered()) return;
    await sleep(50);
  }
  throw new Error(`no HTTP/2 answer on ${port}`);
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * The samples of a V8 CPU profile within [fromUs, toUs] (CLOCK_MONOTONIC, the clock of both V8's
 * timestamps and process.hrtime): µs busy in total and by function (self time).
 */
function window(profile, fromUs, toUs) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map();
  let busy = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < fromUs || at > toUs) continue;
    const frame = nodes.get(profile.samples[i]);
    if (!frame || frame.functionName === '(idle)') continue;
    busy += delta;
    const file = frame.url.replace(/^.*\//, '');
    const where = file ? ` ${file}${frame.lineNumber >= 0 ? `:${frame.lineNumber + 1}` : ''}` : '';
    const key = `${frame.functionName || '(anonymous)'}${where}`;
    // tsicorn's own: its build output, not a package's (whose files are in a dist/ of their own).
    const row = self.get(key) ?? { us: 0, ours: frame.url.includes('/dist/') && !frame.url.includes('/node_modules/') };
    row.us += delta;
    self.set(key, row);
  }
  return { busy, self };
}

const results = [];
for (const c of contenders) {
  const dir = join(args.out, c.name.replace(/[^a-z0-9]+/gi, '-'));
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const p = c.start(port, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  try {
    await serving(port);
    const url = `http://127.0.0.1:${port}/`;
    drive(scheme, url, 2, { close: args.close });
    // The serving process: the group's only member, or the leader's child (the worker).
    const server = members(p.pgid).find((m) => m.pid !== p.pgid)?.pid ?? p.pgid;
    const ticks0 = cpuTicks(server);
    const from = nowUs();
    const driven = drive(scheme, url, Number(args.duration), { close: args.close });
    const to = nowUs();
    const cpuUs = ((cpuTicks(server) - ticks0) * 10_000) / Math.max(1, driven.requests);
    // The leader only: a tsicorn master stops its worker gracefully, which writes the profile.
    process.kill(p.pgid, 'SIGTERM');
    for (let i = 0; i < 200 && !p.exited; i++) await sleep(50);
    const file = readdirSync(dir).find((f) => f.includes(`.${server}.`) && f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`${c.name}: no profile of process ${server} in ${dir}`);
    const w = window(JSON.parse(readFileSync(join(dir, file), 'utf8')), from, to);
    results.push({ name: c.name, requests: driven.requests, rps: driven.rps, cpuUs, file: join(dir, file), ...w });
    console.error(
      `${c.name}: ${driven.rps.toFixed(0)} req/s, ${cpuUs.toFixed(2)} µs CPU a request, main thread busy ${(w.busy / driven.requests).toFixed(2)} µs`,
    );
  } finally {
    await p.stop();
  }
}

const perRequest = (r, key) => (r.self.get(key)?.us ?? 0) / r.requests;
const keys = [...new Set(results.flatMap((r) => [...r.self.keys()]))];
const top = Number(args.top);
const ranked = keys.sort((a, b) => Math.max(...results.map((r) => perRequest(r, b))) - Math.max(...results.map((r) => perRequest(r, a))));
const ours = (key) => results.some((r) => r.self.get(key)?.ours);
const what = `${args.h2c ? 'HTTP/2 (h2c, h2load -t1 -c50 -m10)' : `HTTP/1.1 (wrk -t1 -c50${args.close ? ', Connection: close' : ''})`}${args['access-log'] ? ', access log on' : ''}`;
console.log(
  `One process serving hello${args.fetch ? ' as a fetch handler' : ''}, ${what}, ${args.duration} s measured after 2 s of warm-up; node ${process.version}; ${new Date().toISOString()}\n`,
);
console.log(`| | ${results.map((r) => r.name).join(' | ')} |\n| --- |${results.map(() => ' ---: |').join('')}`);
console.log(`| req/s under the profiler | ${results.map((r) => r.rps.toFixed(0)).join(' | ')} |`);
console.log(`| **CPU µs a request** (/proc, all threads) | ${results.map((r) => `**${r.cpuUs.toFixed(2)}**`).join(' | ')} |`);
console.log(`| main thread busy, µs a request (profiler) | ${results.map((r) => (r.busy / r.requests).toFixed(2)).join(' | ')} |`);
for (const key of ranked.slice(0, top)) {
  console.log(`| ${ours(key) ? '★ ' : ''}\`${key}\` | ${results.map((r) => perRequest(r, key).toFixed(3)).join(' | ')} |`);
}
const oursTotal = (r) => ranked.filter(ours).reduce((a, key) => a + perRequest(r, key), 0);
console.log(`| ★ tsicorn's own functions, all | ${results.map((r) => oursTotal(r).toFixed(3)).join(' | ')} |`);
console.log(
  `\nSelf time in µs a request, the ${top} heaviest functions; ★ tsicorn's code. Profiles: ${results.map((r) => r.file).join(', ')}`,
);
process.exit(0);
