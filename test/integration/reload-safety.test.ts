import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runLoad } from '../helpers/load.js';
import { BIN, cleanEnv, ROOT, serverYaml, startServer, until } from '../helpers/server.js';

/**
 * What a reload must never do: replace working workers with ones that die a moment later, lose a
 * HUP, apply half of a change that failed, rotate forever on files the server writes itself.
 */

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const version = (v: string) => `export default (req, res) => res.end(JSON.stringify({ version: '${v}', pid: process.pid }));\n`;
const versionOf = async (url: string) => ((await (await fetch(url)).json()) as { version: string }).version;

test('a deploy that crashes right after it starts serving never replaces the working workers', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml('app.mjs', { workers: 2, min_uptime: 1.5 }), 'app.mjs': version('v1') },
  });
  const pids = server.workerPids().sort();
  let done = false;
  const loadRun = runLoad(`${server.url()}/`, { total: 100_000, concurrency: 4, stop: () => done });
  try {
    // Listens, answers, and dies 400 ms later: ready, but not for long.
    writeFileSync(join(server.dir, 'app.mjs'), `setTimeout(() => process.exit(9), 400);\n${version('v2')}`);
    process.kill(server.pid, 'SIGHUP');
    const failed = await server.waitForLog('reload failed: a new worker did not start; the running workers keep serving');
    assert.match(String(failed.error), /exit 9/);
    await server.waitFor('the new generation to be gone', () => server.workerPids().length === 2);
    assert.deepEqual(server.workerPids().sort(), pids, 'the old workers were never retired');
    assert.equal(server.countLogs('worker exited', { reason: 'reload', generation: 1 }), 0);
  } finally {
    done = true;
  }
  const result = await loadRun;
  assert.deepEqual(result.errors.slice(0, 5), [], `${result.errors.length} failed of ${result.total}`);
  assert.equal(await versionOf(`${server.url()}/`), 'v1');
});

test('a new worker becomes ready only when its async factory resolves: the app says when it is warm', { timeout: 30_000 }, async (t) => {
  const factory = (v: string, ms: number) =>
    `export async function create() {\n  await new Promise((r) => setTimeout(r, ${ms}));\n  return (req, res) => res.end(JSON.stringify({ version: '${v}' }));\n}\n`;
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml('app.mjs:create()', { workers: 1, min_uptime: 0 }), 'app.mjs': factory('v1', 0) },
  });
  writeFileSync(join(server.dir, 'app.mjs'), factory('v2', 1500));
  const hup = Date.now();
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation started');
  // While the new worker warms up, the old one answers every request.
  assert.equal(await versionOf(`${server.url()}/`), 'v1');
  const ready = await server.waitForLog('worker ready', { component: 'master', generation: 2 });
  assert.ok((ready.bootMs as number) >= 1500, `ready after ${ready.bootMs} ms`);
  const finished = await server.waitForLog('rotation finished');
  assert.ok(Date.now() - hup >= 1500);
  assert.ok((finished.durationMs as number) >= 1500, 'the rotation log line gives its duration');
  await server.waitForLog('worker exited', { reason: 'reload' });
  assert.equal(await versionOf(`${server.url()}/`), 'v2');
});

test('a HUP that arrives while the first workers boot is not lost', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    waitReady: false,
    files: {
      'server.yaml': serverYaml('app.mjs', { workers: 1 }),
      'app.mjs': `await new Promise((r) => setTimeout(r, 1000));\n${version('v1')}`,
    },
  });
  await server.waitForLog('starting');
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('reload queued until the current one ends', { state: 'booting' });
  await server.waitForLog('server ready');
  await server.waitForLog('rotation finished', { generation: 2 });
});

