#!/usr/bin/env node
// The request path in CPU instructions, which a shared machine's noise does not move: ONE worker
// (hello app) under valgrind's callgrind, warmed with WARM keep-alive requests, then REQUESTS more
// counted, one at a time. Instructions per request of the serving process, and the same without
// TurboFan compiling inside the counted window (a function optimized late is a one-off, not a
// per-request cost). Contenders: a bare node:http process, this checkout's tsicorn, and with
// --base DIR another built checkout's tsicorn. V8 runs with --single-threaded (GC and compiler
// work on the main thread, where callgrind counts it) and --no-memory-reducer (whose GCs follow
// the wall clock, which valgrind slows 50-fold). Repeated runs agree within ~1 %.
//
// What it cannot see: system calls (strace -c shows them) and how fast the instructions run
// (cache misses): µs per request are bench/request-path.mjs's job.
//
//   npm run build && node bench/request-instructions.mjs [--base /tmp/base --warm 20000 --requests 5000 --keep DIR --access-log --fetch]
//
// --fetch serves the hello app as a fetch handler: through @hono/node-server's adapter in the bare
// process too (apps/listener.cjs), so the difference is what tsicorn adds around the adapter.
//
// --keep DIR copies each contender's dump of the serving process to DIR (for callgrind_annotate).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, has, launch, members, onCleanup, sleep } from './lib/proc.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    warm: { type: 'string', default: '20000' },
    requests: { type: 'string', default: '5000' },
    keep: { type: 'string' },
    // Also each tsicorn with the access log on (combined, to a file).
    'access-log': { type: 'boolean', default: false },
    fetch: { type: 'boolean', default: false },
  },
});
if (!has('valgrind') || !has('callgrind_annotate')) {
  console.error('valgrind is not installed: apt-get install -y valgrind');
  process.exit(2);
}
const scratch = mkdtempSync(join(tmpdir(), 'tsicorn-instr-'));
onCleanup(() => rmSync(scratch, { recursive: true, force: true }));
const appFile = join(HERE, 'apps', args.fetch ? 'hello-fetch.cjs' : 'hello.cjs');
const V8 = ['--single-threaded', '--no-memory-reducer'];

function tsicorn(root, log = { level: 'warn' }) {
  return (port, dir) => {
    // Under valgrind a worker boots and beats ~50× slower: no boot or heartbeat deadline may fire.
    const settings = { app: appFile, bind: `127.0.0.1:${port}`, workers: 1, log, timeout: 0, boot_timeout: 600 };
    writeFileSync(join(dir, 'server.json'), JSON.stringify(settings));
    return { argv: [process.execPath, ...V8, join(root, 'bin', 'tsicorn'), '-c', 'server.json'], env: process.env };
  };
}
const contenders = [
  {
    name: 'node:http (1 process)',
    start: (port) => ({
      argv: [process.execPath, ...V8, join(HERE, 'apps', 'bare.cjs')],
      env: { ...process.env, PORT: String(port), APP: appFile },
    }),
  },
  { name: 'tsicorn', start: tsicorn(ROOT) },
];
if (args.base) contenders.push({ name: 'base tsicorn', start: tsicorn(args.base) });
if (args['access-log']) {
  const accessLog = { level: 'warn', accesslog: 'access.log', access_format: 'combined' };
  contenders.push({ name: 'tsicorn + access log', start: tsicorn(ROOT, accessLog) });
  if (args.base) contenders.push({ name: 'base tsicorn + access log', start: tsicorn(args.base, accessLog) });
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const get = (port) =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
async function serve(port, n) {
  for (let i = 0; i < n; i++) await get(port);
}

/** Instructions in a callgrind dump, and those of TurboFan compiling and deoptimizing. */
function count(file) {
  const text = execFileSync('callgrind_annotate', ['--threshold=100', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const number = (line) => Number(line.trim().split(/\s+/)[0]?.replace(/,/g, '') ?? 0);
  const total = number(text.split('\n').find((l) => l.includes('PROGRAM TOTALS')) ?? '0');
  const compile = text
    .split('\n')
    .filter((l) => /compiler::|Deoptimiz|CompileLazy|Zone::/.test(l))
    .reduce((sum, l) => sum + number(l), 0);
  return { total, compile };
}

const n = Number(args.requests);
const rows = [];
// One at a time, and callgrind_control is given the contender's own pids: without them it waits on
// every valgrind that left its vgdb files in /tmp, and one whose pid is gone hangs it for good.
for (const c of contenders) {
  const port = await freePort();
  const dir = mkdtempSync(join(scratch, 'run-'));
  const out = join(dir, 'cg');
  const { argv, env } = c.start(port, dir);
  const p = launch('valgrind', ['--tool=callgrind', '--trace-children=yes', `--callgrind-out-file=${out}.%p`, ...argv], { cwd: dir, env });
  try {
    const until = Date.now() + 300_000;
    for (;;) {
      try {
        await get(port);
        break;
      } catch {
        if (Date.now() > until || p.exited) throw new Error(`${c.name} did not answer under valgrind`);
        await sleep(500);
      }
    }
    await serve(port, Number(args.warm));
    const pids = members(p.pgid).map((m) => String(m.pid));
    execFileSync('callgrind_control', ['-z', ...pids], { stdio: 'ignore' });
    await serve(port, n);
    execFileSync('callgrind_control', ['-d', ...pids], { stdio: 'ignore' });
    // Each process writes its own dump when it next runs: wait until the set stops growing.
    const dumps = () => readdirSync(dir).filter((f) => /^cg\.\d+\.\d+$/.test(f));
    let files = [];
    for (let i = 0; i < 60; i++) {
      await sleep(1000);
      const now = dumps();
      if (now.length > 0 && now.length === files.length) break;
      files = now;
    }
    // The serving process is the one that did the most work (a tsicorn master idles).
    const counts = files.map((f) => ({ file: f, ...count(join(dir, f)) })).sort((a, b) => b.total - a.total);
    const best = counts[0] ?? { file: '', total: 0, compile: 0 };
    if (args.keep && best.file) {
      mkdirSync(args.keep, { recursive: true });
      copyFileSync(join(dir, best.file), join(args.keep, `${c.name.replace(/[^\w]+/g, '-')}.callgrind`));
    }
    rows.push({ name: c.name, perRequest: best.total / n, steady: (best.total - best.compile) / n });
    console.error(`${c.name}: ${(best.total / n).toFixed(0)} instructions/request`);
  } finally {
    await p.stop();
  }
}
agent.destroy();
const bare = rows[0]?.steady ?? 1;
console.log(
  `one worker, hello app${args.fetch ? ' as a fetch handler' : ''}, ${args.warm} warm-up then ${n} counted keep-alive requests, one at a time; callgrind; node ${process.version}; ${new Date().toISOString()}\n`,
);
console.log('| contender | instructions/request | without JIT compiling | ÷ node:http |\n| --- | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.name} | ${r.perRequest.toFixed(0)} | ${r.steady.toFixed(0)} | ${(r.steady / bare).toFixed(3)} |`);
process.exit(0);
