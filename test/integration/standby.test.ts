import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, cleanEnv, isAlive, type LogLine, type RunningServer, serverYaml, startServer, until } from '../helpers/server.js';
import { freePort } from '../helpers/tools.js';

/** standby_workers: processes started ahead that rotations and replacements take (src/master/standby.ts). */

const app = (version: string) =>
  `export default (req, res) => res.end(JSON.stringify({ version: '${version}', pid: process.pid, x: process.env.X ?? null }));\n`;
const answer = async (server: RunningServer) =>
  (await (await fetch(`${server.url()}/`)).json()) as { version: string; pid: number; x: string | null };
const standbyPids = (server: RunningServer, msg = 'standby process started') =>
  server.logs.filter((l) => l.msg === msg).map((l) => l.standbyPid as number);
const spawned = (server: RunningServer, generation: number) =>
  server.logs.filter((l) => l.msg === 'worker spawned' && l.generation === generation);
const title = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '');

test('a rotation takes the standbys, which then serve; new ones are started; none outlives the master', { timeout: 30_000 }, async (t) => {
  const config = { workers: 2, standby_workers: 2, min_uptime: 0, log: { level: 'debug' }, metrics: { bind: '127.0.0.1:0' } };
  const server = await startServer(t, { files: { 'server.yaml': serverYaml('app.mjs', config), 'app.mjs': app('v1') } });
  await server.waitFor('2 standbys', () => standbyPids(server).length === 2);
  const ahead = standbyPids(server);
  // Its modules loaded, a standby names itself and waits.
  await until('the standbys to load', () => ahead.every((pid) => title(pid) === 'tsicorn: standby [app.mjs]'));
  const status = spawnSync(process.execPath, [BIN, 'status'], { cwd: server.dir, env: cleanEnv(), encoding: 'utf8', timeout: 15_000 });
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^standby processes: ${ahead.join(', ')}$`, 'm'));
  const metrics = await (await fetch(`http://${server.findLog('metrics listening')?.address}/metrics`)).text();
  assert.match(metrics, /^tsicorn_standby_workers 2$/m);

  writeFileSync(join(server.dir, 'app.mjs'), app('v2'));
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation finished', { generation: 2 });
  const fresh = spawned(server, 2);
  assert.deepEqual(
    fresh.map((l) => [l.standby, l.workerPid]),
    ahead.map((pid) => [true, pid]),
    'both new workers are the standbys',
  );
  const served = await answer(server);
  assert.equal(served.version, 'v2', 'a standby loads the app it is booted with, not one from before');
  assert.ok(ahead.includes(served.pid));
  assert.match(title(served.pid), /^tsicorn: worker \d+ \[app\.mjs\]$/);

  await server.waitFor('2 more standbys', () => standbyPids(server).length === 4);
  const all = [...standbyPids(server), ...server.workerPids()];
  assert.equal((await server.terminate()).code, 0);
  await until('every standby and worker to exit', () => all.every((pid) => !isAlive(pid)));
});