test('a change that needs a rotation applies nothing when the rotation fails', { timeout: 30_000 }, async (t) => {
  // The file is not watched: only the HUP below reads it.
  const unwatched = { reload: { config: false } };
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml('app.mjs', { workers: 1, log: { level: 'info' }, ...unwatched }), 'app.mjs': version('v1') },
  });
  writeFileSync(join(server.dir, 'app.mjs'), "throw new Error('broken deploy');\n");
  // workers (live) and log.level (live) change together with a HUP that must rotate.
  writeFileSync(join(server.dir, 'server.yaml'), serverYaml('app.mjs', { workers: 3, log: { level: 'debug' }, ...unwatched }));
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('reload failed: a new worker did not start; the running workers keep serving');
  await server.waitForLog('worker count changed', { from: 3, to: 1 });
  await server.waitFor('the failed generation gone', () => server.workerPids().length === 1);
  const from = server.logs.length;
  // Nothing new is spawned: the master went back to one worker of the old generation.
  assert.equal((await fetch(`${server.url()}/`)).status, 200);
  process.kill(server.pid, 'SIGTTIN');
  await server.waitForLog('worker count changed', { from: 1, to: 2 }, 15_000, from);
  assert.equal(server.findLog('worker spawned', {}, from), undefined, 'log.level is still info: no debug lines');
});

test('a pidfile change moves the pidfile, so `tsicorn reload` finds the master at the new path', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    waitWatching: true,
    files: { 'server.yaml': serverYaml(APP, { workers: 1, pidfile: 'one.pid' }) },
  });
  writeFileSync(join(server.dir, 'server.yaml'), serverYaml(APP, { workers: 1, pidfile: 'two.pid' }));
  await server.waitForLog('pidfile moved');
  assert.ok(!existsSync(join(server.dir, 'one.pid')), 'the old pidfile is removed');
  assert.equal(Number(readFileSync(join(server.dir, 'two.pid'), 'utf8')), server.pid);
  const reload = spawnSync(process.execPath, [BIN, 'reload', '-c', 'server.yaml'], { cwd: server.dir, env: cleanEnv(), encoding: 'utf8' });
  assert.equal(reload.status, 0, reload.stderr);
  await server.waitForLog('rotation finished');
  process.kill(server.pid, 'SIGTERM');
  assert.equal(await server.waitForExit(), 0);
  assert.ok(!existsSync(join(server.dir, 'two.pid')), 'removed on exit');
});

test('a change that needs a master restart is logged as such and stays pending: the running value is kept', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1 }) } });
  writeFileSync(join(server.dir, 'server.yaml'), serverYaml(APP, { workers: 1, backlog: 100 }));
  const warning = await server.waitForLog('this change needs a master restart (USR2) to take effect');
  assert.equal(warning.setting, 'backlog');
  assert.equal(warning.level, 'warn');
  // The running config kept backlog 2048: the next reload still sees the change as pending.
  process.kill(server.pid, 'SIGHUP');
  await server.waitFor('the warning again', () => server.countLogs('this change needs a master restart (USR2) to take effect') === 2);
  const again = server.logs.filter((l) => l.msg === 'config reloaded').at(-1);
  assert.deepEqual(again?.changes, ['backlog: 2048 → 100']);
});

test('reload.code ignores what the server and the app write in the app directory, and the config file', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, {
    waitWatching: true,
    files: {
      'server.yaml': serverYaml('app.mjs', { workers: 1, reload: { code: true }, log: { accesslog: 'access.log' } }),
      'app.mjs': version('v1'),
    },
  });
  for (let i = 0; i < 20; i++) assert.equal((await fetch(`${server.url()}/`)).status, 200);
  writeFileSync(join(server.dir, 'upload.bin'), 'data the app stored');
  writeFileSync(
    join(server.dir, 'server.yaml'),
    serverYaml('app.mjs', { workers: 2, reload: { code: true }, log: { accesslog: 'access.log' } }),
  );
  await server.waitForLog('config reloaded', { trigger: 'watch' });
  await server.waitFor('2 workers', () => server.workerPids().length === 2);
  // A source file does rotate: its event comes after the others, so they had their chance.
  writeFileSync(join(server.dir, 'app.mjs'), version('v2'));
  const code = await server.waitForLog('config reloaded', { trigger: 'code' });
  assert.match(String(code.path), /app\.mjs$/);
  await server.waitForLog('rotation finished');
  assert.equal(server.countLogs('config reloaded', { trigger: 'code' }), 1, 'only app.mjs triggered a code reload');
  assert.equal(server.countLogs('rotation started'), 1);
});

test('a bind change under balance: round-robin says it needs a restart instead of passing in silence', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    waitWatching: true,
    files: { 'server.yaml': serverYaml(APP, { workers: 1, balance: 'round-robin' }) },
  });
  writeFileSync(join(server.dir, 'server.yaml'), serverYaml(APP, { workers: 1, balance: 'round-robin', bind: '127.0.0.1:1' }));
  const warned = await server.waitForLog('bind changed but the listeners are fixed; restart the server to change them');
  assert.equal(warned.reason, 'balance: round-robin');
  await server.waitForLog('rotation finished');
  assert.equal((await fetch(`${server.url()}/`)).status, 200, 'the listener in use still serves');
});

