import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runLoad } from '../helpers/load.js';
import { RawClient } from '../helpers/raw-http.js';
import { BIN, cleanEnv, isAlive, ROOT, type RunningServer, serverYaml, startServer, until } from '../helpers/server.js';
import { freePort } from '../helpers/tools.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');

/** Sends HUP `times` times, each after the previous rotation finished. */
async function hupRotations(server: RunningServer, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const before = server.countLogs('rotation finished');
    process.kill(server.pid, 'SIGHUP');
    await server.waitFor(`rotation ${i + 1}`, () => server.countLogs('rotation finished') > before);
  }
}

for (const close of [false, true]) {
  const mode = close ? 'Connection: close' : 'keep-alive';
  test(`20 HUP reloads under ${mode} load: no failed request, no reset`, { timeout: 120_000 }, async (t) => {
    const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 2 }) } });
    let done = false;
    const loadRun = runLoad(`${server.url()}/`, { total: 200_000, concurrency: 8, close, stop: () => done });
    // Longer than a rotation (boot, then min_uptime 1 s, then the drain begins: about 2 s here
    // under this load), so that the drain begins while it is in flight; 2 s was sometimes not.
    const slow = fetch(`${server.url()}/slow?ms=5000`);
    // How many log lines there were when the slow answer came: what the workers had logged by then.
    let linesAtAnswer = 0;
    void slow.then(() => {
      linesAtAnswer = server.logs.length;
    });
    try {
      await hupRotations(server, 20);
    } finally {
      done = true;
    }
    const result = await loadRun;
    const slowRes = await slow;
    assert.equal(slowRes.status, 200, 'the 5-second request in flight during the reloads completed');
    assert.equal(await slowRes.text(), 'slept 5000');
    // Sent before the first HUP, it was served by a first-generation worker: all of them were
    // draining before it was answered, so it was in flight during a rotation, not before it.
    const drainingFirst = server.logs.slice(0, linesAtAnswer).filter((l) => l.msg === 'worker draining' && l.generation === 1);
    assert.equal(drainingFirst.length, 2, 'the slow request was answered before its worker began to drain');
    assert.deepEqual(result.errors.slice(0, 5), [], `${result.errors.length} failed of ${result.total}`);
    assert.equal(result.ok, result.total);
    assert.ok(result.total > 200, `only ${result.total} requests were sent during the reloads`);
    assert.ok(result.pids.size >= 10, `answers came from ${result.pids.size} workers`);
    t.diagnostic(`${mode}: ${result.total} requests during 20 reloads, 0 failed`);
  });
}

test('a drain answers the request in flight and the next one on an idle keep-alive connection, each with Connection: close', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, keepalive: 5 }) } });
  const [old] = server.workerPids();
  const busy = await RawClient.open(server.url());
  const idle = await RawClient.open(server.url());
  t.after(() => {
    busy.destroy();
    idle.destroy();
  });
  idle.send('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
  await idle.waitFor('the first answer', (text) => text.includes('"path":"/first"'));
  assert.doesNotMatch(idle.text, /\r\nconnection: close\r\n/i, 'before the drain the connection is kept');
  // In flight when the drain begins: its head is not written yet (a rotation waits min_uptime 1 s).
  busy.send('GET /slow?ms=4000 HTTP/1.1\r\nHost: x\r\n\r\n');
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('worker draining', { component: 'worker', pid: old });
  // Idle for less than the keep-alive grace: the old worker still answers on it, and says it closes.
  const before = idle.text.length;
  idle.send('GET /second HTTP/1.1\r\nHost: x\r\n\r\n');
  const second = (await idle.readAll()).slice(before);
  assert.match(second, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(second, /\r\nconnection: close\r\n/i);
  assert.match(second, new RegExp(`"pid":${old},"path":"/second"`), 'answered by the draining worker');
  const slow = await busy.readAll();
  assert.match(slow, /\r\nconnection: close\r\n/i, 'the response in flight at the drain closes its connection');
  assert.match(slow, /slept 4000$/);
  await server.waitForLog('worker exited', { workerPid: old, reason: 'reload' });
});