test('a standby of another environment is let go, not taken; one started alike replaces it', { timeout: 30_000 }, async (t) => {
  const config = (x: string) =>
    serverYaml('app.mjs', { workers: 1, standby_workers: 1, min_uptime: 0, env: { X: x }, log: { level: 'debug' } });
  const server = await startServer(t, { waitWatching: true, files: { 'server.yaml': config('a'), 'app.mjs': app('v1') } });
  await server.waitFor('a standby', () => standbyPids(server).length === 1);
  const [old] = standbyPids(server);
  assert.ok(old);

  writeFileSync(join(server.dir, 'server.yaml'), config('b'));
  await server.waitForLog('rotation finished', { generation: 2 });
  assert.deepEqual(
    spawned(server, 2).map((l) => l.standby),
    [false],
    'the new worker is a new process',
  );
  assert.equal((await answer(server)).x, 'b');
  await server.waitForLog('standby process let go', { standbyPid: old });
  await server.waitFor('a standby started with X=b', () => standbyPids(server).length === 2);
  const environ = readFileSync(`/proc/${standbyPids(server)[1]}/environ`, 'utf8').split('\0');
  assert.ok(environ.includes('X=b'), 'the new standby has the new environment');
  await until('the old standby to exit', () => !isAlive(old));

  // Lowered to 0 by a save (a live setting): the standby goes, the worker stays.
  const current = spawned(server, 2)[0]?.workerPid;
  const [second] = standbyPids(server).slice(1);
  assert.ok(second);
  writeFileSync(
    join(server.dir, 'server.yaml'),
    serverYaml('app.mjs', { workers: 1, standby_workers: 0, min_uptime: 0, env: { X: 'b' }, log: { level: 'debug' } }),
  );
  await server.waitForLog('standby process let go', { standbyPid: second });
  await until('the standby to exit', () => !isAlive(second));
  assert.deepEqual(server.workerPids(), [current]);
});

test('a crashed worker is replaced by a standby; a standby stopped by a signal exits, is said, and started again after a pause', {
  timeout: 60_000,
}, async (t) => {
  const config = { workers: 1, standby_workers: 1, min_uptime: 0, log: { level: 'debug' } };
  const server = await startServer(t, { files: { 'server.yaml': serverYaml('app.mjs', config), 'app.mjs': app('v1') } });
  await server.waitFor('a standby', () => standbyPids(server).length === 1);
  const [standby] = standbyPids(server);
  const [victim] = server.workerPids();
  assert.ok(standby && victim);
  process.kill(victim, 'SIGKILL');
  await server.waitForLog('worker died', { workerPid: victim });
  const replacement = await server.waitForLog('worker ready', { workerPid: standby });
  assert.equal(replacement.generation, 1);
  assert.equal((await answer(server)).pid, standby);

  // An operator's kill: a standby has nothing to drain, and must not keep the signal for later.
  const stop = async (pid: number) => {
    await until('the standby to load', () => title(pid) === 'tsicorn: standby [app.mjs]');
    process.kill(pid, 'SIGTERM');
    const warned = await server.waitForLog('standby process exited; holding off', { standbyPid: pid });
    assert.equal(warned.code, 0);
    assert.equal(warned.level, 'warn');
    return warned;
  };
  /** The standby started after the `n`-th, and how long after `since` (a warning) it came. */
  const startedAfter = async (n: number, since: LogLine, ms: number) => {
    await server.waitFor(`standby ${n + 1}`, () => standbyPids(server).length === n + 1, ms);
    const started = server.logs.findLast((l) => l.msg === 'standby process started');
    return { pid: started?.standbyPid as number, afterMs: Date.parse(String(started?.time)) - Date.parse(String(since.time)) };
  };
  await server.waitFor('the next standby', () => standbyPids(server).length === 2);
  const first = await stop(standbyPids(server)[1] as number);
  assert.equal(first.holdSeconds, 5);
  const third = await startedAfter(2, first, 10_000);
  assert.ok(third.afterMs >= 4_900, `started ${third.afterMs} ms after, not before the pause`);
  // Exits one after the other double the pause: a standby that cannot load is not forked every 5 s.
  const second = await stop(third.pid);
  assert.equal(second.holdSeconds, 10);
  const fourth = await startedAfter(3, second, 15_000);
  assert.ok(fourth.afterMs >= 9_900, `started ${fourth.afterMs} ms after, not before the pause`);
  // Taken by a rotation: it loaded and served, so the pause is back to 5 s.
  await until('it to load', () => title(fourth.pid) === 'tsicorn: standby [app.mjs]');
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation finished', { generation: 2 });
  assert.deepEqual(
    spawned(server, 2).map((l) => [l.standby, l.workerPid]),
    [[true, fourth.pid]],
  );
  await server.waitFor('standby 5', () => standbyPids(server).length === 5);
  const after = await stop(standbyPids(server)[4] as number);
  assert.equal(after.holdSeconds, 5);
});

