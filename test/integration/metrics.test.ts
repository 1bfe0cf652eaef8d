import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { runLoad } from '../helpers/load.js';
import { GET_2XX, metricsUrl, type Scrape, scrape, scrapeUntil, series } from '../helpers/metrics.js';
import { ROOT, type RunningServer, serverYaml, startServer, until } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const GATED = join(ROOT, 'test', 'fixtures', 'serve', 'gated-app.mjs');
/** Metrics on an ephemeral port; reloads only by HUP, so that rewriting the file does not reload by itself. */
const METRICS = { metrics: { bind: '127.0.0.1:0' }, reload: { config: false } };

const restarts = (reason: string) => series('tsicorn_worker_restarts_total', { reason });
const reloads = (result: string) => series('tsicorn_reloads_total', { result });
const workers = (state: string) => series('tsicorn_workers', { state });

/**
 * Scrapes back to back until stopped, keeping every value of tsicorn_requests_total{GET,2xx}:
 * what a Prometheus scraping during the test would have seen.
 */
function watchTotal(base: string): { stop: () => Promise<number[]> } {
  const seen: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) seen.push((await scrape(base)).get(GET_2XX) ?? 0);
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

function assertNeverBackwards(values: number[]): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok((values[i] as number) >= (values[i - 1] as number), `went back from ${values[i - 1]} to ${values[i]} at scrape ${i}`);
  }
}

async function hup(server: RunningServer): Promise<void> {
  const before = server.countLogs('rotation finished');
  process.kill(server.pid, 'SIGHUP');
  await server.waitFor('the rotation', () => server.countLogs('rotation finished') > before);
}

