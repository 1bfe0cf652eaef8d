import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { load, runLoad } from '../helpers/load.js';
import { BIN, cleanEnv, isAlive, ROOT, serverYaml, startServer, until } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');

test('a SIGKILLed worker is replaced and the server keeps serving', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP) } });
  const [victim, other] = server.workerPids();
  assert.ok(victim && other);
  process.kill(victim, 'SIGKILL');
  const died = await server.waitForLog('worker died', { workerPid: victim });
  assert.equal(died.signal, 'SIGKILL');
  await server.waitFor('a replacement worker', () => server.workerPids().length === 2 && !server.workerPids().includes(victim));
  const result = await load(`${server.url()}/`, 40, 4);
  assert.equal(result.ok, 40, result.errors.join('\n'));
});

test('a worker whose event loop blocks longer than timeout is killed and replaced', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, timeout: 1 }) } });
  const [blocked] = server.workerPids();
  const hung = fetch(`${server.url()}/wait-then-block?wait=600`, { signal: AbortSignal.timeout(20_000) }).then(
    (r) => r.status,
    (e: Error) => e.name,
  );
  const timedOut = await server.waitForLog('worker timed out (event loop blocked); killing it', { workerPid: blocked });
  assert.ok((timedOut.stalledMs as number) > 1000, `stalled ${timedOut.stalledMs} ms`);
  assert.equal(timedOut.level, 'error');
  assert.equal(timedOut.oldestRequest, 'GET /wait-then-block?wait=600', 'the log says what it was serving');
  const exited = await server.waitForLog('worker exited', { workerPid: blocked });
  assert.equal(exited.reason, 'timeout');
  assert.equal(exited.signal, 'SIGKILL');
  await server.waitFor('a replacement worker', () => server.workerPids().length === 1 && server.workerPids()[0] !== blocked);
  assert.equal((await fetch(`${server.url()}/`)).status, 200);
  assert.notEqual(await hung, 200, 'the blocked request could not be answered');
});

test('a handler that blocks the moment it is called is still named in the timeout log', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, timeout: 1 }) } });
  const [blocked] = server.workerPids();
  // The worker has served nothing: no regular heartbeat knows of this request.
  const hung = fetch(`${server.url()}/block?ms=60000`, { signal: AbortSignal.timeout(20_000) }).then(
    (r) => r.status,
    (e: Error) => e.name,
  );
  const timedOut = await server.waitForLog('worker timed out (event loop blocked); killing it', { workerPid: blocked });
  assert.equal(timedOut.oldestRequest, 'GET /block?ms=60000');
  assert.equal(timedOut.inflight, 1);
  assert.notEqual(await hung, 200);
});

test('max_requests recycles workers under concurrent load without a failed request', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 2, max_requests: 50, max_requests_jitter: 10 }) },
  });
  // Load runs until four workers have been recycled under it (bounded at 20 000 requests).
  const recycled = () => server.countLogs('worker exited', { reason: 'max_requests' });
  const result = await load(`${server.url()}/`, 20_000, 8, 10_000, () => recycled() >= 4);
  assert.deepEqual(result.errors, []);
  assert.equal(
    result.ok,
    [...result.statuses.values()].reduce((a, b) => a + b, 0),
    'every answer was a 200',
  );
  assert.ok(recycled() >= 4, `only ${recycled()} workers were recycled in ${result.ok} requests`);
  assert.ok(result.pids.size >= 4, `answers came from ${result.pids.size} workers`);
  assert.equal(server.countLogs('worker died'), 0);
});

