import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeCerts } from '../helpers/certs.js';
import { h2connect, h2get, h2load, h2request } from '../helpers/http2.js';
import { ROOT, serverYaml, startServer, tempDir, until } from '../helpers/server.js';
import { hasCommand } from '../helpers/tools.js';

const SERVE = join(ROOT, 'test', 'fixtures', 'serve');
const APP = join(SERVE, 'node-app.cjs');
const hasCurl = hasCommand('curl');
const hasTools = hasCurl && hasCommand('openssl', 'version');

/** curl's answer and the HTTP version it used (`%{http_version}`: 2, 1.1). */
function curl(url: string, args: string[]): { body: string; code: string; version: string; out: string } {
  const r = spawnSync('curl', ['-sS', '-w', '\n%{http_code} %{http_version}', ...args, url], { encoding: 'utf8', timeout: 15_000 });
  const lines = r.stdout.split('\n');
  const [code = '', version = ''] = (lines.pop() ?? '').split(' ');
  return { body: lines.join('\n'), code, version, out: `${r.stdout}${r.stderr}` };
}

test('http2 + TLS: curl --http2 and --http1.1 and Node http2 on one port, through the whole pipeline', {
  timeout: 60_000,
  skip: !hasTools && 'needs openssl and curl',
}, async (t) => {
  const dir = tempDir(t);
  const certs = makeCerts(dir, ['server']);
  const tls = { certfile: 'server.pem', keyfile: 'server.key' };
  const yaml = serverYaml(APP, { workers: 1, worker_class: 'http2', tls, log: { accesslog: 'access.log' } });
  writeFileSync(join(dir, 'server.yaml'), yaml);
  const server = await startServer(t, { cwd: dir });
  const origin = `https://127.0.0.1:${new URL(server.url()).port}`;
  const h2 = curl(`${origin}/whoami`, ['--cacert', certs.ca, '--http2']);
  assert.equal(`${h2.code} ${h2.version}`, '200 2', h2.out);
  assert.equal(JSON.parse(h2.body).remote, '127.0.0.1');
  const h1 = curl(`${origin}/whoami`, ['--cacert', certs.ca, '--http1.1']);
  assert.equal(`${h1.code} ${h1.version}`, '200 1.1', h1.out);

  const session = await h2connect(origin, { ca: readFileSync(certs.ca) });
  t.after(() => session.destroy());
  // Proxy trust per stream: one session, two streams, two forwarded clients.
  const [a, b] = await Promise.all([
    h2request(session, '/whoami', { 'x-forwarded-for': '198.51.100.1' }),
    h2request(session, '/whoami', { 'x-forwarded-for': '198.51.100.2' }),
  ]);
  assert.deepEqual([JSON.parse(a.body).remote, JSON.parse(b.body).remote], ['198.51.100.1', '198.51.100.2']);
  const id = await h2request(session, '/request-id', { 'x-request-id': 'h2-abc' });
  assert.equal(id.body, 'h2-abc');
  const thrown = await h2request(session, '/throw');
  assert.equal(thrown.status, 500, 'a throwing handler is a 500 on its stream');
  assert.equal(thrown.headers.connection, undefined, 'no connection-specific field in HTTP/2');
  const after = await h2request(session, '/');
  assert.equal(after.status, 200, 'the session survives the 500');
  // limit_request_line and limit_request_field_size apply to HTTP/2 too; the version checks do not.
  assert.equal((await h2request(session, `/${'a'.repeat(5000)}`)).status, 414);
  assert.equal((await h2request(session, '/', { 'x-big': 'b'.repeat(9000) })).status, 431);
  const cert = await h2request(session, '/client-cert');
  assert.deepEqual(JSON.parse(cert.body), { authorized: false, subject: null }, 'the TLS socket reaches the app');

  const log = join(dir, 'access.log');
  await until('the access lines', () => existsSync(log) && readFileSync(log, 'utf8').split('\n').length > 8);
  const text = readFileSync(log, 'utf8');
  // %(b)s: the body bytes each sent (HTTP/2 counts its writes; HTTP/1's end() is counted apart).
  const h2Line = `"GET /whoami HTTP/2\\.0" 200 ${Buffer.byteLength(h2.body)} "-" "curl/`;
  assert.match(text, new RegExp(`^127\\.0\\.0\\.1 - - \\[[^\\]]+\\] ${h2Line}`, 'm'));
  assert.match(text, new RegExp(`"GET /whoami HTTP/1\\.1" 200 ${Buffer.byteLength(h1.body)} `));
  assert.match(text, /^198\.51\.100\.2 .*"GET \/whoami HTTP\/2\.0" 200/m);
  assert.match(text, /"GET \/throw HTTP\/2\.0" 500/);
  assert.equal(server.countLogs('worker died'), 0);
  assert.ok(!server.stderrText.some((l) => l.includes('UnsupportedWarning')), 'no warning about Connection headers');
});

