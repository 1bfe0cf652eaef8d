/**
 * deploy/systemd: the units are valid for systemd (`systemd-analyze verify`, and `security` keeps
 * their hardening), agree with the config they ship with, and their commands work: ExecStart runs
 * under systemd-socket-activate with the unit's ListenStream, as an unprivileged user like User=,
 * ExecReload reloads under load without a failed request, and KillSignal stops it within
 * TimeoutStopSec with no worker left behind (what KillMode=mixed relies on). systemd itself cannot
 * run as PID 1 here; systemd-socket-activate passes sockets exactly as it does (LISTEN_PID/LISTEN_FDS).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { dump, load } from 'js-yaml';
import { runLoad } from '../helpers/load.js';
import { isAlive, ROOT, type RunningServer, startServer, tempDir, until } from '../helpers/server.js';

const UNITS = join(ROOT, 'deploy', 'systemd');
const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';
const SETPRIV = '/usr/bin/setpriv';
const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const opts = { timeout: 60_000 };

type Unit = Record<string, Record<string, string[]>>;

/** A unit file as systemd reads it: sections of keys, each with every value assigned (in order). */
function parseUnit(path: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = {};
      unit[header[1] ?? ''] = section;
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section && eq > 0, `${path}: a key=value line inside a section: ${line}`);
    const key = line.slice(0, eq).trim();
    const values = section[key] ?? [];
    values.push(line.slice(eq + 1).trim());
    section[key] = values;
  }
  return unit;
}

/** The last value of a key (systemd's rule for single-valued settings). */
function one(unit: Unit, section: string, key: string): string {
  const values = unit[section]?.[key];
  assert.ok(values && values.length > 0, `[${section}] ${key}= is set`);
  return values[values.length - 1] ?? '';
}

const shippedConfig = load(readFileSync(join(UNITS, 'server.yaml'), 'utf8')) as Record<string, unknown>;

/** ExecStart is `NODE TSICORN -c CONFIG`; returns the tsicorn arguments. */
function tsicornArgs(service: Unit): string[] {
  const argv = one(service, 'Service', 'ExecStart').split(/\s+/);
  assert.match(argv[0] ?? '', /\/node$/, 'ExecStart runs node by its absolute path');
  assert.match(argv[1] ?? '', /\/tsicorn\/bin\/tsicorn$/, 'then the app-local tsicorn CLI');
  assert.deepEqual(argv.slice(2), ['-c', '/etc/tsicorn/server.yaml']);
  return argv.slice(2);
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePromise(port));
    });
    probe.on('error', reject);
  });
}

/** A GET that retries while nothing listens yet (for at most 15 s). */
async function getWhenListening(port: number, path: string): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await new Promise((resolvePromise, reject) => {
        const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: 15_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => {
            body += d;
          });
          res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
        });
        req.on('timeout', () => req.destroy(new Error(`no answer within 15 s for ${path}`)));
        req.on('error', reject);
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * The shipped server.yaml with only what must differ on a test machine: the app, and the paths
 * under /run/tsicorn moved to a directory the service user owns (RuntimeDirectory=).
 */
function testConfig(t: TestContext, owner: { uid: number; gid: number } | null): { dir: string; config: string; run: string } {
  const dir = tempDir(t, {});
  chmodSync(dir, 0o755);
  const run = join(dir, 'run');
  mkdirSync(run, { mode: 0o750 });
  if (owner) chownSync(run, owner.uid, owner.gid);
  const app = join(dir, 'app.cjs');
  copyFileSync(APP, app);
  const settings = {
    ...shippedConfig,
    app,
    chdir: dir,
    bind: '127.0.0.1:0',
    workers: 2,
    pidfile: join(run, 'tsicorn.pid'),
    control: { socket: join(run, 'control.sock') },
    metrics: { bind: null },
  };
  const config = join(dir, 'server.yaml');
  writeFileSync(config, dump(settings));
  chmodSync(config, 0o644);
  return { dir, config, run };
}

/** The uid and gid of `nobody`/`nogroup`, to run the master as systemd's User= would. */
function nobody(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0 || !existsSync(SETPRIV)) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
  } catch {
    return null;
  }
}

