import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { get, type RequestOptions } from 'node:http';
import { connect, createServer, type ListenOptions, type Server } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { ROOT, type RunningServer, serverYaml, startServer, tempDir } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';
const opts = { timeout: 30_000 };

/** Listens and resolves once listening (or rejects with the listen error). */
function listenOn(server: Server, options: ListenOptions): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolvePromise(server);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolvePromise) => server.close(() => resolvePromise()));
}

function portOf(server: Server): number {
  return (server.address() as { port: number }).port;
}

/** A loopback TCP server on a free port, closed when the test ends. */
async function holdPort(t: TestContext): Promise<Server> {
  const holder = await listenOn(createServer(), { host: '127.0.0.1', port: 0 });
  t.after(() => holder.close());
  return holder;
}

/** A port that was free a moment ago (bound to 0, read, closed). */
async function freePort(): Promise<number> {
  const probe = await listenOn(createServer(), { host: '127.0.0.1', port: 0 });
  const port = portOf(probe);
  await closeServer(probe);
  return port;
}

interface Reply {
  status: number;
  body: string;
  remoteFamily: string | undefined;
  remoteAddress: string | undefined;
}

/** One GET on a fresh connection (no keep-alive, so nothing holds a worker at shutdown). */
function request(target: RequestOptions, path = '/'): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const req = get({ ...target, path, agent: false, headers: { host: 'tsicorn.test' }, timeout: 15_000 }, (res) => {
      const { remoteFamily, remoteAddress } = res.socket;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body, remoteFamily, remoteAddress }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within 15 s for ${path}`)));
    req.on('error', reject);
  });
}

/** Retries `request` while the port refuses connections (its listener is not up yet), for at most `ms`. */
async function requestWhenListening(target: RequestOptions, path: string, ms = 15_000): Promise<Reply> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await request(target, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The reply is node-app.cjs's JSON, from one of the server's ready workers (not the master). */
function assertFromWorker(server: RunningServer, reply: Reply, path: string): void {
  assert.equal(reply.status, 200, reply.body);
  const answer = JSON.parse(reply.body) as { pid: number; path: string };
  assert.equal(answer.path, path);
  assert.notEqual(answer.pid, server.pid, 'the master does not serve requests');
  assert.ok(server.workerPids().includes(answer.pid), `pid ${answer.pid} is one of the workers ${server.workerPids().join(', ')}`);
}

/** stderr lines that are not JSON log lines (the one-line errors). */
function plainLines(server: RunningServer): string[] {
  return server.stderrText.filter((line) => !line.startsWith('{'));
}

/** Expects the server to fail at start: exit 1, exactly one plain stderr line, which matches `pattern`. */
async function assertFailsWith(server: RunningServer, pattern: RegExp): Promise<string> {
  assert.equal(await server.waitForExit(), 1, server.stderrText.join('\n'));
  const lines = plainLines(server);
  assert.equal(lines.length, 1, `exactly one error line:\n${lines.join('\n')}`);
  const [line = ''] = lines;
  assert.match(line, pattern);
  return line;
}

async function stop(server: RunningServer): Promise<void> {
  process.kill(server.pid, 'SIGTERM');
  assert.equal(await server.waitForExit(), 0, server.stderrText.slice(-20).join('\n'));
}

/** Leaves a socket file behind: a process binds it, then is SIGKILLed before it can unlink it. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(
    process.execPath,
    ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`],
    { stdio: 'ignore' },
  );
  const signal = await new Promise<NodeJS.Signals | null>((done) => child.once('exit', (_code, sig) => done(sig)));
  assert.equal(signal, 'SIGKILL');
}

async function canListenOnIpv6Loopback(): Promise<boolean> {
  try {
    await closeServer(await listenOn(createServer(), { host: '::1', port: 0, ipv6Only: true }));
    return true;
  } catch {
    return false;
  }
}