test('http2 without TLS: h2c prior knowledge and HTTP/1.1 on one port; an h2c Upgrade is answered in HTTP/1.1', {
  timeout: 60_000,
  skip: !hasCurl && 'needs curl',
}, async (t) => {
  // The WebSocket app has an upgrade handler: an `Upgrade: h2c` must not reach it.
  const app = join(SERVE, 'ws-app.mjs');
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(app, { workers: 1, worker_class: 'http2' }) } });
  const url = `${server.url()}/x`;
  const prior = curl(url, ['--http2-prior-knowledge']);
  assert.equal(`${prior.code} ${prior.version}`, '200 2', prior.out);
  const h1 = curl(url, ['--http1.1']);
  assert.equal(`${h1.code} ${h1.version}`, '200 1.1', h1.out);
  const upgrade = curl(url, ['--http2']);
  assert.equal(`${upgrade.code} ${upgrade.version}`, '200 1.1', upgrade.out);
  assert.equal(JSON.parse(upgrade.body).upgrade, 'h2c', 'served by the app as a plain request');
  const fromNode = await h2get(server.url(), '/y');
  assert.equal(fromNode.status, 200);
  assert.equal(JSON.parse(fromNode.body).path, '/y');
});

test('http2 with the access log off: each stream sees its client, forwarded or not, and no header is added', {
  timeout: 30_000,
}, async (t) => {
  // Without the access log a stream with no forwarding field does not read the peer itself.
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, worker_class: 'http2' }) } });
  const session = await h2connect(server.url());
  t.after(() => session.destroy());
  const [plain, forwarded, plainAgain] = await Promise.all([
    h2request(session, '/whoami'),
    h2request(session, '/whoami', { 'x-forwarded-for': '198.51.100.7' }),
    h2request(session, '/whoami'),
  ]);
  assert.deepEqual(JSON.parse(plain.body), { remote: '127.0.0.1', xff: null, proto: null, forwarded: null });
  assert.deepEqual(JSON.parse(forwarded.body), { remote: '198.51.100.7', xff: '198.51.100.7', proto: 'http', forwarded: null });
  assert.deepEqual(JSON.parse(plainAgain.body), { remote: '127.0.0.1', xff: null, proto: null, forwarded: null });
});

test('http2: a session is closed after keepalive seconds with no stream, PINGs or not; one asking or waiting stays', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, worker_class: 'http2', keepalive: 1 }) } });
  const closedAfter = (session: ClientHttp2Session, from: () => number) =>
    new Promise<number>((resolveClosed) => session.once('close', () => resolveClosed(performance.now() - from())));
  const open = async () => {
    const session = await h2connect(server.url());
    t.after(() => session.destroy());
    session.on('error', () => {});
    return session;
  };
  // Idle after one request, and idle while it PINGs every 200 ms: both closed a second after the answer.
  const idle = await open();
  const pinging = await open();
  await Promise.all([h2request(idle, '/x'), h2request(pinging, '/x')]);
  const answered = performance.now();
  const pinger = setInterval(() => {
    if (!pinging.closed && !pinging.destroyed) pinging.ping(() => {});
  }, 200);
  t.after(() => clearInterval(pinger));
  const idleClosed = closedAfter(idle, () => answered);
  const pingingClosed = closedAfter(pinging, () => answered);
  // Asking every 300 ms, and one slow stream of 2.5 s: neither session is closed under them.
  const asking = await open();
  const waiting = await open();
  let askingClosed = false;
  let waitingClosed = false;
  asking.once('close', () => {
    askingClosed = true;
  });
  waiting.once('close', () => {
    waitingClosed = true;
  });
  const slow = h2request(waiting, '/slow?ms=2500');
  for (let i = 0; i < 9; i++) {
    assert.equal((await h2request(asking, `/ask-${i}`)).status, 200);
    await new Promise((r) => setTimeout(r, 300));
  }
  const slowRes = await slow;
  assert.equal(slowRes.body, 'slept 2500');
  assert.equal(askingClosed, false, 'a session asking every 300 ms was closed');
  assert.equal(waitingClosed, false, 'a session with a stream in flight was closed');
  for (const [what, closed] of [
    ['idle', await idleClosed],
    ['pinging', await pingingClosed],
  ] as const) {
    assert.ok(closed >= 950 && closed < 2_600, `the ${what} session closed ${closed.toFixed(0)} ms after its answer (keepalive: 1)`);
  }
});