/** ExecReload, as systemd runs it: the command line with $MAINPID replaced by the master's pid. */
function execReload(service: Unit, mainPid: number): void {
  const argv = one(service, 'Service', 'ExecReload')
    .split(/\s+/)
    .map((a) => (a === '$MAINPID' ? String(mainPid) : a));
  const result = spawnSync(argv[0] ?? '', argv.slice(1), { encoding: 'utf8', timeout: 5_000 });
  assert.equal(result.status, 0, `ExecReload ${argv.join(' ')}: ${result.stderr}`);
}

/** Reload (ExecReload) under keep-alive load: no failed request, and a new generation serves. */
async function reloadUnderLoad(service: Unit, server: RunningServer, port: number): Promise<void> {
  const before = server.logs.length;
  let finished = false;
  const loadDone = runLoad(`http://127.0.0.1:${port}/`, { total: 5_000, concurrency: 4, stop: () => finished });
  execReload(service, server.pid);
  await server.waitForLog('rotation finished', {}, 30_000, before);
  finished = true;
  const result = await loadDone;
  assert.deepEqual(result.errors, [], 'no request failed during the reload');
  assert.equal(result.ok, result.total, `every request got 200: ${JSON.stringify([...result.statuses])}`);
  assert.ok(result.total > 0, 'requests were sent while the workers rotated');
}

/** KillSignal to the master only (KillMode=mixed): exit 0 within TimeoutStopSec, no worker left. */
async function stopLikeSystemd(service: Unit, server: RunningServer, run: string): Promise<void> {
  const workers = server.workerPids();
  assert.ok(workers.length > 0);
  const signal = one(service, 'Service', 'KillSignal') as NodeJS.Signals;
  process.kill(server.pid, signal);
  const stopSec = Number(one(service, 'Service', 'TimeoutStopSec'));
  assert.equal(await server.waitForExit(stopSec * 1000), 0, server.stderrText.slice(-20).join('\n'));
  await until('every worker gone', () => workers.every((pid) => !isAlive(pid)), 5_000);
  assert.ok(!existsSync(join(run, 'tsicorn.pid')), 'the pidfile is removed on stop');
}

const socketUnit = parseUnit(join(UNITS, 'tsicorn.socket'));
const activatedService = parseUnit(join(UNITS, 'tsicorn.service'));
const standaloneService = parseUnit(join(UNITS, 'standalone', 'tsicorn.service'));