test('a bind change lets the standbys go when the rotation starts: none keeps the old address open', { timeout: 30_000 }, async (t) => {
  const port = await freePort();
  const config = (bind: string) => serverYaml('app.mjs', { workers: 1, standby_workers: 1, bind, log: { level: 'debug' } });
  const server = await startServer(t, { waitWatching: true, files: { 'server.yaml': config('127.0.0.1:0'), 'app.mjs': app('v1') } });
  await server.waitFor('a standby', () => standbyPids(server).length === 1);
  const [old] = standbyPids(server);
  const oldUrl = server.url();

  writeFileSync(join(server.dir, 'server.yaml'), config(`127.0.0.1:${port}`));
  await server.waitForLog('rotation finished', { generation: 2 });
  // It holds a copy of the old listening socket: were it kept, the old port would stay open.
  const letGo = server.logs.findIndex((l) => l.msg === 'standby process let go' && l.standbyPid === old);
  const finished = server.logs.findIndex((l) => l.msg === 'rotation finished');
  assert.ok(letGo >= 0 && letGo < finished, 'let go during the rotation, not after it');
  assert.deepEqual(
    spawned(server, 2).map((l) => l.standby),
    [false],
  );
  assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
  await server.waitForLog('worker exited', { reason: 'reload' });
  await until('the old standby to exit', () => old !== undefined && !isAlive(old));
  await assert.rejects(fetch(`${oldUrl}/`, { signal: AbortSignal.timeout(3000) }), 'the removed listener is closed');
  await server.waitFor('a standby on the new listener', () => standbyPids(server).length === 2);
});

test('the master SIGKILLed: its standbys exit with it, no orphan', { timeout: 30_000 }, async (t) => {
  const config = { workers: 1, standby_workers: 2, log: { level: 'debug' } };
  const server = await startServer(t, { files: { 'server.yaml': serverYaml('app.mjs', config), 'app.mjs': app('v1') } });
  await server.waitFor('2 standbys', () => standbyPids(server).length === 2);
  const ahead = standbyPids(server);
  await until('the standbys to load', () => ahead.every((pid) => title(pid) === 'tsicorn: standby [app.mjs]'));
  process.kill(server.pid, 'SIGKILL');
  await until('the standbys to exit', () => ahead.every((pid) => !isAlive(pid)));
});

test('with balance: round-robin and capture_output, a standby taken by a rotation serves and its output is captured', {
  timeout: 30_000,
}, async (t) => {
  const printing = (version: string) => `export default (req, res) => { console.log('${version} says hello'); res.end('${version}'); };\n`;
  const config = { workers: 1, standby_workers: 1, min_uptime: 0, balance: 'round-robin', log: { level: 'debug', capture_output: true } };
  const server = await startServer(t, { files: { 'server.yaml': serverYaml('app.mjs', config), 'app.mjs': printing('v1') } });
  await server.waitFor('a standby', () => standbyPids(server).length === 1);
  const [ahead] = standbyPids(server);
  await until('it to load', () => title(ahead as number) === 'tsicorn: standby [app.mjs]');
  writeFileSync(join(server.dir, 'app.mjs'), printing('v2'));
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation finished', { generation: 2 });
  const [taken] = spawned(server, 2);
  assert.deepEqual([taken?.standby, taken?.workerPid], [true, ahead]);
  // The master accepts and hands the connection over: the standby's IPC channel carries it.
  assert.equal(await (await fetch(`${server.url()}/`)).text(), 'v2');
  // Its stdout was a pipe from the start; the master reads it once the standby is a worker.
  const said = await server.waitForLog('app output', { stream: 'stdout', output: 'v2 says hello' });
  assert.equal(said.worker, taken?.worker);
});