test('IPv6: [::1]:0 is bound and answers over IPv6', opts, async (t) => {
  if (!(await canListenOnIpv6Loopback())) {
    t.skip('::1 cannot be bound on this machine (IPv6 disabled)');
    return;
  }
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { bind: '[::1]:0' }) } });
  const listeners = server.findLog('server ready')?.listeners as string[];
  assert.equal(listeners.length, 1);
  const [bound = ''] = listeners;
  const match = /^\[::1\]:(\d+)$/.exec(bound);
  assert.ok(match, `bound to ${bound}`);
  const port = Number(match[1]);
  assert.ok(port > 0);

  const reply = await request({ host: '::1', port, family: 6 }, '/over-v6');
  assert.equal(reply.remoteFamily, 'IPv6');
  assert.equal(reply.remoteAddress, '::1');
  assertFromWorker(server, reply, '/over-v6');
  // Bound to ::1 only: the IPv4 loopback on that port is not this server.
  await assert.rejects(request({ host: '127.0.0.1', port }), { code: 'ECONNREFUSED' });
});

test('unix socket: a stale socket file is replaced, the socket serves, and is removed on exit', opts, async (t) => {
  const dir = tempDir(t, {});
  const sock = join(dir, 'app.sock');
  await staleSocket(sock);
  assert.ok(lstatSync(sock).isSocket(), 'a stale socket file is left behind');
  await assert.rejects(request({ socketPath: sock }), { code: 'ECONNREFUSED' }, 'nobody listens on it');

  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { bind: `unix:${sock}` }));
  const server = await startServer(t, { cwd: dir });
  assert.deepEqual(server.findLog('server ready')?.listeners, [`unix:${sock}`]);
  assertFromWorker(server, await request({ socketPath: sock }, '/over-unix'), '/over-unix');
  assertFromWorker(server, await request({ socketPath: sock }, '/again'), '/again');

  await stop(server);
  assert.ok(!existsSync(sock), 'the socket file is removed on exit');
});

test('unix socket: a path a live server listens on, or a file that is not a socket, is refused and left alone', opts, async (t) => {
  const dir = tempDir(t, {});
  const sock = join(dir, 'taken.sock');
  // tsicorn's probe connects and drops at once: ignore the reset that may cause here.
  const other = await listenOn(
    createServer((c) => c.on('error', () => {}).end('other server\n')),
    { path: sock },
  );
  t.after(() => other.close());

  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { bind: `unix:${sock}` }));
  const refused = await startServer(t, { cwd: dir, waitReady: false });
  const line = await assertFailsWith(refused, /^tsicorn: cannot listen on unix:\S+: another server is listening on \S+ \(TSI_ERR_BIND\)$/);
  assert.ok(line.includes(sock), line);
  assert.equal(refused.countLogs('server ready'), 0);
  // The other server keeps its socket: the file is there and still answers.
  assert.ok(lstatSync(sock).isSocket());
  const greeting = await new Promise<string>((done, reject) => {
    let text = '';
    connect(sock)
      .setEncoding('utf8')
      .on('data', (d: string) => {
        text += d;
      })
      .on('end', () => done(text))
      .on('error', reject);
  });
  assert.equal(greeting, 'other server\n');

  const plain = join(dir, 'plain.sock');
  writeFileSync(plain, 'not a socket');
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { bind: `unix:${plain}` }));
  const notSocket = await startServer(t, { cwd: dir, waitReady: false });
  await assertFailsWith(notSocket, /^tsicorn: cannot listen on unix:\S+: \S+plain\.sock exists and is not a socket \(TSI_ERR_BIND\)$/);
  assert.equal(readFileSync(plain, 'utf8'), 'not a socket', 'the file is not touched');
});

test('several listeners at once (tcp + unix) serve the same app', opts, async (t) => {
  const dir = tempDir(t, {});
  const sock = join(dir, 'multi.sock');
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { bind: ['127.0.0.1:0', `unix:${sock}`] }));
  const server = await startServer(t, { cwd: dir });
  const listeners = server.findLog('server ready')?.listeners as string[];
  assert.equal(listeners.length, 2);
  assert.match(listeners[0] ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(listeners[1], `unix:${sock}`);
  const port = Number((listeners[0] ?? '').split(':')[1]);

  for (let i = 0; i < 4; i++) {
    assertFromWorker(server, await request({ host: '127.0.0.1', port }, `/tcp/${i}`), `/tcp/${i}`);
    assertFromWorker(server, await request({ socketPath: sock }, `/unix/${i}`), `/unix/${i}`);
  }

  await stop(server);
  assert.ok(!existsSync(sock), 'the unix socket file is removed on exit');
  await assert.rejects(request({ host: '127.0.0.1', port }), { code: 'ECONNREFUSED' }, 'the tcp port is closed on exit');
});