test('requests across workers are counted once each, with their latency histogram and the worker gauges', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, METRICS) } });
  const base = await metricsUrl(server);
  // A new connection per request, so that both workers take a share.
  const result = await runLoad(`${server.url()}/`, { total: 50, concurrency: 5, close: true });
  assert.equal(result.ok, 50, result.errors.join('\n'));
  assert.equal((await fetch(`${server.url()}/throw`)).status, 500);
  const errors = series('tsicorn_requests_total', { method: 'GET', status: '5xx' });
  const s = await scrapeUntil(base, '50 GET 2xx and one 5xx', (s) => s.get(GET_2XX) === 50 && s.get(errors) === 1);
  const labels = { method: 'GET', status: '2xx' };
  assert.equal(s.get(series('tsicorn_request_duration_seconds_count', labels)), 50);
  assert.equal(s.get(series('tsicorn_request_duration_seconds_bucket', { ...labels, le: '+Inf' })), 50);
  assert.ok((s.get(series('tsicorn_request_duration_seconds_sum', labels)) ?? 0) > 0);
  assert.equal(s.get(workers('ready')), server.workerPids().length);
  assert.equal(s.get(workers('ready')), 2);
  assert.equal(s.get(workers('booting')), 0);
  assert.equal(s.get('tsicorn_workers_target'), 2);
  assert.equal(s.get('tsicorn_standby_workers'), 0);
  assert.equal(s.get('tsicorn_inflight_requests'), 0);
  // Process metrics per process: each worker by its id (the `worker` field of the logs), and the master.
  const ids = server.logs.filter((l) => l.msg === 'worker ready' && l.component === 'master').map((l) => String(l.worker));
  for (const worker of [...ids, 'master']) assert.ok(s.has(series('process_resident_memory_bytes', { worker })), `worker ${worker}`);
  const unlabelled = [...s.keys()].filter((k) => !k.startsWith('tsicorn_') && !k.includes('worker="'));
  assert.deepEqual(unlabelled, [], 'every process metric says whose it is');
  t.diagnostic(`answers came from ${result.pids.size} workers`);

  const healthy = await fetch(`${base}/-/healthy`);
  assert.equal(healthy.status, 200);
  assert.deepEqual(await healthy.json(), { status: 'healthy', state: 'running' });
  const ready = await fetch(`${base}/-/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready', ready: 2, target: 2, state: 'running' });
  assert.equal((await fetch(`${base}/elsewhere`)).status, 404);
  assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  assert.equal((await scrape(base)).get(GET_2XX), 50, 'the metrics listener counts no request of its own');
});

test('a HUP rotation keeps every count; reloads are counted by result', { timeout: 45_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, METRICS) } });
  const base = await metricsUrl(server);
  assert.equal((await runLoad(`${server.url()}/`, { total: 50, concurrency: 5, close: true })).ok, 50);
  // No scrape until the old workers are gone: their counts can reach the master only in the
  // final report each sends as it exits.
  await hup(server);
  await server.waitFor('both old workers gone', () => server.countLogs('worker exited', { reason: 'reload' }) === 2);
  const rotated = await scrapeUntil(base, "the old workers' 50 requests", (s) => s.get(GET_2XX) === 50, 3000);
  assert.equal(rotated.get(restarts('reload')), 2);
  assert.equal(rotated.get(reloads('ok')), 1);
  assert.equal(rotated.get(restarts('exit')), 0);
  assert.equal((await runLoad(`${server.url()}/`, { total: 20, concurrency: 4, close: true })).ok, 20);
  await scrapeUntil(base, '70 requests', (s) => s.get(GET_2XX) === 70);

  writeFileSync(join(server.dir, 'server.yaml'), 'app: app.js\nworkers: [3\n');
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('reload failed: config invalid; keeping the running config and workers');
  const after = await scrape(base);
  assert.equal(after.get(reloads('invalid_config')), 1);
  assert.equal(after.get(reloads('ok')), 1);
  assert.equal(after.get(GET_2XX), 70);
  assert.equal(after.get(workers('ready')), 2);
});

test('max_requests recycles workers under load and scraped counts never go backwards', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { ...METRICS, max_requests: 15 }) } });
  const base = await metricsUrl(server);
  const recycled = () => server.countLogs('worker exited', { reason: 'max_requests' });
  const watch = watchTotal(base);
  // Bounded at 20 000 requests; ends once three workers have been recycled under it.
  const result = await runLoad(`${server.url()}/`, { total: 20_000, concurrency: 4, stop: () => recycled() >= 3 });
  const seen = await watch.stop();
  assert.deepEqual(result.errors, []);
  assert.ok(
    recycled() >= 3,
    `only ${recycled()} recycled of ${result.total}; asked ${server.countLogs('worker asks to be replaced')}, spawned ${server.countLogs('worker ready', { component: 'master' })}`,
  );
  assertNeverBackwards(seen);
  assert.ok(seen.length > 3, `${seen.length} scrapes during the load`);
  const s = await scrapeUntil(base, `${result.ok} requests`, (s) => s.get(GET_2XX) === result.ok);
  assert.ok((s.get(restarts('max_requests')) ?? 0) >= 3);
  assert.equal(s.get(series('tsicorn_request_duration_seconds_count', { method: 'GET', status: '2xx' })), result.ok);
  t.diagnostic(`${result.ok} requests, ${recycled()} workers recycled, ${seen.length} scrapes during the load`);
});

test('a SIGKILLed worker is counted as a restart for reason exit, and its requests stay counted', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, METRICS) } });
  const base = await metricsUrl(server);
  assert.equal((await runLoad(`${server.url()}/`, { total: 30, concurrency: 3, close: true })).ok, 30);
  // The ledger learns each worker's counts from its answers; a SIGKILL leaves no final report.
  await scrapeUntil(base, '30 requests', (s) => s.get(GET_2XX) === 30);
  const [victim] = server.workerPids();
  process.kill(victim as number, 'SIGKILL');
  await server.waitForLog('worker died', { workerPid: victim });
  await server.waitFor('a replacement', () => server.workerPids().length === 2 && !server.workerPids().includes(victim as number));
  const s = await scrapeUntil(base, 'the restart', (s) => s.get(restarts('exit')) === 1 && s.get(workers('ready')) === 2);
  assert.equal(s.get(GET_2XX), 30);
  assert.equal(s.get(restarts('reload')), 0);
});

test('a worker whose event loop is blocked cannot hang a scrape', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { ...METRICS, workers: 1, timeout: 0 }) } });
  const base = await metricsUrl(server);
  assert.equal((await runLoad(`${server.url()}/`, { total: 10, concurrency: 2 })).ok, 10);
  await scrapeUntil(base, '10 requests', (s) => s.get(GET_2XX) === 10);
  const blocked = fetch(`${server.url()}/block?ms=6000`, { signal: AbortSignal.timeout(20_000) }).then(
    (r) => r.text(),
    () => null,
  );
  // The first scrapes may come before the request blocks; the loop ends at the first unanswered one.
  const s = await scrapeUntil(
    base,
    'a scrape the worker did not answer',
    (s) => (s.get('tsicorn_metrics_gather_timeouts_total') ?? 0) >= 1,
  );
  const started = Date.now();
  const again = await scrape(base);
  const tookMs = Date.now() - started;
  assert.ok(tookMs < 3000, `a scrape took ${tookMs} ms while the worker was blocked`);
  assert.equal(s.get(GET_2XX), 10, 'the last counts of the worker that did not answer are kept');
  assert.equal(again.get(workers('ready')), 1);
  assert.ok(server.findLog('workers did not answer the metrics request in time; their last counts are used'));
  await blocked;
});

test('/-/ready is 503 while the first workers boot and 200 once they are ready; /-/healthy is 200 throughout', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(GATED, METRICS) }, waitReady: false });
  const base = await metricsUrl(server);
  const booting = await fetch(`${base}/-/ready`);
  assert.equal(booting.status, 503);
  assert.deepEqual(await booting.json(), { status: 'not ready', ready: 0, target: 2, state: 'booting' });
  assert.equal((await fetch(`${base}/-/healthy`)).status, 200);
  const s: Scrape = await scrape(base);
  assert.equal(s.get(workers('booting')), 2);
  assert.equal(s.get(workers('ready')), 0);
  writeFileSync(join(server.dir, 'gate'), '');
  await server.waitForLog('server ready');
  const ready = await fetch(`${base}/-/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready', ready: 2, target: 2, state: 'running' });
});

test('USR2: the new master takes the metrics address over once the old one leaves', { timeout: 60_000 }, async (t) => {
  const probe = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => probe.once('listening', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { ...METRICS, metrics: { bind: `127.0.0.1:${port}` } }) },
  });
  // The successor is in the old master's process group: kill the group even after the old one left.
  t.after(() => {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  });
  const base = `http://127.0.0.1:${port}`;
  assert.equal((await runLoad(`${server.url()}/`, { total: 10, concurrency: 2 })).ok, 10);
  await scrapeUntil(base, '10 requests', (s) => s.get(GET_2XX) === 10);
  process.kill(server.pid, 'SIGUSR2');
  const handover = await server.waitForLog('upgrade: new master is serving; this one leaves');
  const newPid = handover.newMasterPid as number;
  await server.exited;
  // The new master's log comes through the same stderr; waitFor stops at the old one's exit.
  await until('the new master on the metrics address', () => server.logs.some((l) => l.msg === 'metrics listening' && l.pid === newPid));
  const s = await scrape(base);
  assert.equal(s.get(workers('ready')), 2);
  assert.equal(s.get(GET_2XX) ?? 0, 0, 'a new master counts from zero (Prometheus sees a counter reset)');
  assert.equal((await fetch(`${base}/-/ready`)).status, 200);
});