test('max_requests under Connection: close load: replacements that reach it within min_uptime relieve their elders, within 2 × workers processes', {
  timeout: 60_000,
}, async (t) => {
  // Every new connection may reach a new worker, so a replacement serves its 50 requests long
  // before it has stayed up min_uptime (1 s), and is marked for replacement in turn.
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 2, max_requests: 50, max_requests_jitter: 10 }) },
  });
  const recycled = () => server.countLogs('worker exited', { reason: 'max_requests' });
  // Slow requests beside the load keep leaving workers draining for a while: they are processes
  // too, and count toward the cap of 2 × workers.
  let done = false;
  const slow = runLoad(`${server.url()}/slow?ms=500`, { total: 2_000, concurrency: 6, close: true, stop: () => done });
  let most = 0;
  const result = await runLoad(`${server.url()}/`, {
    total: 20_000,
    concurrency: 8,
    close: true,
    stop: () => {
      most = Math.max(most, server.workerPids().length);
      return recycled() >= 6;
    },
  });
  done = true;
  assert.deepEqual(result.errors, []);
  assert.deepEqual((await slow).errors, []);
  assert.ok(recycled() >= 6, `only ${recycled()} workers were recycled in ${result.ok} requests`);
  assert.ok(most <= 4, `${most} workers were running at once for a target of 2`);
  assert.equal(server.countLogs('worker died'), 0);
});

test('SIGTERM lets an in-flight request finish, then the master exits 0', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP) } });
  const res = await fetch(`${server.url()}/slow-body?ms=1500`);
  assert.equal(res.status, 200, 'headers are in: the request is in flight');
  process.kill(server.pid, 'SIGTERM');
  await server.waitForLog('stopping gracefully');
  assert.equal(await res.text(), 'finished after 1500 ms');
  assert.equal(await server.waitForExit(), 0);
  assert.ok(server.findLog('stopped'));
});

test('SIGINT stops at once, without waiting for in-flight requests', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP) } });
  const res = await fetch(`${server.url()}/slow-body?ms=20000`);
  const started = Date.now();
  process.kill(server.pid, 'SIGINT');
  await assert.rejects(res.text());
  assert.equal(await server.waitForExit(), 0);
  assert.ok(Date.now() - started < 5000, 'a quick stop does not wait for the slow request');
});

test('when the master is SIGKILLed, workers finish in-flight requests and exit', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP) } });
  const pids = server.workerPids();
  assert.equal(pids.length, 2);
  const res = await fetch(`${server.url()}/slow-body?ms=1000`);
  process.kill(server.pid, 'SIGKILL');
  assert.equal(await res.text(), 'finished after 1000 ms', 'the in-flight request was answered');
  await until('every worker to exit', () => pids.every((pid) => !isAlive(pid)));
});

test('when the master is SIGKILLed, a request outlasting graceful_timeout is cut and the worker still exits', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, graceful_timeout: 1 }) } });
  const pids = server.workerPids();
  const res = await fetch(`${server.url()}/slow-body?ms=20000`);
  const started = Date.now();
  process.kill(server.pid, 'SIGKILL');
  // No master is left to kill it: the worker's own drain deadline must end it.
  await assert.rejects(res.text());
  await until('the worker to exit', () => pids.every((pid) => !isAlive(pid)), 10_000);
  const tookMs = Date.now() - started;
  assert.ok(tookMs >= 900 && tookMs < 5000, `the worker left ${tookMs} ms after the master, with graceful_timeout 1 s`);
});

test('an app that crashes right after start is respawned with exponential back-off', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(join(ROOT, 'test', 'fixtures', 'serve', 'crash-later.mjs'), { workers: 1 }) },
  });
  await server.waitFor('three back-offs', () => server.countLogs('worker crashed soon after start; backing off') >= 3);
  const delays = server.logs.filter((l) => l.msg === 'worker crashed soon after start; backing off').map((l) => l.delayMs);
  assert.deepEqual(delays.slice(0, 3), [500, 1000, 2000]);
  const died = server.findLog('worker died');
  assert.equal(died?.code, 7, 'the log names the exit code');
  assert.equal(server.findLog('worker crashed soon after start; backing off')?.cause, 'exit 7', 'the back-off names its cause');
  // 3 crashes take ~0.3 s each plus 0.5 + 1 s of back-off: no fork loop.
  assert.ok(server.countLogs('worker ready', { component: 'master' }) <= 4);
});

