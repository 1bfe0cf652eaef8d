#!/usr/bin/env node
// Throughput of tsicorn against bare Node on the same hello-world app, with wrk, on 127.0.0.1.
// Contenders alternate round by round so that machine drift hits all alike; the table shows
// medians and each contender's ratio to the best bare `cluster` mode measured in the same run.
//
//   npm run bench:throughput [-- --rounds 3 --duration 5 --connections 50 --workers 2]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    workers: { type: 'string', default: '2' },
    only: { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const WORKERS = Number(args.workers);

if (spawnSync('wrk', ['--version']).error) {
  console.error('wrk is not installed: apt-get install -y wrk');
  process.exit(2);
}

const scratch = mkdtempSync(join(tmpdir(), 'tsicorn-bench-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function tsicornConfig(port, extra) {
  const dir = mkdtempSync(join(scratch, 'ts-'));
  const file = join(dir, 'server.yaml');
  writeFileSync(
    file,
    JSON.stringify({ app: join(HERE, 'apps', 'hello.cjs'), bind: `127.0.0.1:${port}`, workers: WORKERS, log: { level: 'warn' }, ...extra }),
  );
  return { file, dir };
}

/** Each contender: how to start it on a port, and how to know it is ready. */
const contenders = [
  { name: 'node (1 process)', start: (port) => node([join(HERE, 'apps', 'bare.cjs')], { PORT: port }) },
  {
    name: 'cluster rr',
    baseline: true,
    start: (port) => node([join(HERE, 'apps', 'cluster.cjs')], { PORT: port, WORKERS, CLUSTER_SCHED: 'rr' }),
  },
  {
    name: 'cluster none',
    baseline: true,
    start: (port) => node([join(HERE, 'apps', 'cluster.cjs')], { PORT: port, WORKERS, CLUSTER_SCHED: 'none' }),
  },
  { name: 'tsicorn', start: (port) => tsicorn(port, {}) },
  {
    name: 'tsicorn + access log',
    start: (port) => {
      const c = tsicorn(port, { log: { level: 'warn', accesslog: 'access.log', access_format: 'combined' } });
      return c;
    },
  },
  { name: 'tsicorn + metrics', start: (port) => tsicorn(port, { metrics: { bind: '127.0.0.1:0' } }) },
].filter((c) => !args.only || c.name.includes(args.only));

function node(argv, env) {
  const child = spawn(process.execPath, argv, {
    env: { ...process.env, ...stringify(env) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    detached: true,
  });
  const ready = new Promise((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  return { child, ready };
}

function tsicorn(port, extra) {
  const { file, dir } = tsicornConfig(port, extra);
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'tsicorn'), '-c', file], {
    cwd: dir,
    env: { ...process.env, TSICORN_LOG_FORMAT: 'json', TSICORN_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const ready = new Promise((resolve, reject) => {
    let buf = '';
    child.stderr.on('data', (d) => {
      buf += d;
      if (buf.includes('"server ready"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`tsicorn exited ${code}: ${buf}`)));
  });
  return { child, ready };
}

const stringify = (env) => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));

function stop(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {}
}

function wrk(port, close) {
  const argv = ['-t', '2', '-c', String(CONNECTIONS), '-d', `${DURATION}s`, '--latency'];
  if (close) argv.push('-H', 'Connection: close');
  argv.push(`http://127.0.0.1:${port}/`);
  const r = spawnSync('wrk', argv, { encoding: 'utf8', timeout: (DURATION + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
  const errors = /Socket errors: (.*)/.exec(r.stdout)?.[1] ?? '';
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  return { rps, errors, non2xx };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : 0;
};

const results = new Map(contenders.map((c) => [c.name, { ka: [], close: [], notes: new Set() }]));
for (let round = 1; round <= ROUNDS; round++) {
  for (const c of contenders) {
    const port = await freePort();
    const { child, ready } = c.start(port);
    try {
      await Promise.race([ready, new Promise((_, rej) => setTimeout(() => rej(new Error('not ready in 20 s')), 20_000))]);
      const ka = wrk(port, false);
      const close = wrk(port, true);
      const r = results.get(c.name);
      r.ka.push(ka.rps);
      r.close.push(close.rps);
      for (const x of [ka, close]) if (x.errors || x.non2xx) r.notes.add(`${x.errors} non2xx=${x.non2xx}`);
      console.error(`round ${round} ${c.name}: keep-alive ${ka.rps.toFixed(0)} req/s, close ${close.rps.toFixed(0)} req/s`);
    } finally {
      stop(child);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

const rows = contenders.map((c) => {
  const r = results.get(c.name);
  return { name: c.name, baseline: c.baseline, ka: median(r.ka), close: median(r.close), notes: [...r.notes].join('; ') };
});
const bestKa = Math.max(...rows.filter((r) => r.baseline).map((r) => r.ka), 1);
const bestClose = Math.max(...rows.filter((r) => r.baseline).map((r) => r.close), 1);
const lines = [
  `| contender | keep-alive req/s | × best cluster | Connection: close req/s | × best cluster | errors |`,
  `| --- | ---: | ---: | ---: | ---: | --- |`,
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.ka.toFixed(0)} | ${(r.ka / bestKa).toFixed(3)} | ${r.close.toFixed(0)} | ${(r.close / bestClose).toFixed(3)} | ${r.notes || '0'} |`,
  ),
];
const accessOn = rows.find((r) => r.name === 'tsicorn + access log');
const accessOff = rows.find((r) => r.name === 'tsicorn');
const metricsOn = rows.find((r) => r.name === 'tsicorn + metrics');
const summary = [
  `wrk -t2 -c${CONNECTIONS} -d${DURATION}s, ${ROUNDS} rounds alternating, medians; ${WORKERS} workers; node ${process.version}; ${new Date().toISOString()}`,
  '',
  ...lines,
  '',
  accessOn && accessOff
    ? `access log (combined, to a file) ÷ off: keep-alive ${(accessOn.ka / accessOff.ka).toFixed(3)}, close ${(accessOn.close / accessOff.close).toFixed(3)}`
    : '',
  metricsOn && accessOff
    ? `metrics.bind on ÷ off: keep-alive ${(metricsOn.ka / accessOff.ka).toFixed(3)}, close ${(metricsOn.close / accessOff.close).toFixed(3)}`
    : '',
].join('\n');
console.log(summary);
mkdirSync(join(HERE, 'results'), { recursive: true });
writeFileSync(join(HERE, 'results', `throughput-${new Date().toISOString().slice(0, 10)}.md`), `${summary}\n`);