test('saving the file: workers 2 → 3 applies live; invalid YAML keeps serving; delete + re-create survives', {
  timeout: 60_000,
}, async (t) => {
  const server = await startServer(t, { waitWatching: true, files: { 'server.yaml': serverYaml(APP, { workers: 2 }) } });
  const file = join(server.dir, 'server.yaml');
  const pids = server.workerPids();
  writeFileSync(file, serverYaml(APP, { workers: 3 }));
  const reloaded = await server.waitForLog('config reloaded', { trigger: 'watch' });
  assert.deepEqual(reloaded.changes, ['workers: 2 → 3']);
  await server.waitFor('3 workers', () => server.workerPids().length === 3);
  assert.ok(
    pids.every((p) => server.workerPids().includes(p)),
    'a worker count change needs no rotation',
  );

  writeFileSync(file, 'app: app.js\nworkers: [3\n');
  const failed = await server.waitForLog('reload failed: config invalid; keeping the running config and workers');
  assert.match(String((failed.errors as string[])[0]), /^server\.yaml:\d+:\d+: /);
  assert.equal((await fetch(`${server.url()}/`)).status, 200);
  assert.equal(server.workerPids().length, 3);

  unlinkSync(file);
  await server.waitForLog('config file removed; serving on with the running config');
  assert.equal((await fetch(`${server.url()}/`)).status, 200);
  // Re-created the way editors save: write a temp file, rename it over.
  writeFileSync(`${file}.tmp`, serverYaml(APP, { workers: 2 }));
  renameSync(`${file}.tmp`, file);
  await server.waitFor('2 workers', () => server.workerPids().length === 2);
  const after = server.logs.filter((l) => l.msg === 'config reloaded').at(-1);
  assert.deepEqual(after?.changes, ['workers: 3 → 2']);
});

test('a saved file with the same content does nothing', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { waitWatching: true, files: { 'server.yaml': serverYaml(APP, { workers: 1 }) } });
  const file = join(server.dir, 'server.yaml');
  writeFileSync(file, readFileSync(file));
  await server.waitForLog('config file saved without changes; nothing to do');
  assert.equal(server.countLogs('rotation started'), 0);
});

const version = (v: string) => `export default (req, res) => res.end(JSON.stringify({ version: '${v}', pid: process.pid }));\n`;

for (const broken of [
  { name: 'a syntax error', code: 'export default (req, res) => res.end(;\n', error: /SyntaxError|Unexpected token/ },
  { name: 'an app that throws at import', code: "throw new Error('cannot reach the database');\n", error: /cannot reach the database/ },
]) {
  test(`a deploy with ${broken.name} + HUP keeps the old code serving; a fixed deploy + HUP serves the new code`, {
    timeout: 60_000,
  }, async (t) => {
    const server = await startServer(t, {
      files: { 'server.yaml': serverYaml('app.mjs', { workers: 2 }), 'app.mjs': version('v1') },
    });
    const app = join(server.dir, 'app.mjs');
    const pids = server.workerPids().sort();
    writeFileSync(app, broken.code);
    process.kill(server.pid, 'SIGHUP');
    const failed = await server.waitForLog('reload failed: a new worker did not start; the running workers keep serving');
    assert.match(`${failed.error}\n${failed.stack}`, broken.error);
    await server.waitFor('the new generation to be gone', () => server.workerPids().length === 2);
    assert.deepEqual(server.workerPids().sort(), pids, 'the old workers were never retired');
    const old = (await (await fetch(`${server.url()}/`)).json()) as { version: string };
    assert.equal(old.version, 'v1');

    writeFileSync(app, version('v2'));
    process.kill(server.pid, 'SIGHUP');
    await server.waitForLog('rotation finished');
    // Old workers drain (their keep-alive connections still reach them) until they exit.
    await server.waitFor('the old workers to exit', () => pids.every((pid) => server.findLog('worker exited', { workerPid: pid })));
    const fresh = (await (await fetch(`${server.url()}/`)).json()) as { version: string };
    assert.equal(fresh.version, 'v2');
  });
}