test('a worker count set by TTIN stays through reloads that do not change `workers`', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { waitWatching: true, files: { 'server.yaml': serverYaml(APP, { workers: 2, min_uptime: 0 }) } });
  process.kill(server.pid, 'SIGTTIN');
  await server.waitFor('3 workers', () => server.workerPids().length === 3);
  writeFileSync(join(server.dir, 'server.yaml'), serverYaml(APP, { workers: 2, min_uptime: 0, log: { level: 'debug' } }));
  await server.waitFor('the live reload', () => server.countLogs('config reloaded', { trigger: 'watch' }) === 1);
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation finished');
  assert.equal(server.countLogs('worker count changed'), 1, 'only the TTIN changed the count');
  await server.waitFor('3 workers of the new generation', () => server.workerPids().length === 3);
});

test('a queued `tsicorn reload` is not swallowed by a config save that arrives after it', { timeout: 60_000 }, async (t) => {
  const slow = (v: string) => `await new Promise((r) => setTimeout(r, 800));\nexport default (req, res) => res.end('${v}');\n`;
  const server = await startServer(t, {
    waitWatching: true,
    files: { 'server.yaml': serverYaml('app.mjs', { workers: 1, min_uptime: 0 }), 'app.mjs': slow('v1') },
  });
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation started');
  const reload = spawn(process.execPath, [BIN, 'reload'], { cwd: server.dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  reload.stdout.setEncoding('utf8').on('data', (d: string) => {
    said += d;
  });
  const exited = new Promise<number | null>((r) => reload.once('exit', r));
  await server.waitFor('the reload queued', () => server.countLogs('reload queued until the current one ends') >= 1);
  // A live-only change saved while the control reload waits in the queue.
  writeFileSync(join(server.dir, 'server.yaml'), serverYaml('app.mjs', { workers: 1, min_uptime: 0, log: { level: 'debug' } }));
  await server.waitFor('the save queued too', () => server.countLogs('reload queued until the current one ends') >= 2);
  assert.equal(await exited, 0);
  assert.match(said, /^reloaded: generation 3, 1 workers, in \d+ ms\n$/, 'the queued reload rotated');
});

test('an old worker that cannot drain (its event loop blocked) is SIGKILLed after graceful_timeout and the rotation ends', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 1, timeout: 0, graceful_timeout: 1, min_uptime: 0 }) },
  });
  const [stuck] = server.workerPids();
  const { request } = await import('node:http');
  const blocked = request(`${server.url()}/block?ms=60000`, { agent: false });
  const cut = new Promise<string>((resolvePromise) => {
    blocked.on('error', (err) => resolvePromise(err.message));
    blocked.on('response', () => resolvePromise('answered'));
  });
  blocked.end();
  // timeout: 0, so the master only sees its heartbeats stop.
  const heartbeatAgo = () => {
    const run = spawnSync(process.execPath, [BIN, 'status', '--json'], {
      cwd: server.dir,
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 10_000,
    });
    return (JSON.parse(run.stdout) as { workers: { heartbeatAgoMs: number }[] }).workers[0]?.heartbeatAgoMs ?? 0;
  };
  await until('the worker to be blocked', () => heartbeatAgo() > 2500);
  const hup = Date.now();
  process.kill(server.pid, 'SIGHUP');
  const killed = await server.waitForLog('worker did not exit within graceful_timeout; killing it', { workerPid: stuck });
  assert.ok(Date.now() - hup >= 1000, `killed ${Date.now() - hup} ms after the HUP, before graceful_timeout`);
  assert.equal(killed.level, 'warn');
  const exited = await server.waitForLog('worker exited', { workerPid: stuck });
  assert.equal(exited.signal, 'SIGKILL');
  assert.equal(exited.reason, 'reload');
  await server.waitForLog('rotation finished');
  assert.notEqual(await cut, 'answered');
  const res = await fetch(`${server.url()}/`);
  assert.equal(res.status, 200);
  assert.notEqual(((await res.json()) as { pid: number }).pid, stuck);
});