test('a port in use: exit 1, one line naming the address and EADDRINUSE, no worker started', opts, async (t) => {
  const holder = await holdPort(t);
  const port = portOf(holder);
  const server = await startServer(t, {
    // debug: a worker that was started would show as "worker spawned".
    files: { 'server.yaml': serverYaml(APP, { bind: `127.0.0.1:${port}`, log: { level: 'debug' } }) },
    waitReady: false,
  });
  const line = await assertFailsWith(server, /^tsicorn: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE\b.*\(TSI_ERR_BIND\)$/);
  assert.ok(line.startsWith(`tsicorn: cannot listen on 127.0.0.1:${port}: `), line);
  assert.equal(server.countLogs('worker spawned'), 0);
  assert.equal(server.countLogs('worker ready'), 0);
  assert.equal(server.countLogs('server ready'), 0);
  assert.equal(portOf(holder), port, 'the holder keeps its port');
});

test('a privileged port without the right to bind it: exit 1, EACCES', opts, async (t) => {
  const unprivilegedFrom = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  if (unprivilegedFrom <= 81) {
    t.skip(`net.ipv4.ip_unprivileged_port_start is ${unprivilegedFrom}: port 81 is not privileged here`);
    return;
  }
  // As root, run the server as nobody (setpriv, from util-linux), with its files readable by nobody.
  const asRoot = process.getuid?.() === 0;
  if (asRoot && !existsSync('/usr/bin/setpriv')) {
    t.skip('running as root without setpriv to drop to an unprivileged user');
    return;
  }
  const dir = tempDir(t, { 'server.yaml': serverYaml(APP, { bind: '127.0.0.1:81' }) });
  chmodSync(dir, 0o755);
  const server = await startServer(t, {
    cwd: dir,
    waitReady: false,
    // (Without the coverage directory, which nobody could not write to.)
    ...(asRoot
      ? { wrapper: ['/usr/bin/env', '-u', 'NODE_V8_COVERAGE', '/usr/bin/setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] }
      : {}),
  });
  await assertFailsWith(server, /^tsicorn: cannot listen on 127\.0\.0\.1:81: EACCES\b.*\(TSI_ERR_BIND\)$/);
  assert.equal(server.countLogs('worker ready'), 0);
});

test('systemd socket activation (systemd-socket-activate): the passed sockets are the listeners, bind is ignored', opts, async (t) => {
  if (!existsSync(SOCKET_ACTIVATE)) {
    t.skip(`${SOCKET_ACTIVATE} is not installed (Debian package systemd)`);
    return;
  }
  const first = await freePort();
  const second = await freePort();
  // bind names a port in use: were it not ignored, the start would fail with EADDRINUSE.
  const holder = await holdPort(t);
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { bind: `127.0.0.1:${portOf(holder)}` }) },
    wrapper: [SOCKET_ACTIVATE, '-l', `127.0.0.1:${first}`, '-l', `127.0.0.1:${second}`],
    waitReady: false,
  });
  // systemd-socket-activate listens, and execs tsicorn (same pid) at the first connection, which
  // waits in the backlog until a worker accepts it.
  const reply = await requestWhenListening({ host: '127.0.0.1', port: first }, '/activated');
  const ready = await server.waitForLog('server ready');
  assert.equal(ready.pid, server.pid, 'tsicorn runs as the pid systemd-socket-activate set in LISTEN_PID');
  assert.deepEqual(ready.listeners, ['fd://3', 'fd://4']);
  const using = server.findLog('using the sockets passed by systemd; bind is ignored');
  assert.ok(using, 'the master says it uses the systemd sockets');
  assert.deepEqual(using.fds, [3, 4]);
  assertFromWorker(server, reply, '/activated');
  assertFromWorker(server, await request({ host: '127.0.0.1', port: second }, '/second'), '/second');

  await stop(server);
});

