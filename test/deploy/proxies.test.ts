/**
 * deploy/nginx and deploy/haproxy, run for real in front of tsicorn (only the ports are changed):
 * the config is valid (`nginx -t`, `haproxy -c`), the app sees the client's address from the
 * forwarded headers (a forged X-Forwarded-For entry is ignored) and the scheme, and reloads of
 * tsicorn under keep-alive load through the proxy fail no request. Skipped where nginx or
 * HAProxy is not installed (Debian packages nginx, haproxy).
 * HAProxy's health check asks /-/ready on the metrics port; a stand-in answers it here.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, get } from 'node:http';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { runLoad } from '../helpers/load.js';
import { ROOT, type RunningServer, serverYaml, startServer, tempDir } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const NGINX = '/usr/sbin/nginx';
const HAPROXY = '/usr/sbin/haproxy';
const opts = { timeout: 90_000 };

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePromise(port));
    });
    probe.on('error', reject);
  });
}

/** `text` with `from` replaced by `to`, which must occur exactly once. */
function replaceOnce(text: string, from: string, to: string): string {
  assert.equal(text.split(from).length, 2, `the shipped config has \`${from}\` once`);
  return text.replace(from, to);
}

/** Resolves once something accepts connections on the port (at most 10 s). */
async function listening(port: number, proc: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        done(true);
      }).on('error', () => done(false));
    });
    if (ok) return;
    assert.equal(proc.exitCode, null, `the proxy exited:\n${output()}`);
    assert.ok(Date.now() < deadline, `the proxy does not listen on ${port} after 10 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a proxy in its own process group, stopped (and killed if it must be) when the test ends. */
function startProxy(t: TestContext, command: string, args: string[]): { proc: ChildProcess; output: () => string } {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    text += d;
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    text += d;
  });
  t.after(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((done) => proc.once('exit', done));
    process.kill(-(proc.pid ?? 0), 'SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(-(proc.pid ?? 0), 'SIGKILL');
      } catch {
        // Gone.
      }
    }, 5_000);
    await exited;
    clearTimeout(timer);
  });
  return { proc, output: () => text };
}

interface WhoAmI {
  remote: string;
  xff: string | null;
  proto: string | null;
}

/** GET /whoami through the proxy from 127.0.0.2, a client address that is not the proxy's. */
function whoami(port: number, headers: Record<string, string> = {}): Promise<WhoAmI> {
  return new Promise((resolvePromise, reject) => {
    const req = get(
      { host: '127.0.0.1', port, path: '/whoami', localAddress: '127.0.0.2', agent: false, headers, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => {
          try {
            assert.equal(res.statusCode, 200, body);
            resolvePromise(JSON.parse(body) as WhoAmI);
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
  });
}

/** The app sees the client, not the proxy, and the scheme; a forged X-Forwarded-For is no use. */
async function assertForwarded(port: number): Promise<void> {
  const plain = await whoami(port);
  assert.equal(plain.remote, '127.0.0.2', `the app sees the client's address: ${JSON.stringify(plain)}`);
  assert.equal(plain.proto, 'http');
  const forged = await whoami(port, { 'x-forwarded-for': '203.0.113.7' });
  assert.equal(forged.remote, '127.0.0.2', `a forged X-Forwarded-For entry is ignored: ${JSON.stringify(forged)}`);
}

/** Keep-alive load through the proxy while tsicorn reloads twice: every request gets a 200. */
async function reloadsUnderLoad(server: RunningServer, port: number): Promise<void> {
  let done = false;
  const loadDone = runLoad(`http://127.0.0.1:${port}/`, { total: 20_000, concurrency: 4, stop: () => done });
  try {
    for (let i = 0; i < 2; i++) {
      const from = server.logs.length;
      process.kill(server.pid, 'SIGHUP');
      await server.waitForLog('rotation finished', {}, 30_000, from);
    }
  } finally {
    done = true;
  }
  const result = await loadDone;
  assert.deepEqual(result.errors, []);
  assert.equal(result.ok, result.total, JSON.stringify([...result.statuses]));
  assert.ok(result.total > 0);
}

