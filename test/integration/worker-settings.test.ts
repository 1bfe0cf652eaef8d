import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, serverYaml, startServer, tempDir } from '../helpers/server.js';

const ENV_APP = join(ROOT, 'test', 'fixtures', 'serve', 'env-app.mjs');

function title(pid: number): string {
  return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
}

test('workers get env, threads, chdir and a process title; a factory runs once per worker', { timeout: 30_000 }, async (t) => {
  const config = serverYaml(`${ENV_APP}:create()`, {
    env: { GREETING: 'hello from server.yaml' },
    threads: 7,
    chdir: 'appdir',
    proc_name: 'shop',
  });
  const dir = tempDir(t, { 'server.yaml': config, 'appdir/.keep': '' });
  const server = await startServer(t, { cwd: dir });
  const body = (await (await fetch(`${server.url()}/`)).json()) as Record<string, unknown>;
  assert.equal(body.created, 1);
  assert.equal(body.greeting, 'hello from server.yaml');
  assert.equal(body.threads, '7');
  assert.equal(body.cwd, realpathSync(join(dir, 'appdir')));
  assert.match(String(body.title), /^tsicorn: worker \d+ \[shop\]/);
  assert.match(title(server.pid), /^tsicorn: master \[shop\]/);
  for (const pid of server.workerPids()) assert.match(title(pid), /^tsicorn: worker \d+ \[shop\]/);
});

test('an app given on the command line is served without a config file', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    args: [join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs'), '--workers', '1', '--bind', '127.0.0.1:0'],
  });
  assert.equal(server.workerPids().length, 1);
  assert.equal((await fetch(`${server.url()}/`)).status, 200);
});

test('with no server.yaml and no app, tsicorn says what to do and exits 64', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { args: [], waitReady: false });
  assert.equal(await server.waitForExit(), 64);
  assert.match(server.stderrText.join('\n'), /no \.\/server\.yaml here and no app given/);
});

test('an invalid config stops start-up with the file:line:col errors and exit 1', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': 'app: app.js\nworkers: many\n' }, waitReady: false });
  assert.equal(await server.waitForExit(), 1);
  assert.match(server.stderrText.join('\n'), /^server\.yaml:2:10: workers: /m);
});