test('systemd socket activation with fd:// entries in bind: bind is used as written', opts, async (t) => {
  if (!existsSync(SOCKET_ACTIVATE)) {
    t.skip(`${SOCKET_ACTIVATE} is not installed (Debian package systemd)`);
    return;
  }
  const activated = await freePort();
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { bind: ['fd://3', '127.0.0.1:0'] }) },
    wrapper: [SOCKET_ACTIVATE, '-l', `127.0.0.1:${activated}`],
    waitReady: false,
  });
  const reply = await requestWhenListening({ host: '127.0.0.1', port: activated }, '/via-fd');
  const ready = await server.waitForLog('server ready');
  const listeners = ready.listeners as string[];
  assert.equal(listeners[0], 'fd://3');
  assert.match(listeners[1] ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(listeners.length, 2);
  assert.equal(server.findLog('using the sockets passed by systemd; bind is ignored'), undefined);
  assertFromWorker(server, reply, '/via-fd');
  assertFromWorker(server, await request({ host: '127.0.0.1', port: Number(listeners[1]?.split(':')[1]) }, '/via-tcp'), '/via-tcp');
});

test('bind: fd://3 serves on a listening socket the parent passed as fd 3', opts, async (t) => {
  const holder = await holdPort(t);
  const port = portOf(holder);
  const fd = (holder as unknown as { _handle: { fd: number } })._handle.fd;
  assert.ok(fd > 2, `the holder's fd is ${fd}`);
  // stdio index 3 is the child's fd 3: a dup of the listening socket, as a supervisor would pass it.
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { bind: 'fd://3' }) }, stdio: [fd] });
  assert.deepEqual(server.findLog('server ready')?.listeners, ['fd://3']);
  assert.equal(server.findLog('using the sockets passed by systemd; bind is ignored'), undefined);
  // The test lets go of its copy; the socket stays open (and listening) in tsicorn.
  await closeServer(holder);
  assertFromWorker(server, await request({ host: '127.0.0.1', port }, '/inherited'), '/inherited');
  await stop(server);
});

test('bind: fd://N that was not passed: exit 1 with TSI_ERR_BIND', opts, async (t) => {
  for (const n of [9, 200]) {
    const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { bind: `fd://${n}` }) }, waitReady: false });
    // Nothing was passed as fd N. fd 9 may be one of Node's own descriptors (epoll, eventfd, pipes)
    // in the master, so it can show as "not a socket" rather than "not open"; see the report.
    await assertFailsWith(
      server,
      new RegExp(`^tsicorn: cannot listen on fd://${n}: fd ${n} is not (open|a socket)\\b.*\\(TSI_ERR_BIND\\)$`),
    );
    assert.equal(server.countLogs('worker ready'), 0);
  }
});

test('LISTEN_PID must name the master: activation applies only to the process systemd meant', opts, async (t) => {
  const holder = await holdPort(t);
  const port = portOf(holder);
  const fd = (holder as unknown as { _handle: { fd: number } })._handle.fd;
  // Another process's LISTEN_PID: not for us; bind is used.
  const other = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP) },
    env: { LISTEN_PID: '1', LISTEN_FDS: '1' },
    stdio: [fd],
  });
  const listeners = (other.findLog('server ready')?.listeners ?? []) as string[];
  assert.match(listeners[0] ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(other.findLog('using the sockets passed by systemd; bind is ignored'), undefined);

  // Our own pid (sh sets LISTEN_PID=$$, then execs tsicorn as that pid), as systemd does.
  const ours = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP) },
    wrapper: ['sh', '-c', 'LISTEN_PID=$$ LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; exec "$@"', 'sh'],
    stdio: [fd],
  });
  assert.deepEqual(ours.findLog('server ready')?.listeners, ['fd://3']);
  assert.ok(ours.findLog('using the sockets passed by systemd; bind is ignored'));
  await closeServer(holder);
  assertFromWorker(ours, await request({ host: '127.0.0.1', port }, '/activated-by-sh'), '/activated-by-sh');
});

