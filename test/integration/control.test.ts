import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ServerStatus } from '../../src/control/protocol.js';
import { runLoad } from '../helpers/load.js';
import { BIN, cleanEnv, isAlive, ROOT, type RunningServer, serverYaml, startServer, tempDir, until } from '../helpers/server.js';

/** Every control command, run as an operator would: `tsicorn <command> -c server.yaml` in the config's directory. */

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const opts = { timeout: 60_000 };

function cli(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 });
}

/** Like `cli`, without blocking the test's event loop (for commands that wait on the server). */
function cliAsync(dir: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.once('exit', (status) => resolvePromise({ status, stdout, stderr }));
  });
}

/** The master's child processes, from /proc. */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

function statusJson(server: RunningServer) {
  const run = cli(server.dir, ['status', '--json', '-c', 'server.yaml']);
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as ServerStatus;
}

test('status --json names the master and exactly the worker processes that run; status prints a table', opts, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 3 }) } });
  await until('heartbeats', () => statusJson(server).workers.every((w) => w.state === 'ready'));
  const status = statusJson(server);
  assert.equal(status.pid, server.pid);
  assert.equal(status.workersTarget, 3);
  assert.deepEqual(status.workers.map((w) => w.pid).sort(), childrenOf(server.pid).sort(), 'the pids are the master’s real children');
  const text = cli(server.dir, ['status']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^master ${server.pid}: running, up \\d+s, generation 1`));
  assert.match(text.stdout, /workers 3 ready of 3:/);
  for (const w of status.workers) assert.match(text.stdout, new RegExp(`\\b${w.pid}\\b.*\\bready\\b`));
  assert.equal(statSync(join(server.dir, '.server.yaml.sock')).mode & 0o777, 0o600, 'only the owner may use the socket');
});

/** One request on a connection of its own; resolves once the whole response has arrived. */
function finished(url: string, method = 'GET'): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(url, { method, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolvePromise(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end();
  });
}

interface WorkerFigures {
  id: number;
  state: string;
  requests: number;
  inflight: number;
  rssBytes: number;
  fresh: boolean;
}

async function statusNow(server: RunningServer) {
  const run = await cliAsync(server.dir, ['status', '--json', '-c', 'server.yaml']);
  assert.equal(run.status, 0, run.stderr);
  return (JSON.parse(run.stdout) as { workers: WorkerFigures[] }).workers;
}

test(
  'status shows figures as of now: RSS from the moment a worker is ready, finished requests counted and not in flight',
  opts,
  async (t) => {
    const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 2 }) } });
    const url = server.url();
    // A heartbeat is up to a second old, and the one sent as a request starts counts it in flight:
    // asked right after "server ready", and right after each round of requests, a snapshot is wrong.
    let sent = 0;
    for (let round = 0; round < 4; round++) {
      if (round > 0) {
        for (const [path, method] of [
          ['/a', 'GET'],
          ['/b', 'HEAD'],
          ['/slow?ms=20', 'GET'],
        ] as const) {
          assert.equal(await finished(`${url}${path}`, method), 200);
          sent++;
        }
      }
      const workers = await statusNow(server);
      const where = `round ${round}: ${JSON.stringify(workers)}`;
      assert.equal(workers.length, 2, where);
      for (const w of workers) {
        assert.equal(w.state, 'ready', where);
        assert.equal(w.inflight, 0, `worker ${w.id} shows a finished request in flight; ${where}`);
        assert.ok(w.rssBytes > 0, `worker ${w.id} shows RSS 0; ${where}`);
        assert.equal(w.fresh, true, where);
      }
      assert.equal(
        workers.reduce((sum, w) => sum + w.requests, 0),
        sent,
        `every finished request is counted; ${where}`,
      );
    }
  },
);

test('a worker whose event loop is blocked does not hold status up: its figures are marked as of its last heartbeat', opts, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1 }) } });
  let unblocked = false;
  // Blocks the only worker for 8 s (timeout is 30): it cannot answer, and status must not wait for it.
  finished(`${server.url()}/block?ms=8000`).then(
    () => {
      unblocked = true;
    },
    () => {},
  );
  const deadline = Date.now() + 6000;
  let workers = await statusNow(server);
  while (workers.every((w) => w.fresh)) {
    assert.ok(Date.now() < deadline, `no status showed the blocked worker: ${JSON.stringify(workers)}`);
    workers = await statusNow(server);
  }
  assert.equal(unblocked, false, 'the status came while the worker was blocked');
  assert.equal(workers[0]?.state, 'ready');
  assert.ok((workers[0]?.rssBytes ?? 0) > 0, 'its last heartbeat’s RSS');
  const text = await cliAsync(server.dir, ['status', '-c', 'server.yaml']);
  assert.equal(text.status, 0, text.stderr);
  assert.equal(unblocked, false, 'the status came while the worker was blocked');
  assert.match(text.stdout, /^ {2}1\* +\d+ +1 +ready +\d+ +[01] +[\d.]+MiB /m);
  assert.match(text.stdout, /^ {2}\* did not answer within 0\.5 s \(event loop busy, or app loading\): figures as of its last heartbeat$/m);
});

test('status --json reports per worker what it served, holds, uses and when it last beat; restarts with their reason', opts, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 2 }) } });
  const startedAt = Date.now();
  const sent = await runLoad(`${server.url()}/`, { total: 30, concurrency: 3, close: true });
  assert.equal(sent.ok, 30, sent.errors.join('\n'));
  // Counts reach the master with the heartbeats: wait for the one that carries the 30th.
  const served = () => statusJson(server).workers.reduce((sum, w) => sum + w.requests, 0);
  await until('30 requests in status', () => served() === 30);
  const slow = await fetch(`${server.url()}/slow-body?ms=4000`);
  await until('the request in flight', () => statusJson(server).workers.reduce((sum, w) => sum + w.inflight, 0) === 1);
  const status = statusJson(server);
  assert.equal(status.generation, 1);
  assert.ok(status.uptimeSeconds > 0 && status.uptimeSeconds < (Date.now() - startedAt) / 1000 + 30);
  for (const w of status.workers) {
    assert.equal(w.generation, 1);
    assert.ok(w.rssBytes > 10 * 1024 * 1024, `worker ${w.pid}: rss ${w.rssBytes}`);
    assert.ok(w.cpuSeconds > 0, `worker ${w.pid}: cpu ${w.cpuSeconds}`);
    assert.ok(w.ageSeconds > 0 && w.ageSeconds < (Date.now() - startedAt) / 1000 + 30, `worker ${w.pid}: age ${w.ageSeconds}`);
    assert.ok(w.heartbeatAgoMs >= 0 && w.heartbeatAgoMs < 5000, `worker ${w.pid}: heartbeat ${w.heartbeatAgoMs} ms ago`);
  }
  assert.equal(await slow.text(), 'finished after 4000 ms');
  assert.deepEqual(status.restarts, {});

  const [victim] = server.workerPids();
  process.kill(victim as number, 'SIGKILL');
  await server.waitForLog('worker died', { workerPid: victim });
  const after = statusJson(server);
  assert.equal(after.restarts.exit, 1);
  assert.deepEqual(
    after.recentExits.map((e) => [e.pid, e.reason]),
    [[victim, 'exit']],
  );
  assert.ok(!after.workers.some((w) => w.pid === victim));
  const text = cli(server.dir, ['status']);
  assert.match(text.stdout, /^restarts: exit 1$/m);
});

test('scale N, +N and -N change the worker count; below one is refused', opts, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1 }) } });
  const up = cli(server.dir, ['scale', '3']);
  assert.equal(up.status, 0, up.stderr);
  assert.equal(up.stdout, 'workers: 1 → 3\n');
  await server.waitFor('3 workers', () => server.workerPids().length === 3);
  assert.equal(cli(server.dir, ['scale', '+1']).stdout, 'workers: 3 → 4\n');
  assert.equal(cli(server.dir, ['scale', '-2']).stdout, 'workers: 4 → 2\n');
  await server.waitFor('2 workers', () => server.workerPids().length === 2);
  const refused = cli(server.dir, ['scale', '-5']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /cannot scale to -3 workers: at least 1 is needed/);
  const usage = cli(server.dir, ['scale', 'lots']);
  assert.equal(usage.status, 64);
});

test('reload waits for the rotation and reports it; a broken deploy is reported as failed, exit 1', opts, async (t) => {
  const app = (v: string) => `export default (req, res) => res.end('${v}');\n`;
  const server = await startServer(t, { files: { 'server.yaml': serverYaml('app.mjs', { workers: 2 }), 'app.mjs': app('v1') } });
  const ok = await cliAsync(server.dir, ['reload']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^reloaded: generation 2, 2 workers, in \d+ ms\n$/);
  assert.ok(server.findLog('rotation finished', { generation: 2 }), 'the reply came after the rotation');

  writeFileSync(join(server.dir, 'app.mjs'), "throw new Error('no database');\n");
  const failed = await cliAsync(server.dir, ['reload', '-c', 'server.yaml']);
  assert.equal(failed.status, 1);
  assert.match(failed.stderr, /reload failed: a new worker did not start; the running workers keep serving/);
  assert.match(failed.stderr, /no database/);
  assert.equal(await (await fetch(`${server.url()}/`)).text(), 'v1');
});

test('reload of an invalid file is refused before anything is sent, with the errors', opts, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, reload: { config: false } }) } });
  writeFileSync(join(server.dir, 'server.yaml'), 'app: app.js\nworkers: many\nreload: {config: false}\n');
  const run = cli(server.dir, ['reload']);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /^server\.yaml:2:10: workers: /m);
  assert.match(run.stderr, /not sent: the running server would refuse this config/);
  assert.equal(server.countLogs('signal received'), 0);
  assert.equal(server.countLogs('control command'), 0);
  // status and stop still find the server through its invalid file.
  assert.equal(cli(server.dir, ['status']).status, 0);
});

test('reopen-logs through the control socket', opts, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 2 }) } });
  const run = cli(server.dir, ['reopen-logs']);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'log files reopened by the master and 2 workers\n');
  await server.waitFor('both workers reopened', () => server.countLogs('log files reopened', { component: 'worker' }) === 2);
});

test('stop waits until the server has exited; an in-flight request finishes first', opts, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1 }) } });
  const res = await fetch(`${server.url()}/slow-body?ms=1000`);
  const run = await cliAsync(server.dir, ['stop']);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'stopping gracefully\nstopped\n');
  assert.ok(!isAlive(server.pid) || server.exitCode !== null, 'the master is gone when stop returns');
  assert.equal(await res.text(), 'finished after 1000 ms');
  assert.equal(await server.waitForExit(), 0);
  assert.ok(!existsSync(join(server.dir, '.server.yaml.sock')), 'the socket file is removed');
});

test('stop --quick does not wait for in-flight requests', opts, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1 }) } });
  const res = await fetch(`${server.url()}/slow-body?ms=20000`);
  const run = await cliAsync(server.dir, ['stop', '--quick']);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'stopping now\nstopped\n');
  await assert.rejects(res.text());
});

test('with no server running every command says so and exits 1', opts, async (t) => {
  const dir = tempDir(t, { 'server.yaml': serverYaml(APP) });
  for (const args of [['status'], ['scale', '2'], ['reload'], ['stop'], ['reopen-logs']]) {
    const run = cli(dir, args);
    assert.equal(run.status, 1, `${args.join(' ')}: ${run.stderr}`);
    assert.match(
      run.stderr,
      /no server is running for this config: there is no control socket at .*\.server\.yaml\.sock \(TSI_ERR_NOT_RUNNING\)/,
    );
  }
});

test('control.socket: null — reload and stop fall back to the pidfile and signals; status says why it cannot', opts, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 1, pidfile: 'app.pid', control: { socket: null } }) },
  });
  const status = cli(server.dir, ['status']);
  assert.equal(status.status, 1);
  assert.match(status.stderr, /control\.socket is null in this config/);
  const reload = cli(server.dir, ['reload']);
  assert.equal(reload.status, 0, reload.stderr);
  assert.match(reload.stdout, /^reload requested: sent SIGHUP to the master/);
  await server.waitForLog('rotation finished');
  const stop = cli(server.dir, ['stop']);
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal(await server.waitForExit(), 0);
});

test('control.socket: auto lives under $XDG_RUNTIME_DIR when there is one', opts, async (t) => {
  const runtime = tempDir(t);
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1 }) }, env: { XDG_RUNTIME_DIR: runtime } });
  const ready = await server.waitForLog('control socket ready');
  assert.match(String(ready.path), new RegExp(`^${runtime}/tsicorn-[0-9a-f]{16}\\.sock$`));
  assert.equal(cli(server.dir, ['status'], { XDG_RUNTIME_DIR: runtime }).status, 0);
});

test('after USR2 the new master answers on the same control socket', opts, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, pidfile: 'app.pid' }) } });
  process.kill(server.pid, 'SIGUSR2');
  const handover = await server.waitForLog('upgrade: new master is serving; this one leaves');
  const successor = handover.newMasterPid as number;
  t.after(() => {
    if (isAlive(successor)) process.kill(successor, 'SIGKILL');
  });
  await server.exited;
  const status = statusJson(server);
  assert.equal(status.pid, successor);
  const stop = await cliAsync(server.dir, ['stop']);
  assert.equal(stop.status, 0, stop.stderr);
  await until('the new master to be gone', () => !isAlive(successor));
});

test(
  'status --wait returns once every worker is ready (systemd ExecStartPost=), and fails when the server never serves',
  opts,
  async (t) => {
    const slow = 'await new Promise((r) => setTimeout(r, 1500));\nexport default (req, res) => res.end("warm");\n';
    const server = await startServer(t, {
      files: { 'server.yaml': serverYaml('app.mjs', { workers: 2 }), 'app.mjs': slow },
      waitReady: false,
    });
    const waited = await cliAsync(server.dir, ['status', '--wait', '20', '--json']);
    assert.equal(waited.status, 0, waited.stderr);
    const status = JSON.parse(waited.stdout) as { state: string; workers: { state: string }[] };
    assert.equal(status.state, 'running');
    assert.equal(status.workers.filter((w) => w.state === 'ready').length, 2);
    assert.ok(server.findLog('server ready'), 'it returned after the server was ready');

    const nobody = tempDir(t, { 'server.yaml': serverYaml(APP) });
    const gaveUp = await cliAsync(nobody, ['status', '--wait', '1']);
    assert.equal(gaveUp.status, 1);
    assert.match(gaveUp.stderr, /the server was not serving within 1 s \(last: no server is running/);
  },
);

test('a USR2 successor that fails leaves the old master with its pidfile and its control socket', opts, async (t) => {
  const server = await startServer(t, {
    files: {
      'server.yaml': serverYaml('app.mjs', { workers: 1, pidfile: 'app.pid' }),
      'app.mjs': 'export default (req, res) => res.end("v1");\n',
    },
  });
  // The successor binds, writes the pidfile and takes the socket over, then its app fails to load.
  writeFileSync(join(server.dir, 'app.mjs'), "throw new Error('broken release');\n");
  process.kill(server.pid, 'SIGUSR2');
  await server.waitForLog('upgrade failed: this master keeps serving');
  await server.waitForLog(
    'control socket ready',
    {},
    15_000,
    server.logs.findIndex((l) => l.msg === 'upgrade failed: this master keeps serving'),
  );
  assert.equal(Number(readFileSync(join(server.dir, 'app.pid'), 'utf8')), server.pid, 'the pidfile names the old master again');
  assert.equal(statusJson(server).pid, server.pid, 'the control socket answers, from the old master');
  assert.equal(await (await fetch(`${server.url()}/`)).text(), 'v1');
});

test('status finds a server whose file is mid-edit and invalid at the control.socket the file sets', opts, async (t) => {
  const config = (workers: string) =>
    `app: ${JSON.stringify(APP)}\nbind: 127.0.0.1:0\nworkers: ${workers}\ncontrol:\n  socket: ./run/ctl.sock\n`;
  const dir = tempDir(t, { 'server.yaml': config('1'), 'run/.keep': '' });
  const server = await startServer(t, { cwd: dir });
  writeFileSync(join(dir, 'server.yaml'), config('many'));
  const run = cli(dir, ['status']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, new RegExp(`^master ${server.pid}: `));
});

test('a server started without a config file is found by `tsicorn status` run in the same directory', opts, async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, { cwd: dir, args: [APP, '--workers', '1', '--bind', '127.0.0.1:0'] });
  const run = cli(dir, ['status', '--json']);
  assert.equal(run.status, 0, run.stderr);
  assert.equal((JSON.parse(run.stdout) as { pid: number }).pid, server.pid);
});