test('the units say what a prefork master needs: notify readiness, HUP reload, mixed kill, a stop timeout above graceful_timeout', () => {
  for (const service of [activatedService, standaloneService]) {
    assert.equal(one(service, 'Service', 'Type'), 'notify');
    assert.equal(one(service, 'Service', 'NotifyAccess'), 'all', 'systemd-notify, a child of the master, may report readiness');
    assert.equal(one(service, 'Service', 'ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(one(service, 'Service', 'KillMode'), 'mixed');
    assert.equal(one(service, 'Service', 'KillSignal'), 'SIGTERM');
    const graceful = shippedConfig.graceful_timeout as number;
    assert.ok(Number(one(service, 'Service', 'TimeoutStopSec')) > graceful, 'TimeoutStopSec > graceful_timeout');
    assert.ok(one(service, 'Service', 'User') !== 'root');
    assert.equal(shippedConfig.user, undefined, "tsicorn's own user setting is left unset: systemd's User= applies");
    assert.equal(service.Service?.MemoryDenyWriteExecute, undefined, "V8's JIT needs writable and executable memory");
    assert.equal(one(service, 'Service', 'RuntimeDirectory'), 'tsicorn');
    assert.ok((shippedConfig.pidfile as string).startsWith('/run/tsicorn/'), 'the pidfile is in the RuntimeDirectory');
    tsicornArgs(service);
  }
  assert.deepEqual(activatedService.Unit?.Requires, ['tsicorn.socket']);
  assert.equal(standaloneService.Unit?.Requires, undefined);
  assert.deepEqual(socketUnit.Socket?.ListenStream, ['127.0.0.1:8000']);
  assert.equal(Number(one(socketUnit, 'Socket', 'Backlog')), 2048, "the socket's backlog is tsicorn's default `backlog`");
  // Both services differ only where socket activation does.
  const service = (u: Unit) => JSON.stringify(u.Service);
  assert.equal(service(activatedService), service(standaloneService));
});

test('systemd-analyze verify accepts the units, and security rates their hardening OK', { timeout: 30_000 }, (t) => {
  if (!existsSync('/usr/bin/systemd-analyze')) {
    t.skip('systemd-analyze is not installed (Debian package systemd)');
    return;
  }
  const dir = tempDir(t, {});
  // verify checks that ExecStart's program exists: point it at this machine's node.
  for (const [from, to] of [
    ['tsicorn.socket', 'tsicorn.socket'],
    ['tsicorn.service', 'tsicorn.service'],
    ['standalone/tsicorn.service', 'standalone.service'],
  ] as const) {
    const text = readFileSync(join(UNITS, from), 'utf8').replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`);
    writeFileSync(join(dir, to), text);
  }
  const verify = spawnSync('systemd-analyze', ['verify', 'tsicorn.socket', 'tsicorn.service', 'standalone.service'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no warnings');
  for (const unit of ['tsicorn.service', 'standalone.service']) {
    // Exposure is 0-10 (shown) or 0-100 (threshold); 1.9 today. A removed hardening line fails this.
    const security = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=25', `./${unit}`], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(security.status, 0, `${unit}: ${security.stdout.split('\n').slice(-3).join('\n')}${security.stderr}`);
  }
});

test(
  'tsicorn.service under tsicorn.socket: serves on the ListenStream socket as an unprivileged user, reloads with no failed request, stops cleanly',
  opts,
  async (t) => {
    if (!existsSync(SOCKET_ACTIVATE)) {
      t.skip(`${SOCKET_ACTIVATE} is not installed (Debian package systemd)`);
      return;
    }
    const user = nobody();
    const { config, run } = testConfig(t, user);
    const port = await freePort();
    // ListenStream=127.0.0.1:8000 on a free port instead of 8000.
    const listen = (socketUnit.Socket?.ListenStream ?? []).map((address) => address.replace(/:8000$/, `:${port}`));
    assert.deepEqual(listen, [`127.0.0.1:${port}`]);
    const env = Object.fromEntries((activatedService.Service?.Environment ?? []).map((kv) => kv.split('=', 2) as [string, string]));
    const server = await startServer(t, {
      cwd: run,
      args: tsicornArgs(activatedService).map((a) => (a === '/etc/tsicorn/server.yaml' ? config : a)),
      env,
      // User=: the master runs unprivileged (setpriv), then gets the socket as systemd passes it.
      wrapper: [
        ...(user ? [SETPRIV, `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups'] : []),
        SOCKET_ACTIVATE,
        ...listen.flatMap((address) => ['-l', address]),
      ],
      waitReady: false,
    });
    // systemd-socket-activate starts tsicorn at the first connection, which waits in the backlog.
    const first = await getWhenListening(port, '/first');
    assert.equal(first.status, 200, first.body);
    const ready = await server.waitForLog('server ready');
    assert.deepEqual(ready.listeners, ['fd://3'], 'the passed socket is the listener');
    assert.ok(server.findLog('using the sockets passed by systemd; bind is ignored'));
    assert.equal(readFileSync(join(run, 'tsicorn.pid'), 'utf8').trim(), String(server.pid));
    if (user) {
      const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
      assert.match(status, new RegExp(`^Uid:\\s+${user.uid}\\s`, 'm'), 'the master runs as the unprivileged user');
    }

    await reloadUnderLoad(activatedService, server, port);
    await stopLikeSystemd(activatedService, server, run);
  },
);

test('standalone tsicorn.service: binds `bind` itself, reloads with no failed request, stops cleanly', opts, async (t) => {
  const user = nobody();
  const { config, run } = testConfig(t, user);
  const env = Object.fromEntries((standaloneService.Service?.Environment ?? []).map((kv) => kv.split('=', 2) as [string, string]));
  const server = await startServer(t, {
    cwd: run,
    args: tsicornArgs(standaloneService).map((a) => (a === '/etc/tsicorn/server.yaml' ? config : a)),
    env,
    ...(user ? { wrapper: [SETPRIV, `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups'] } : {}),
  });
  assert.equal(server.findLog('using the sockets passed by systemd; bind is ignored'), undefined);
  const port = Number(new URL(server.url()).port);
  assert.equal((await getWhenListening(port, '/')).status, 200);
  await reloadUnderLoad(standaloneService, server, port);
  await stopLikeSystemd(standaloneService, server, run);
});

test('the shipped server.yaml is valid (check-config)', () => {
  const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'tsicorn'), 'check-config', join(UNITS, 'server.yaml')], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  assert.equal(result.status, 0, result.stdout + result.stderr);
});
