#!/usr/bin/env node
// Per-request cost of recording metrics in a worker: tsicorn's RequestRecorder (typed arrays,
// what the request pipeline calls), the same job done with prom-client's labelled Counter and
// Histogram, and StatsD through hot-shots (buffered, to a local UDP socket) — as tsicorn sends
// it (one timer per request, counts summed each second) and the obvious way (a counter and a
// timer per request). Each contender runs in a fresh process per round (no JIT state shared),
// rounds alternate; it reports ns per request and the garbage collections during the run.
//
//   npm run build && node bench/metrics-record.mjs [--rounds 5 --requests 2000000]
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = join(HERE, '..', 'dist', 'src', 'metrics');
const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, requests: { type: 'string', default: '2000000' }, contender: { type: 'string' } },
});
const N = Number(args.requests);

const CONTENDERS = {
  recorder: 'RequestRecorder (tsicorn, Prometheus on)',
  prom: 'prom-client labels().inc() + labels().observe()',
  statsd: 'RequestRecorder + StatsD timer (tsicorn, both on)',
  naive: 'hot-shots increment() + timing() per request',
};

async function contender(name) {
  const sink = createSocket('udp4');
  await new Promise((r) => sink.bind(0, '127.0.0.1', r));
  sink.on('message', () => {});
  const host = `127.0.0.1:${sink.address().port}`;
  const log = { warn() {}, info() {}, error() {}, debug() {} };
  if (name === 'recorder') {
    const { RequestRecorder } = await import(join(DIST, 'request-recorder.js'));
    const r = new RequestRecorder();
    return (m, s, ms) => r.record(m, s, ms);
  }
  if (name === 'prom') {
    const { Counter, Histogram, Registry } = await import('prom-client');
    const registers = [new Registry()];
    const c = new Counter({ name: 'c_total', help: 'h', labelNames: ['method', 'status'], registers });
    const h = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['method', 'status'], registers });
    const classes = ['1xx', '2xx', '3xx', '4xx', '5xx'];
    return (m, s, ms) => {
      const status = classes[Math.floor(s / 100) - 1];
      c.labels(m, status).inc();
      h.labels(m, status).observe(ms / 1000);
    };
  }
  if (name === 'statsd') {
    const { WorkerMetrics } = await import(join(DIST, 'worker-metrics.js'));
    const settings = { metrics: { bind: null, path: '/metrics' }, statsd: { host, prefix: 'tsicorn' } };
    const w = await WorkerMetrics.create(settings, 1, () => 0, log);
    return (m, s, ms) => w.record(m, s, ms);
  }
  const { StatsD } = await import('hot-shots');
  const [h, port] = host.split(':');
  const c = new StatsD({ host: h, port: Number(port), maxBufferSize: 1400, datadog: false, includeDataDogTags: false });
  return (m, s, ms) => {
    c.increment(`tsicorn.requests_total.${m}.${Math.floor(s / 100)}xx`);
    c.timing(`tsicorn.request_duration.${m}.${Math.floor(s / 100)}xx`, ms);
  };
}

if (args.contender) {
  // One contender, one process: warm up, then time N requests of a fixed mix made beforehand.
  const METHODS = ['GET', 'GET', 'GET', 'POST', 'HEAD', 'GET', 'PUT', 'GET'];
  const STATUSES = [200, 200, 304, 200, 404, 200, 201, 500];
  const MS = Float64Array.from({ length: 1024 }, (_, i) => ((i * 7919) % 400) / 10);
  const run = await contender(args.contender);
  let gcs = 0;
  new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  }).observe({ entryTypes: ['gc'] });
  const loop = (n) => {
    for (let i = 0; i < n; i++) run(METHODS[i & 7], STATUSES[i & 7], MS[i & 1023]);
  };
  loop(200_000);
  const tick = () => new Promise((r) => setImmediate(r));
  await tick();
  const before = gcs;
  const start = process.hrtime.bigint();
  loop(N);
  const ns = Number(process.hrtime.bigint() - start) / N;
  // GC entries arrive asynchronously: let them in before reading the count.
  await tick();
  await tick();
  console.log(JSON.stringify({ ns, gcs: gcs - before }));
  process.exit(0);
}

const results = new Map(Object.keys(CONTENDERS).map((k) => [k, { ns: [], gcs: [] }]));
for (let round = 1; round <= Number(args.rounds); round++) {
  for (const key of Object.keys(CONTENDERS)) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--contender', key, '--requests', String(N)], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (child.status !== 0) throw new Error(`${key} failed: ${child.stderr}`);
    const { ns, gcs } = JSON.parse(child.stdout.trim().split('\n').pop());
    results.get(key).ns.push(ns);
    results.get(key).gcs.push(gcs);
    console.error(`round ${round} ${key}: ${ns.toFixed(1)} ns/request, ${gcs} GCs`);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(results.get('recorder').ns);
const summary = [
  `${N} requests per run, ${args.rounds} rounds alternating (a fresh process each), medians; node ${process.version}; ${new Date().toISOString()}`,
  '',
  '| recording | ns/request | × RequestRecorder | GCs per run |',
  '| --- | ---: | ---: | ---: |',
  ...Object.entries(CONTENDERS).map(([key, label]) => {
    const r = results.get(key);
    return `| ${label} | ${median(r.ns).toFixed(1)} | ${(median(r.ns) / base).toFixed(1)} | ${median(r.gcs)} |`;
  }),
].join('\n');
console.log(summary);
mkdirSync(join(HERE, 'results'), { recursive: true });
writeFileSync(join(HERE, 'results', `metrics-record-${new Date().toISOString().slice(0, 10)}.md`), `${summary}\n`);
