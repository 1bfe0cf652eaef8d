import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, type RunningServer, serverYaml, startServer, until } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');

/** A hooks module that records each call — the hook, the process, what it was given — one JSON line each. */
const recorder = (tag: string, extra = '') => `import { appendFileSync } from 'node:fs';
const note = (hook, fields = {}) => appendFileSync(new URL('./calls.jsonl', import.meta.url), JSON.stringify({ hook, pid: process.pid, tag: '${tag}', ...fields }) + '\\n');
export const on_starting = (server) => note('on_starting', { master: server.pid });
export const when_ready = (server) => note('when_ready', { workers: server.workers });
export const on_reload = (server) => note('on_reload', { generation: server.generation });
export const pre_fork = (server, worker) => note('pre_fork', { worker: worker.id, generation: worker.generation });
export const post_fork = (server, worker) => note('post_fork', { worker: worker.id, master: server.pid });
export const post_worker_init = (worker) => note('post_worker_init', { worker: worker.id });
export const pre_request = (worker, req) => note('pre_request', { url: req.url });
export const post_request = (worker, req, res) => note('post_request', { url: req.url, status: res.statusCode });
export const child_exit = (server, worker) => note('child_exit', { worker: worker.id, workerPid: worker.pid });
export const worker_exit = (server, worker) => note('worker_exit', { worker: worker.id, master: server.pid });
export const nworkers_changed = (server, now, before) => note('nworkers_changed', { now, before });
export const on_exit = (server) => note('on_exit');
${extra}`;

interface Call {
  hook: string;
  pid: number;
  tag: string;
  [k: string]: unknown;
}
const calls = (server: RunningServer): Call[] =>
  readFileSync(join(server.dir, 'calls.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Call);
const named = (server: RunningServer, hook: string) => calls(server).filter((c) => c.hook === hook);

test('hooks run in the right process and order: start, forks, requests, scaling, reload, exit', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 2, hooks: 'hooks.mjs', min_uptime: 0 }), 'hooks.mjs': recorder('v1') },
  });
  const master = server.pid;
  const workers = server.workerPids();
  await until('when_ready', () => named(server, 'when_ready').length === 1);
  const start = calls(server).map((c) => c.hook);
  assert.equal(start[0], 'on_starting');
  assert.ok(start.indexOf('when_ready') > start.lastIndexOf('post_worker_init'), `order: ${start.join(', ')}`);
  for (const hook of ['on_starting', 'pre_fork', 'when_ready']) {
    assert.ok(
      named(server, hook).every((c) => c.pid === master),
      `${hook} runs in the master`,
    );
  }
  assert.equal(named(server, 'pre_fork').length, 2);
  for (const hook of ['post_fork', 'post_worker_init']) {
    assert.deepEqual(
      named(server, hook)
        .map((c) => c.pid)
        .sort(),
      [...workers].sort(),
      `${hook} runs once in each worker`,
    );
  }
  assert.ok(named(server, 'post_fork').every((c) => c.master === master));

  assert.equal((await fetch(`${server.url()}/hooked`)).status, 200);
  await until('post_request', () => named(server, 'post_request').length === 1);
  const [pre] = named(server, 'pre_request');
  const [post] = named(server, 'post_request');
  assert.equal(pre?.url, '/hooked');
  assert.equal(post?.status, 200);
  assert.ok(pre && workers.includes(pre.pid), 'pre_request runs in the worker that serves');

  process.kill(master, 'SIGTTIN');
  await until('nworkers_changed', () => named(server, 'nworkers_changed').length === 1);
  assert.deepEqual(
    named(server, 'nworkers_changed').map((c) => [c.now, c.before]),
    [[3, 2]],
  );

  // The third worker serves before the reload, so that all three drain and leave.
  await server.waitFor('3 ready workers', () => server.workerPids().length === 3);
  process.kill(master, 'SIGHUP');
  await server.waitForLog('rotation finished');
  await until('the old workers’ exits', () => named(server, 'child_exit').length >= 3);
  assert.equal(named(server, 'on_reload').length, 1);
  assert.ok(
    named(server, 'child_exit').every((c) => c.pid === master),
    'child_exit runs in the master',
  );
  const leavers = named(server, 'child_exit').map((c) => c.workerPid);
  assert.deepEqual(
    named(server, 'worker_exit')
      .map((c) => c.pid)
      .sort(),
    [...leavers].sort(),
    'worker_exit runs in each worker that drained and left',
  );

  process.kill(master, 'SIGTERM');
  assert.equal(await server.waitForExit(), 0);
  const all = calls(server);
  assert.equal(all.at(-1)?.hook, 'on_exit', 'on_exit comes last');
  assert.equal(all.at(-1)?.pid, master);
});

test('a hook that throws is logged and the server serves on; editing the hooks file reloads with the new hooks', {
  timeout: 60_000,
}, async (t) => {
  const throwing = "export const when_ready = () => { throw new Error('hook exploded'); };\n";
  const server = await startServer(t, {
    waitWatching: true,
    files: { 'server.yaml': serverYaml(APP, { workers: 1, hooks: 'hooks.mjs' }), 'hooks.mjs': throwing },
  });
  const failed = await server.waitForLog('hook failed', { hook: 'when_ready' });
  assert.match(String((failed.err as { message?: string }).message), /hook exploded/);
  assert.equal((await fetch(`${server.url()}/`)).status, 200);

  writeFileSync(join(server.dir, 'hooks.mjs'), recorder('v2'));
  const reloaded = await server.waitForLog('config reloaded', { trigger: 'code' });
  assert.match(String(reloaded.path), /hooks\.mjs$/);
  await server.waitForLog('rotation finished');
  await until('the new worker hooks', () => {
    try {
      return named(server, 'post_worker_init').some((c) => c.tag === 'v2');
    } catch {
      return false;
    }
  });
  // The master follows: its hooks are the new module's too.
  await server.waitForLog('hooks loaded', { component: 'master' });
  process.kill(server.pid, 'SIGTTIN');
  await until('the master’s new hooks', () => named(server, 'nworkers_changed').some((c) => c.tag === 'v2'));
});

test('a hooks module that cannot load stops start-up with TSI_ERR_HOOKS', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 1, hooks: 'hooks.mjs' }), 'hooks.mjs': 'export const x = ;\n' },
    waitReady: false,
  });
  assert.equal(await server.waitForExit(), 1);
  assert.match(server.stderrText.join('\n'), /^tsicorn: the hooks module hooks\.mjs failed to load: .*\(TSI_ERR_HOOKS\)$/m);
});