test('pidfile: a dead pid is replaced, the master pid is written, the file removed on exit; a live pid is refused', opts, async (t) => {
  const dir = tempDir(t, { 'server.yaml': serverYaml(APP, { workers: 1, pidfile: 'tsicorn.pid' }) });
  const pidfile = join(dir, 'tsicorn.pid');
  writeFileSync(pidfile, '999999\n');
  assert.throws(() => process.kill(999999, 0), { code: 'ESRCH' }, 'pid 999999 is not running');

  const server = await startServer(t, { cwd: dir });
  assert.equal(readFileSync(pidfile, 'utf8'), `${server.pid}\n`);
  await stop(server);
  assert.ok(!existsSync(pidfile), 'the pidfile is removed on exit');

  writeFileSync(pidfile, `${process.pid}\n`);
  const refused = await startServer(t, { cwd: dir, waitReady: false });
  const line = await assertFailsWith(
    refused,
    /^tsicorn: pidfile \S+tsicorn\.pid names process \d+, which is running.*\(TSI_ERR_PIDFILE\)$/,
  );
  assert.ok(line.includes(`names process ${process.pid},`), line);
  assert.equal(refused.countLogs('worker ready'), 0);
  assert.equal(readFileSync(pidfile, 'utf8'), `${process.pid}\n`, "the refused server leaves the other process's pidfile alone");
});

test('pidfile: not written when binding fails', opts, async (t) => {
  const holder = await holdPort(t);
  const dir = tempDir(t, { 'server.yaml': serverYaml(APP, { bind: `127.0.0.1:${portOf(holder)}`, pidfile: 'tsicorn.pid' }) });
  const server = await startServer(t, { cwd: dir, waitReady: false });
  await assertFailsWith(server, /\(TSI_ERR_BIND\)$/);
  assert.ok(!existsSync(join(dir, 'tsicorn.pid')), 'no pidfile');
});

test('backlog: the listening socket is given that many pending connections', opts, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, backlog: 37 }) } });
  const { port } = new URL(server.url());
  // For a listening socket, `ss -ltn` shows the backlog in the Send-Q column.
  const ss = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
  if (ss.error) {
    t.skip('ss (iproute2) is not installed');
    return;
  }
  const [, , sendQ] = ss.stdout.trim().split(/\s+/);
  assert.equal(sendQ, '37', ss.stdout);
});

test('unix socket with user/group: the socket file belongs to them, mode from umask', opts, async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to give a file away');
    return;
  }
  const dir = tempDir(t, {});
  chmodSync(dir, 0o755);
  const sock = join(dir, 'app.sock');
  const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout);
  const nogroup = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout);
  writeFileSync(join(dir, 'app.cjs'), readFileSync(APP));
  writeFileSync(join(dir, 'server.yaml'), serverYaml('app.cjs', { bind: `unix:${sock}`, user: 'nobody', group: nogroup, umask: '0007' }));
  const server = await startServer(t, { cwd: dir });
  const stat = statSync(sock);
  assert.equal(stat.uid, nobody);
  assert.equal(stat.gid, nogroup);
  assert.equal(stat.mode & 0o777, 0o770);
  assertFromWorker(server, await request({ socketPath: sock }, '/owned'), '/owned');
});

test('a user that does not exist stops start-up with TSI_ERR_USER before any worker starts', opts, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { bind: 'unix:app.sock', user: 'no-such-user-here' }) },
    waitReady: false,
  });
  await assertFailsWith(server, /^tsicorn: user "no-such-user-here" does not exist \(TSI_ERR_USER\)$/);
  assert.equal(server.countLogs('worker ready'), 0);
});

test('USR2 under socket activation: the new master serves on the sockets systemd passed, bind still ignored', opts, async (t) => {
  if (!existsSync(SOCKET_ACTIVATE)) {
    t.skip(`${SOCKET_ACTIVATE} is not installed (Debian package systemd)`);
    return;
  }
  const port = await freePort();
  const holder = await holdPort(t);
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 1, bind: `127.0.0.1:${portOf(holder)}` }) },
    wrapper: [SOCKET_ACTIVATE, '-l', `127.0.0.1:${port}`],
    waitReady: false,
  });
  await requestWhenListening({ host: '127.0.0.1', port }, '/before');
  await server.waitForLog('server ready');
  process.kill(server.pid, 'SIGUSR2');
  const handover = await server.waitForLog('upgrade: new master is serving; this one leaves');
  const successor = handover.newMasterPid as number;
  t.after(() => {
    try {
      process.kill(successor, 'SIGKILL');
    } catch {
      // Gone.
    }
  });
  await server.exited;
  const reply = await request({ host: '127.0.0.1', port }, '/after');
  assert.equal(reply.status, 200);
  const body = JSON.parse(reply.body) as { pid: number };
  assert.notEqual(body.pid, server.workerPids()[0], 'a worker of the new master answered');
  process.kill(successor, 'SIGTERM');
});
