import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeCerts } from '../helpers/certs.js';
import { ROOT, serverYaml, startServer, tempDir } from '../helpers/server.js';
import { hasCommand } from '../helpers/tools.js';
import { ask, openWs, watchEnd } from '../helpers/ws.js';

const SERVE = join(ROOT, 'test', 'fixtures', 'serve');
const WS_APP = join(SERVE, 'ws-app.mjs');

const wsUrl = (httpUrl: string, path = '/ws') => `${httpUrl.replace(/^http/, 'ws')}${path}`;

test("WebSocket echo through the module's upgrade export: request id and client reach it; a throw closes only its socket", {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(WS_APP, { workers: 1 }) } });
  const [pid] = server.workerPids();
  const ws = await openWs(wsUrl(server.url()), { headers: { 'x-forwarded-for': '198.51.100.9', 'x-request-id': 'ws-1' } });
  t.after(() => ws.terminate());
  assert.equal(await ask(ws, 'hello'), `${pid} hello`);
  // The loopback test client is a trusted proxy by default: its X-Forwarded-For is the client.
  assert.deepEqual(JSON.parse(await ask(ws, 'whoami')), { pid, remote: '198.51.100.9', id: 'ws-1' });

  await assert.rejects(openWs(wsUrl(server.url(), '/throw')), 'the handshake fails');
  await server.waitForLog('upgrade handler failed');
  assert.equal(await ask(ws, 'still here'), `${pid} still here`, 'the other WebSocket is untouched');
  assert.equal((await fetch(`${server.url()}/plain`)).status, 200);
  assert.deepEqual(server.workerPids(), [pid], 'the same worker');
});

test('an upgrade handler on a factory value ({ fetch, upgrade }), and WebSockets over TLS on an http2 worker', {
  timeout: 30_000,
  skip: !hasCommand('openssl', 'version') && 'needs openssl',
}, async (t) => {
  const dir = tempDir(t);
  const certs = makeCerts(dir, ['server']);
  const yaml = serverYaml(`${join(SERVE, 'ws-factory-app.mjs')}:create()`, {
    workers: 1,
    worker_class: 'http2',
    tls: { certfile: 'server.pem', keyfile: 'server.key' },
  });
  writeFileSync(join(dir, 'server.yaml'), yaml);
  const server = await startServer(t, { cwd: dir });
  const port = new URL(server.url()).port;
  // HTTP/2 has no Upgrade: the client's ALPN says http/1.1 and the fallback carries it.
  const ws = await openWs(`wss://127.0.0.1:${port}/ws`, { ca: readFileSync(certs.ca) });
  t.after(() => ws.terminate());
  assert.equal(await ask(ws, 'over tls'), 'factory over tls');
});

test('without an upgrade handler an Upgrade request is served as a plain request, as Node does (RFC 9110 7.8)', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(join(SERVE, 'node-app.cjs'), { workers: 1 }) } });
  await assert.rejects(openWs(wsUrl(server.url())), /Unexpected server response: 200/);
  assert.equal(server.countLogs('worker died'), 0);
});

/** A raw `Upgrade: echo` connection; resolves with it once the 101 arrived. */
function openEcho(url: string): Promise<{ socket: import('node:net').Socket; ended: Promise<{ bytes: string; error: string | null }> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolvePromise, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    let error: string | null = null;
    socket.on('error', (err) => {
      error = err.message;
      reject(err);
    });
    const ended = new Promise<{ bytes: string; error: string | null }>((done) => socket.once('close', () => done({ bytes: text, error })));
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (text.includes('\r\n\r\n')) resolvePromise({ socket, ended });
    });
    socket.write('GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
  });
}

test('a rotation keeps open WebSockets on the old worker until graceful_timeout, then closes them with 1001', {
  timeout: 60_000,
}, async (t) => {
  const graceful = 3;
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(WS_APP, { workers: 1, graceful_timeout: graceful }) } });
  const [oldPid] = server.workerPids();
  const old = await openWs(wsUrl(server.url()));
  t.after(() => old.terminate());
  const oldEnd = watchEnd(old);
  const echo = await openEcho(server.url());
  t.after(() => echo.socket.destroy());
  assert.equal(await ask(old, 'before'), `${oldPid} before`);

  const hupAt = Date.now();
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation finished');
  // The old worker is still draining (workerPids() lists it until it exits): take generation 2's.
  const newPid = server.findLog('worker ready', { component: 'master', generation: 2 })?.workerPid;
  assert.ok(newPid && newPid !== oldPid);
  assert.equal(await ask(old, 'during'), `${oldPid} during`, 'the open WebSocket still echoes on the old worker');
  const fresh = await openWs(wsUrl(server.url()));
  t.after(() => fresh.terminate());
  assert.equal(await ask(fresh, 'new'), `${newPid} new`, 'a new WebSocket lands on the new generation');

  const end = await oldEnd;
  assert.equal(end.code, 1001, 'closed with 1001 Going Away (1006 would mean no close frame)');
  assert.deepEqual(end.socketErrors, [], 'a FIN, not a reset');
  assert.ok(end.at - hupAt >= graceful * 1000 - 200, `closed ${end.at - hupAt} ms after the HUP, not before graceful_timeout`);
  const echoEnd = await echo.ended;
  assert.equal(echoEnd.error, null, 'the other upgrade was ended, not reset');
  assert.ok(!echoEnd.bytes.includes('\x88\x02\x03\xe9'), 'no WebSocket frame on a non-WebSocket upgrade');
  await server.waitForLog('worker exited', { workerPid: oldPid });
  assert.ok(server.findLog('upgraded connections closed at graceful_timeout', { websockets: 1, others: 1 }));
  assert.equal(await ask(fresh, 'after'), `${newPid} after`);
});

test('a graceful stop (SIGTERM) also gives open WebSockets graceful_timeout, then 1001, and the server exits 0', {
  timeout: 30_000,
}, async (t) => {
  const graceful = 2;
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(WS_APP, { workers: 1, graceful_timeout: graceful }) } });
  const [pid] = server.workerPids();
  const ws = await openWs(wsUrl(server.url()));
  t.after(() => ws.terminate());
  const ended = watchEnd(ws);
  const termAt = Date.now();
  process.kill(server.pid, 'SIGTERM');
  // Still served while the worker drains.
  assert.equal(await ask(ws, 'draining'), `${pid} draining`);
  const end = await ended;
  assert.equal(end.code, 1001, 'closed with 1001 Going Away');
  assert.deepEqual(end.socketErrors, [], 'a FIN, not a reset');
  assert.ok(end.at - termAt >= graceful * 1000 - 200, `closed ${end.at - termAt} ms after the TERM, not before graceful_timeout`);
  assert.equal(await server.waitForExit(), 0);
});
