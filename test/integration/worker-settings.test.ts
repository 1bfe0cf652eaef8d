import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, readFileSync, realpathSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
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

test('user and group: workers drop to them, the master keeps its rights', { timeout: 30_000 }, async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to change users');
    return;
  }
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }));
  // The app must be readable by nobody: copy it into a temp dir opened up to everyone (the
  // checkout may sit under a 0700 home directory).
  const dir = tempDir(t, {
    'server.yaml': serverYaml('app.mjs:create()', { user: 'nobody', group: gid }),
    'app.mjs': readFileSync(ENV_APP, 'utf8'),
  });
  chmodSync(dir, 0o755);
  const server = await startServer(t, { cwd: dir });
  const body = (await (await fetch(`${server.url()}/`)).json()) as Record<string, unknown>;
  assert.equal(body.uid, uid);
  assert.equal(body.gid, gid);
  const masterUid = execFileSync('ps', ['-o', 'uid=', '-p', String(server.pid)], { encoding: 'utf8' }).trim();
  assert.equal(masterUid, '0');
});

test('keepalive: an idle keep-alive connection is closed after `keepalive` seconds', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs'), { keepalive: 1 }) },
  });
  const { port, hostname } = new URL(server.url());
  const socket = connect(Number(port), hostname);
  socket.write(`GET / HTTP/1.1\r\nHost: x\r\n\r\n`);
  const started = Date.now();
  let received = '';
  socket.on('data', (d) => {
    received += d.toString();
  });
  await once(socket, 'close');
  const idleMs = Date.now() - started;
  assert.match(received, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(received, /Keep-Alive: timeout=1/i);
  assert.ok(idleMs >= 900 && idleMs < 5000, `closed after ${idleMs} ms`);
});

test('keepalive: 0 turns keep-alive off: every response closes its connection', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs'), { keepalive: 0 }) },
  });
  const { port, hostname } = new URL(server.url());
  const socket = connect(Number(port), hostname);
  socket.write(`GET / HTTP/1.1\r\nHost: x\r\n\r\n`);
  let received = '';
  socket.on('data', (d) => {
    received += d.toString();
  });
  await once(socket, 'close');
  assert.match(received, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(received, /\r\nConnection: close\r\n/i);
});

/** A connection with a slow request in flight (its headers are in), holding a worker_connections slot. */
async function holdTheOnlySlot(url: string): Promise<Socket> {
  const { port, hostname } = new URL(url);
  const first = connect(Number(port), hostname);
  first.on('error', () => {});
  first.write('GET /slow-body?ms=3000 HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(first, 'data');
  return first;
}

/** Whether a second connection gets an answer before it is closed. */
async function secondIsServed(url: string): Promise<boolean> {
  const { port, hostname } = new URL(url);
  const second = connect(Number(port), hostname);
  second.on('error', () => {});
  second.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  let answered = false;
  second.on('data', () => {
    answered = true;
  });
  // The refused connection may end with a reset, which events.once would turn into a rejection.
  await new Promise((resolvePromise) => second.once('close', resolvePromise));
  return answered;
}

test('worker_connections: a worker holds at most that many connections', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs'), { workers: 1, worker_connections: 1 }) },
  });
  const first = await holdTheOnlySlot(server.url());
  assert.equal(await secondIsServed(server.url()), false, 'the second connection was refused service while the first is open');
  first.destroy();
});

test('worker_connections holds under balance: round-robin too, where the master hands connections over', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, {
    files: {
      'server.yaml': serverYaml(join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs'), {
        workers: 1,
        worker_connections: 1,
        balance: 'round-robin',
      }),
    },
  });
  const first = await holdTheOnlySlot(server.url());
  assert.equal(await secondIsServed(server.url()), false, 'the second connection was refused while the first holds the only slot');
  first.destroy();
  // Once the worker has seen the first connection close, the slot serves again.
  let served = false;
  for (const deadline = Date.now() + 5000; !served && Date.now() < deadline; ) {
    served = await fetch(`${server.url()}/`).then(
      (r) => r.ok,
      () => false,
    );
  }
  assert.ok(served, 'a connection is served once the slot is free');
});

test('an app named by its export, relative to chdir', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t, {
    'server.yaml': serverYaml('handlers.mjs:api', { chdir: 'srv' }),
    'srv/handlers.mjs':
      "export const api = (req, res) => res.end('named export');\nexport default () => { throw new Error('not this one'); };\n",
  });
  const server = await startServer(t, { cwd: dir });
  assert.equal(await (await fetch(`${server.url()}/`)).text(), 'named export');
});

test('umask: files the app creates get the mode it allows', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t, {
    'server.yaml': serverYaml('app.mjs', { umask: '0077', workers: 1 }),
    'app.mjs':
      "import { writeFileSync, statSync } from 'node:fs';\nexport default (req, res) => { writeFileSync('made-by-app.txt', 'x'); res.end((statSync('made-by-app.txt').mode & 0o777).toString(8)); };\n",
  });
  const server = await startServer(t, { cwd: dir });
  assert.equal(await (await fetch(`${server.url()}/`)).text(), '600');
});

test('the bundled config/server.yaml serves the example app (what `npm start` runs)', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { cwd: ROOT, args: ['-c', 'config/server.yaml', '--bind', '127.0.0.1:0'] });
  const res = await fetch(`${server.url()}/`);
  assert.equal(res.status, 200);
  assert.ok((await res.text()).length > 0);
  assert.equal(server.workerPids().length, 2);
});
