import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, serverYaml, startServer, tempDir, until } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const opts = { timeout: 30_000 };

function listen(server: Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(...(args as [number, string]), () => resolvePromise());
  });
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await listen(probe, 0, '127.0.0.1');
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

function getOverSocket(socketPath: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    get({ socketPath, path, headers: { host: 'x' } }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('IPv6: [::1]:0 serves over IPv6', opts, async (t) => {
  const probe = createServer();
  try {
    await listen(probe, 0, '::1');
    await new Promise((r) => probe.close(r));
  } catch {
    t.skip('::1 is not available on this machine');
    return;
  }
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { bind: '[::1]:0' }) } });
  assert.match(server.url(), /^http:\/\/\[::1\]:\d+$/);
  assert.equal((await fetch(`${server.url()}/v6`)).status, 200);
});

test('unix socket: served, a stale file replaced, removed on exit; a live one is refused', opts, async (t) => {
  const dir = tempDir(t);
  const sock = join(dir, 'app.sock');
  // A stale socket file: bound by a process that died without cleaning up.
  spawnSync(
    process.execPath,
    ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`],
    {
      stdio: 'ignore',
      timeout: 10_000,
    },
  );
  assert.ok(existsSync(sock), 'the stale socket file is there');
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { bind: `unix:${sock}` }));
  const server = await startServer(t, { cwd: dir });
  assert.deepEqual(server.findLog('server ready')?.listeners, [`unix:${sock}`]);
  const res = await getOverSocket(sock, '/over-unix');
  assert.equal(res.status, 200);
  assert.match(res.body, /"path":"\/over-unix"/);

  // A second server on the same path must not steal it.
  const second = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { bind: `unix:${sock}` }) }, waitReady: false });
  assert.equal(await second.waitForExit(), 1);
  assert.match(second.stderrText.join('\n'), /cannot listen on unix:.*another server is listening on .*\(TSI_ERR_BIND\)/);
  assert.equal((await getOverSocket(sock)).status, 200, 'the first server still serves');

  process.kill(server.pid, 'SIGTERM');
  assert.equal(await server.waitForExit(), 0);
  assert.ok(!existsSync(sock), 'the socket file is removed on exit');
});

test('several listeners at once serve the same app', opts, async (t) => {
  const dir = tempDir(t);
  const sock = join(dir, 'b.sock');
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { bind: ['127.0.0.1:0', `unix:${sock}`] }));
  const server = await startServer(t, { cwd: dir });
  assert.equal((await fetch(`${server.url()}/tcp`)).status, 200);
  assert.equal((await getOverSocket(sock, '/unix')).status, 200);
});

test('a port in use: one clear line, exit 1, no worker started', opts, async (t) => {
  const holder = createServer();
  await listen(holder, 0, '127.0.0.1');
  t.after(() => holder.close());
  const { port } = holder.address() as { port: number };
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { bind: `127.0.0.1:${port}` }) }, waitReady: false });
  assert.equal(await server.waitForExit(), 1);
  const errors = server.stderrText.filter((l) => l.startsWith('tsicorn:'));
  assert.deepEqual(errors, [
    `tsicorn: cannot listen on 127.0.0.1:${port}: EADDRINUSE, address already in use (another server holds it) (TSI_ERR_BIND)`,
  ]);
  assert.equal(server.countLogs('worker ready'), 0);
});

test('a privileged port without the right: EACCES, exit 1', opts, async (t) => {
  if (process.getuid?.() === 0) {
    t.skip('running as root: every port can be bound');
    return;
  }
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { bind: '127.0.0.1:81' }) }, waitReady: false });
  assert.equal(await server.waitForExit(), 1);
  assert.match(server.stderrText.join('\n'), /cannot listen on 127\.0\.0\.1:81: EACCES/);
});

test('systemd socket activation with systemd-socket-activate', opts, async (t) => {
  if (!existsSync('/usr/bin/systemd-socket-activate')) {
    t.skip('systemd-socket-activate is not installed (Debian package systemd)');
    return;
  }
  const port = await freePort();
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { bind: '127.0.0.1:1' }) },
    wrapper: ['/usr/bin/systemd-socket-activate', '-l', `127.0.0.1:${port}`],
    waitReady: false,
  });
  // The first connection makes systemd-socket-activate start tsicorn; it waits in the backlog
  // until a worker accepts it.
  await until('the socket to be listening', () => {
    try {
      execFileSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  const res = await fetch(`http://127.0.0.1:${port}/activated`, { signal: AbortSignal.timeout(15_000) });
  assert.equal(res.status, 200);
  const ready = await server.waitForLog('server ready');
  assert.deepEqual(ready.listeners, ['fd://3']);
  assert.ok(server.findLog('using the sockets passed by systemd; bind is ignored'));
});

test('bind: fd://N adopts an inherited listening socket; an fd that is not open is an error', opts, async (t) => {
  const holder = createServer();
  await listen(holder, 0, '127.0.0.1');
  t.after(() => holder.close());
  const { port } = holder.address() as { port: number };
  // The listening socket becomes fd 3 of tsicorn (stdio index 3), as a supervisor would pass it.
  // It stays open here too; this test sends it no connection, so nothing is accepted twice.
  const fd = (holder as unknown as { _handle: { fd: number } })._handle.fd;
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { bind: 'fd://3' }) }, stdio: [fd] });
  assert.deepEqual(server.findLog('server ready')?.listeners, ['fd://3']);
  assert.ok(port > 0);

  const missing = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { bind: 'fd://200' }) }, waitReady: false });
  assert.equal(await missing.waitForExit(), 1);
  assert.match(missing.stderrText.join('\n'), /cannot listen on fd:\/\/200: fd 200 is not open .*\(TSI_ERR_BIND\)/);
});

test('pidfile: written once ready, removed on exit; a live pid in it is refused; a dead one replaced', opts, async (t) => {
  const dir = tempDir(t, { 'server.yaml': serverYaml(APP, { workers: 1, pidfile: 'app.pid' }) });
  const pidfile = join(dir, 'app.pid');
  writeFileSync(pidfile, '999999\n');
  const server = await startServer(t, { cwd: dir });
  assert.equal(Number(readFileSync(pidfile, 'utf8')), server.pid);
  process.kill(server.pid, 'SIGTERM');
  assert.equal(await server.waitForExit(), 0);
  assert.ok(!existsSync(pidfile));

  writeFileSync(pidfile, `${process.pid}\n`);
  const refused = await startServer(t, { cwd: dir, waitReady: false });
  assert.equal(await refused.waitForExit(), 1);
  assert.match(refused.stderrText.join('\n'), /pidfile .*app\.pid names process \d+, which is running.*\(TSI_ERR_PIDFILE\)/);
});