test('reload.code: editing the app serves the new code within seconds', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    waitWatching: true,
    files: { 'server.yaml': serverYaml('app.mjs', { workers: 1, reload: { code: true } }), 'app.mjs': version('v1') },
  });
  writeFileSync(join(server.dir, 'app.mjs'), version('v2'));
  const reloaded = await server.waitForLog('config reloaded', { trigger: 'code' });
  assert.match(String(reloaded.path), /app\.mjs$/);
  await server.waitForLog('rotation finished');
  await server.waitForLog('worker exited', { reason: 'reload' });
  const res = (await (await fetch(`${server.url()}/`)).json()) as { version: string };
  assert.equal(res.version, 'v2');
});

test('HUPs during a rotation are coalesced into one pending reload', { timeout: 30_000 }, async (t) => {
  // Slow boots (boot_timeout is generous) keep the first rotation open while more HUPs arrive.
  const server = await startServer(t, {
    files: {
      'server.yaml': serverYaml('app.mjs', { workers: 2 }),
      'app.mjs': `await new Promise((r) => setTimeout(r, 700));\n${version('v1')}`,
    },
  });
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation started');
  // Signals of one kind do not queue in the kernel: send each once the previous was received.
  for (let i = 1; i <= 2; i++) {
    process.kill(server.pid, 'SIGHUP');
    await server.waitFor(`HUP ${i + 1} queued`, () => server.countLogs('reload queued until the current one ends') >= i);
  }
  assert.equal(server.countLogs('rotation finished'), 0, 'the HUPs arrived during the first rotation');
  await server.waitFor('two rotations', () => server.countLogs('rotation finished') >= 2);
  // Three HUPs, two rotations: the two queued during the first ran as one.
  assert.equal(server.countLogs('rotation started'), 2);
  assert.equal(server.countLogs('config reloaded'), 2);
});

test('USR2: a new master takes over the sockets, the pid changes, no connection is refused', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 2, pidfile: 'tsicorn.pid' }) } });
  const pidfile = join(server.dir, 'tsicorn.pid');
  assert.equal(Number(readFileSync(pidfile, 'utf8')), server.pid);
  let done = false;
  // A new connection per request: a moment with no listening socket would show as ECONNREFUSED.
  const loadRun = runLoad(`${server.url()}/`, { total: 100_000, concurrency: 4, close: true, stop: () => done });
  try {
    process.kill(server.pid, 'SIGUSR2');
    const handover = await server.waitForLog('upgrade: new master is serving; this one leaves');
    const newPid = handover.newMasterPid as number;
    assert.notEqual(newPid, server.pid);
    await server.exited;
    assert.equal(server.exitCode, 0, 'the old master left cleanly');
    assert.equal(Number(readFileSync(pidfile, 'utf8')), newPid, 'the pidfile names the new master');
    // Keep the load on the new master alone for a little: 200 more answered requests.
    const after = await runLoad(`${server.url()}/`, { total: 200, concurrency: 4, close: true });
    assert.deepEqual(after.errors, []);
    assert.ok([...after.pids].length > 0);
  } finally {
    done = true;
  }
  const result = await loadRun;
  assert.deepEqual(result.errors.slice(0, 5), [], `${result.errors.length} failed of ${result.total}`);
  assert.ok(result.total > 50, `only ${result.total} requests`);
  const newPid = Number(readFileSync(pidfile, 'utf8'));
  process.kill(newPid, 'SIGTERM');
  await until('the new master to stop', () => !isAlive(newPid));
});

test('tsicorn reload finds the master through the pidfile (no control socket); with none running it says so', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 1, pidfile: 'tsicorn.pid', control: { socket: null } }) },
  });
  const reload = spawnSync(process.execPath, [BIN, 'reload', '-c', 'server.yaml'], { cwd: server.dir, env: cleanEnv(), encoding: 'utf8' });
  assert.equal(reload.status, 0, reload.stderr);
  assert.match(reload.stdout, new RegExp(`^reload requested: sent SIGHUP to the master \\(pid ${server.pid}\\)`));
  await server.waitForLog('rotation finished');
  process.kill(server.pid, 'SIGTERM');
  assert.equal(await server.waitForExit(), 0);
  const again = spawnSync(process.execPath, [BIN, 'reload', '-c', 'server.yaml'], { cwd: server.dir, env: cleanEnv(), encoding: 'utf8' });
  assert.equal(again.status, 1);
  assert.match(again.stderr, /no server is running for this config: .*tsicorn\.pid does not exist \(TSI_ERR_NOT_RUNNING\)/);
});