test('TTIN adds a worker and TTOU retires one', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP) } });
  process.kill(server.pid, 'SIGTTIN');
  await server.waitForLog('worker count changed', { from: 2, to: 3 });
  await server.waitFor('3 workers', () => server.workerPids().length === 3);
  // Signals of one kind do not queue: wait for each to be handled before sending the next.
  process.kill(server.pid, 'SIGTTOU');
  await server.waitForLog('worker count changed', { from: 3, to: 2 });
  process.kill(server.pid, 'SIGTTOU');
  await server.waitFor('1 worker', () => server.workerPids().length === 1);
  assert.equal(server.countLogs('worker exited', { reason: 'scale' }), 2);
  process.kill(server.pid, 'SIGTTOU');
  await server.waitFor('the TTOU at one worker', () => server.countLogs('signal received', { signal: 'SIGTTOU' }) === 3);
  process.kill(server.pid, 'SIGTTIN');
  await server.waitForLog('worker count changed', { from: 1, to: 2 });
  assert.equal(server.countLogs('worker count changed', { to: 0 }), 0, 'never below one worker');
});

test('balance: round-robin hands connections to every worker and survives a worker dying', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 2, balance: 'round-robin' }) } });
  const first = await load(`${server.url()}/`, 40, 4);
  assert.equal(first.ok, 40, first.errors.join('\n'));
  assert.deepEqual([...first.pids].sort(), server.workerPids().sort(), 'both workers served');
  const [victim] = server.workerPids();
  process.kill(victim as number, 'SIGKILL');
  await server.waitForLog('worker died', { workerPid: victim });
  const second = await load(`${server.url()}/`, 40, 4);
  assert.equal(second.ok, 40, second.errors.join('\n'));
});

test('max_memory: a worker above it is replaced gracefully, its in-flight request finishing', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 1, max_memory: '150MiB', min_uptime: 0 }) },
  });
  const [big] = server.workerPids();
  const inflight = await fetch(`${server.url()}/slow-body?ms=1500`);
  assert.match(await (await fetch(`${server.url()}/grow?mb=160`)).text(), /^holding 160 MiB$/);
  const over = await server.waitForLog('worker above max_memory; replacing it', { workerPid: big });
  assert.ok((over.rss as number) > 150 * 1024 * 1024, `rss ${over.rss}`);
  assert.equal(over.level, 'warn');
  const exited = await server.waitForLog('worker exited', { workerPid: big });
  assert.equal(exited.reason, 'memory');
  assert.equal(exited.code, 0, 'drained, not killed');
  assert.equal(await inflight.text(), 'finished after 1500 ms');
  assert.equal(server.workerPids().length, 1);
  assert.equal((await fetch(`${server.url()}/`)).status, 200);
});

test('max_memory under what a new worker takes: the workers serve on, each said once to be over it', { timeout: 30_000 }, async (t) => {
  // 20MiB passes check-config (16MiB is the least) but no Node worker starts under it.
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 2, max_memory: '20MiB', min_uptime: 0 }) } });
  const first = server.workerPids().sort();
  const SAID = 'worker above max_memory since it started; not replacing it, a new one would start as large (raise max_memory)';
  for (const pid of first) {
    const said = await server.waitForLog(SAID, { workerPid: pid });
    assert.equal(said.level, 'warn');
    assert.ok((said.rss as number) > 20 * 1024 * 1024, `rss ${said.rss}`);
  }
  // A replacement would start at the tick that said so: the same two workers are still the only
  // ones, ready, when `tsicorn status` (fresh figures from each) finds them 3 s old, 12 ticks on.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const run = spawnSync(process.execPath, [BIN, 'status', '--json'], {
      cwd: server.dir,
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const workers = (JSON.parse(run.stdout) as { workers: { pid: number; state: string; ageSeconds: number }[] }).workers;
    assert.deepEqual(workers.map((w) => w.pid).sort(), first, 'no worker was started or let go');
    assert.ok(workers.every((w) => w.state === 'ready'));
    if (workers.every((w) => w.ageSeconds >= 3)) break;
    assert.ok(Date.now() < deadline, 'the workers did not reach 3 s of age');
  }
  for (const pid of first) assert.equal(server.countLogs(SAID, { workerPid: pid }), 1, 'said once');
  assert.equal(server.countLogs('worker above max_memory; replacing it'), 0);
  assert.equal((await fetch(`${server.url()}/`)).status, 200);
});