test('http2: Koa and fetch apps answer HTTP/2 requests like HTTP/1 ones', { timeout: 60_000 }, async (t) => {
  const cases = [
    { app: 'koa-app.cjs', path: '/k', body: { framework: 'koa', path: '/k' } },
    { app: 'fetch-app.mjs', path: '/f', body: { interface: 'fetch', method: 'GET', path: '/f' } },
  ];
  for (const c of cases) {
    await t.test(c.app, async (t2) => {
      const yaml = serverYaml(join(SERVE, c.app), { workers: 1, worker_class: 'http2' });
      const server = await startServer(t2, { files: { 'server.yaml': yaml } });
      const res = await h2get(server.url(), c.path);
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body), c.body);
      if (c.app === 'fetch-app.mjs') assert.equal((await h2get(server.url(), '/throw')).status, 500);
    });
  }
});

test('http2 + TLS: 10 HUP rotations under multiplexed HTTP/2 load, no failed stream, none refused after it ran', {
  timeout: 120_000,
  skip: !hasTools && 'needs openssl',
}, async (t) => {
  const dir = tempDir(t);
  const certs = makeCerts(dir, ['server']);
  const tls = { certfile: 'server.pem', keyfile: 'server.key' };
  const yaml = serverYaml(APP, { workers: 2, worker_class: 'http2', tls, log: { accesslog: 'access.log', access_format: 'json' } });
  writeFileSync(join(dir, 'server.yaml'), yaml);
  const server = await startServer(t, { cwd: dir });
  const origin = `https://127.0.0.1:${new URL(server.url()).port}`;
  const options = { ca: readFileSync(certs.ca) };
  let done = false;
  const loadRun = h2load(origin, '/', { concurrency: 8, stop: () => done, options });
  // A slow stream in flight across the first rotation must finish on its old worker.
  const slowSession = await h2connect(origin, options);
  t.after(() => slowSession.destroy());
  const slow = h2request(slowSession, '/slow?ms=1500');
  try {
    for (let i = 0; i < 10; i++) {
      const before = server.countLogs('rotation finished');
      process.kill(server.pid, 'SIGHUP');
      await server.waitFor(`rotation ${i + 1}`, () => server.countLogs('rotation finished') > before, 30_000);
    }
  } finally {
    done = true;
  }
  const result = await loadRun;
  const slowRes = await slow;
  assert.equal(slowRes.status, 200);
  assert.equal(slowRes.body, 'slept 1500');
  assert.deepEqual(result.failed.slice(0, 5), [], `${result.failed.length} failed streams, ${result.ok} ok`);
  assert.ok(result.ok > 200, `only ${result.ok} streams during the rotations`);
  assert.ok(result.pids.size >= 6, `answers came from ${result.pids.size} workers`);
  assert.ok(result.sessions >= 5, `${result.sessions} sessions: each rotation sent the client elsewhere`);
  // A refused stream is safe to send again only if no worker ran it: its id is in no access line.
  const log = join(dir, 'access.log');
  await until('every answered stream logged', () => existsSync(log) && readFileSync(log, 'utf8').split('\n').length > result.ok);
  const logged = readFileSync(log, 'utf8');
  assert.deepEqual(
    result.refused.filter((id) => logged.includes(`"request_id":"${id}"`)),
    [],
    'refused streams never reached the app',
  );
  t.diagnostic(
    `${result.ok} streams over ${result.sessions} sessions during 10 rotations; 0 failed; ${result.refused.length} refused unprocessed and ${result.resent} unsent, all sent again`,
  );
});