test('nginx (deploy/nginx/tsicorn.conf) in front of tsicorn: forwarded client address, reloads with no failed request', opts, async (t) => {
  if (!existsSync(NGINX)) {
    t.skip(`${NGINX} is not installed (Debian package nginx)`);
    return;
  }
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP) } });
  const backend = Number(new URL(server.url()).port);
  const port = await freePort();
  const dir = tempDir(t, {});
  let site = readFileSync(join(ROOT, 'deploy', 'nginx', 'tsicorn.conf'), 'utf8');
  site = replaceOnce(site, 'server 127.0.0.1:8000;', `server 127.0.0.1:${backend};`);
  site = replaceOnce(site, 'listen 80;', `listen 127.0.0.1:${port};`);
  writeFileSync(join(dir, 'tsicorn.conf'), site);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${dir};`).join(' ');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nworker_processes 1;\nevents {}\nhttp {\n  access_log off;\n  ${temp}\n  include ${dir}/tsicorn.conf;\n}\n`,
  );
  const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')];
  const check = spawnSync(NGINX, ['-t', ...args], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(check.status, 0, check.stderr);
  const nginx = startProxy(t, NGINX, [...args, '-g', 'daemon off;']);
  await listening(port, nginx.proc, () => nginx.output() + readFileSync(join(dir, 'error.log'), 'utf8'));

  await assertForwarded(port);
  await reloadsUnderLoad(server, port);
  assert.doesNotMatch(readFileSync(join(dir, 'error.log'), 'utf8'), /\[error\]/, 'nginx logged no upstream error');
});

test(
  'HAProxy (deploy/haproxy/haproxy.cfg, HTTP mode) in front of tsicorn: health check on /-/ready, forwarded client address, reloads with no failed request',
  opts,
  async (t) => {
    if (!existsSync(HAPROXY)) {
      t.skip(`${HAPROXY} is not installed (Debian package haproxy)`);
      return;
    }
    const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP) } });
    const backend = Number(new URL(server.url()).port);
    // The stand-in for tsicorn's metrics port: it answers the health checks and records their paths.
    const checks: string[] = [];
    const metrics = createHttpServer((req, res) => {
      checks.push(`${req.method} ${req.url}`);
      res.end('ready\n');
    });
    await new Promise<void>((done) => metrics.listen(0, '127.0.0.1', done));
    t.after(() => metrics.close());
    const metricsPort = (metrics.address() as { port: number }).port;
    const [port, tcpPort, unused] = [await freePort(), await freePort(), await freePort()];

    let cfg = readFileSync(join(ROOT, 'deploy', 'haproxy', 'haproxy.cfg'), 'utf8');
    cfg = replaceOnce(cfg, 'bind :80\n', `bind 127.0.0.1:${port}\n`);
    cfg = replaceOnce(cfg, 'bind :8443\n', `bind 127.0.0.1:${tcpPort}\n`);
    cfg = replaceOnce(
      cfg,
      'server tsicorn1 127.0.0.1:8000 check port 9100',
      `server tsicorn1 127.0.0.1:${backend} check port ${metricsPort}`,
    );
    // The PROXY protocol backend is not exercised here: it points at a closed port.
    cfg = replaceOnce(
      cfg,
      'server tsicorn1 127.0.0.1:8443 send-proxy-v2 check port 9100',
      `server tsicorn1 127.0.0.1:${unused} send-proxy-v2 check port ${unused}`,
    );
    const dir = tempDir(t, {});
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, cfg);
    const check = spawnSync(HAPROXY, ['-c', '-f', file], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.doesNotMatch(check.stdout + check.stderr, /WARNING|ALERT/, 'haproxy -c has no warning');
    const haproxy = startProxy(t, HAPROXY, ['-f', file, '-db']);
    await listening(port, haproxy.proc, haproxy.output);
    const deadline = Date.now() + 10_000;
    while (checks.length === 0) {
      assert.ok(Date.now() < deadline, `no health check within 10 s:\n${haproxy.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(checks[0], 'GET /-/ready');

    await assertForwarded(port);
    await reloadsUnderLoad(server, port);
  },
);
