import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, type RunningServer, serverYaml, startServer, until } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');

/** Connects and resolves with the error code, or 'connected' (then closes). */
function tryConnect(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolvePromise) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolvePromise(err.code ?? err.message));
  });
}

/** The signals a process catches, from /proc: bit n-1 of SigCgt is signal n. */
function caughtSignals(pid: number): bigint {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^SigCgt:\s*([0-9a-f]+)$/m);
  return line ? BigInt(`0x${line[1]}`) : 0n;
}
const SIGHUP_BIT = 1n << 0n;

test('SIGTERM stops accepting at once: a new connection is refused while the in-flight request finishes', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP) } });
  const res = await fetch(`${server.url()}/slow-body?ms=2000`);
  process.kill(server.pid, 'SIGTERM');
  await server.waitForLog('stopping gracefully');
  // The listening socket is closed by the master and by the draining workers: refused, not queued.
  let refused = false;
  const deadline = Date.now() + 5000;
  while (!refused && Date.now() < deadline) refused = (await tryConnect(server.url())) === 'ECONNREFUSED';
  assert.ok(refused, 'a connection after TERM is refused');
  assert.equal(await res.text(), 'finished after 2000 ms', 'the in-flight request is answered');
  assert.equal(await server.waitForExit(), 0);
});

test('SIGTERM does not wait out an idle keep-alive connection', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { keepalive: 20 }) } });
  const { hostname, port } = new URL(server.url());
  const idle = connect(Number(port), hostname);
  idle.on('error', () => {});
  const closed = once(idle, 'close');
  idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(idle, 'data');
  const { code, tookMs } = await server.terminate();
  assert.equal(code, 0);
  assert.ok(tookMs < 5000, `the stop took ${tookMs} ms with keepalive 20 s`);
  await closed;
});

test('graceful_timeout bounds a TERM: a request still running then is cut, and the master exits 0', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, graceful_timeout: 1 }) } });
  const res = await fetch(`${server.url()}/slow-body?ms=20000`);
  const started = Date.now();
  process.kill(server.pid, 'SIGTERM');
  await assert.rejects(res.text(), 'the request outlasting graceful_timeout is cut');
  const cutAfter = Date.now() - started;
  assert.equal(await server.waitForExit(), 0);
  assert.ok(cutAfter >= 900, `cut ${cutAfter} ms after TERM: graceful_timeout (1 s) was waited out first`);
  assert.ok(cutAfter < 5000, `cut ${cutAfter} ms after TERM, long after graceful_timeout`);
  assert.ok(server.findLog('worker exiting', { component: 'worker', forced: true }));
});

test('SIGQUIT stops at once, like SIGINT', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP) } });
  const res = await fetch(`${server.url()}/slow-body?ms=20000`);
  const started = Date.now();
  process.kill(server.pid, 'SIGQUIT');
  await server.waitForLog('stopping now');
  await assert.rejects(res.text());
  assert.equal(await server.waitForExit(), 0);
  assert.ok(Date.now() - started < 5000);
});

/** Sends SIGUSR1 to `pid` every few milliseconds until `stop()` says so. */
async function hammerUsr1(pid: number, stop: () => boolean): Promise<number> {
  let sent = 0;
  while (!stop()) {
    try {
      process.kill(pid, 'SIGUSR1');
      sent++;
    } catch {
      return sent;
    }
    await new Promise((r) => setTimeout(r, 3));
  }
  return sent;
}

function assertNoInspector(server: RunningServer): void {
  const output = server.stderrText.join('\n');
  assert.doesNotMatch(output, /Debugger listening|inspector/i, 'SIGUSR1 opened an inspector');
}

test('SIGUSR1 from the first moment the master catches signals never opens an inspector, and start-up goes on', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1 }) }, waitReady: false });
  // SigCgt shows our handlers (Node catches no SIGHUP of its own) before the CLI has loaded.
  await until('the master to catch signals', () => (caughtSignals(server.pid) & SIGHUP_BIT) !== 0n, 10_000);
  const sent = await hammerUsr1(server.pid, () => server.findLog('server ready') !== undefined || server.exitCode !== null);
  await server.waitForLog('server ready');
  assert.ok(sent > 0);
  assertNoInspector(server);
  assert.equal((await fetch(`${server.url()}/`)).status, 200);
});

test('SIGUSR1 at a worker while it boots never opens an inspector; the worker reopens its logs once ready', {
  timeout: 30_000,
}, async (t) => {
  // The app takes a second to import: the worker's signals arrive while its modules load.
  const server = await startServer(t, {
    files: {
      'server.yaml': serverYaml('app.mjs', { workers: 1 }),
      'app.mjs': 'await new Promise((r) => setTimeout(r, 1000));\nexport default (req, res) => res.end("ok");\n',
    },
  });
  const before = server.workerPids();
  process.kill(server.pid, 'SIGTTIN');
  let spawned = 0;
  // Between fork and exec the child is a copy of the master, the master's handlers included: its
  // own are in only once it runs the worker entry (another command line) and catches SIGHUP.
  const masterCommand = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8');
  const isWorkerCatching = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== masterCommand && (caughtSignals(pid) & SIGHUP_BIT) !== 0n;
    } catch {
      return false; // gone already
    }
  };
  await until('the new worker to catch signals', () => {
    const children = readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    spawned = children.find((pid) => pid > 0 && !before.includes(pid) && isWorkerCatching(pid)) ?? 0;
    return spawned !== 0;
  });
  const sent = await hammerUsr1(spawned, () => server.workerPids().includes(spawned));
  assert.ok(sent > 0);
  await server.waitForLog('log files reopened', { component: 'worker', pid: spawned });
  assertNoInspector(server);
  assert.equal(server.countLogs('worker died'), 0);
});

test('the signal handlers are the first thing the master and the worker entry points load', () => {
  const firstImport = (file: string) => readFileSync(join(ROOT, file), 'utf8').match(/^import\s+(?:[^'"]*from\s+)?['"]([^'"]+)['"]/m)?.[1];
  for (const [entry, first] of [
    ['dist/src/cli/main.js', './early-signals.js'],
    ['dist/src/worker/entry.js', './signal-queue.js'],
  ] as const) {
    assert.equal(firstImport(entry), first, `${entry} must import ${first} before anything else`);
  }
  for (const module of ['dist/src/cli/early-signals.js', 'dist/src/master/signals.js', 'dist/src/worker/signal-queue.js']) {
    const imports = [...readFileSync(join(ROOT, module), 'utf8').matchAll(/^import\s.*from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    assert.ok(
      imports.every((i) => i === '../master/signals.js'),
      `${module} loads nothing heavy before its handlers: ${imports.join(', ')}`,
    );
  }
  // What the master forks is the bundle (scripts/bundle-worker.mjs): its first import must be the
  // chunk that installs the handlers, and that chunk must import nothing.
  const chunk = firstImport('dist/worker/entry.js') ?? '(none)';
  const source = readFileSync(join(ROOT, 'dist/worker', chunk), 'utf8');
  assert.match(source, /process\.on\(signal, queue\)/, `dist/worker/${chunk} installs the worker's signal handlers`);
  assert.doesNotMatch(source, /^import\s/m, `dist/worker/${chunk} loads nothing before its handlers`);
});