test('a bind change opens the new listener before the rotation and closes the removed one after', { timeout: 30_000 }, async (t) => {
  const port = await freePort();
  const server = await startServer(t, { waitWatching: true, files: { 'server.yaml': serverYaml(APP, { workers: 1 }) } });
  const oldUrl = server.url();
  writeFileSync(join(server.dir, 'server.yaml'), serverYaml(APP, { workers: 1, bind: `127.0.0.1:${port}` }));
  const reloaded = await server.waitForLog('config reloaded', { trigger: 'watch' });
  assert.match(String((reloaded.changes as string[])[0]), /^bind: \["127\.0\.0\.1:0"\] → \["127\.0\.0\.1:\d+"\]$/);
  await server.waitForLog('rotation started');
  // The rotation lasts min_uptime (1 s) at least: the address it drops still serves during it.
  assert.equal((await fetch(`${oldUrl}/`)).status, 200);
  assert.equal(server.countLogs('rotation finished'), 0, 'the old address served during the rotation');
  await server.waitForLog('rotation finished');
  assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
  await server.waitForLog('worker exited', { reason: 'reload' });
  await assert.rejects(fetch(`${oldUrl}/`, { signal: AbortSignal.timeout(3000) }), 'the removed listener is closed');
});

test('a new bind address that cannot be bound fails the reload before any new worker starts', { timeout: 30_000 }, async (t) => {
  const { createServer } = await import('node:net');
  const holder = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => holder.once('listening', r));
  t.after(() => holder.close());
  const taken = (holder.address() as { port: number }).port;
  const debug = { workers: 1, log: { level: 'debug' } };
  const server = await startServer(t, { waitWatching: true, files: { 'server.yaml': serverYaml(APP, debug) } });
  const pids = server.workerPids();
  assert.equal(server.countLogs('worker spawned'), 1);
  writeFileSync(join(server.dir, 'server.yaml'), serverYaml(APP, { ...debug, bind: ['127.0.0.1:0', `127.0.0.1:${taken}`] }));
  const failed = await server.waitForLog('reload failed: cannot open the new listeners; keeping the running config and workers');
  assert.match(String(failed.error), /EADDRINUSE/);
  assert.equal(server.countLogs('rotation started'), 0);
  assert.equal(server.countLogs('worker spawned'), 1, 'no new worker was started');
  assert.deepEqual(server.workerPids(), pids);
  assert.equal((await fetch(`${server.url()}/`)).status, 200);
});

test('max_surge 1 boots one new worker at a time', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 3, max_surge: 1, log: { level: 'debug' } }) } });
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation finished');
  // Between rotation start and finish, never more than one generation-2 worker was booting:
  // each new worker became ready before the next was started.
  const start = server.logs.findIndex((l) => l.msg === 'rotation started');
  let booting = 0;
  let peak = 0;
  for (const l of server.logs.slice(start)) {
    if (l.msg === 'worker spawned') booting++;
    if (l.msg === 'worker ready' && l.component === 'master') booting--;
    peak = Math.max(peak, booting);
  }
  assert.equal(peak, 1);
  assert.equal(server.countLogs('worker ready', { component: 'master', generation: 2 }), 3);
});

test('a new worker not ready within boot_timeout abandons the rotation', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml('app.mjs', { workers: 1, boot_timeout: 1 }), 'app.mjs': version('v1') },
  });
  writeFileSync(join(server.dir, 'app.mjs'), `await new Promise(() => {});\n${version('v2')}`);
  process.kill(server.pid, 'SIGHUP');
  const failed = await server.waitForLog('reload failed: a new worker did not start; the running workers keep serving');
  assert.match(String(failed.error), /not ready within boot_timeout \(1 s\)/);
  const res = (await (await fetch(`${server.url()}/`)).json()) as { version: string };
  assert.equal(res.version, 'v1');
});
