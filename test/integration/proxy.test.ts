import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, serverYaml, startServer, until } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const spoof = { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', forwarded: 'for=6.6.6.6;proto=https', 'x-forwarded-ssl': 'on' };

test('forwarding headers from a trusted proxy set the client address the app and the access log see', { timeout: 30_000 }, async (t) => {
  // The default trust list is loopback: the test client is the "proxy".
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, log: { accesslog: 'access.log' } }) } });
  const body = (await (
    await fetch(`${server.url()}/whoami`, { headers: { 'x-forwarded-for': '198.51.100.23', 'x-forwarded-proto': 'https' } })
  ).json()) as Record<string, unknown>;
  assert.equal(body.remote, '198.51.100.23');
  assert.equal(body.proto, 'https');
  const log = join(server.dir, 'access.log');
  await until('the access line', () => existsSync(log) && readFileSync(log, 'utf8').includes('/whoami'));
  assert.match(readFileSync(log, 'utf8'), /^198\.51\.100\.23 - - /);
});

test('forwarding headers from an untrusted peer are removed before the app and never logged', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: {
      'server.yaml': serverYaml(APP, { workers: 1, proxy: { forwarded_allow_ips: ['10.9.9.9'] }, log: { accesslog: 'access.log' } }),
    },
  });
  const body = (await (await fetch(`${server.url()}/whoami`, { headers: spoof })).json()) as Record<string, unknown>;
  assert.deepEqual(body, { remote: '127.0.0.1', xff: null, proto: null, forwarded: null });
  const log = join(server.dir, 'access.log');
  await until('the access line', () => existsSync(log) && readFileSync(log, 'utf8').includes('/whoami'));
  assert.match(readFileSync(log, 'utf8'), /^127\.0\.0\.1 - - /);
  assert.doesNotMatch(readFileSync(log, 'utf8'), /6\.6\.6\.6/);
});

test('on a keep-alive connection, a request without forwarding headers after a forwarded one shows the real peer', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1 }) } });
  const { hostname, port } = new URL(server.url());
  const text = await new Promise<string>((resolvePromise, reject) => {
    const socket = connect(Number(port), hostname);
    let got = '';
    socket.on('data', (d) => {
      got += d;
    });
    socket.on('close', () => resolvePromise(got));
    socket.on('error', reject);
    socket.write('GET /whoami HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.23\r\n\r\n');
    socket.write('GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
  const remotes = [...text.matchAll(/"remote":"([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(remotes, ['198.51.100.23', '127.0.0.1']);
});

test('a request with no forwarding field reaches the app as sent; the app and the access log see the peer', {
  timeout: 30_000,
}, async (t) => {
  // With the access log off the worker does not read the peer itself: req.socket.remoteAddress is Node's.
  for (const accesslog of [null, 'access.log']) {
    const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, log: { accesslog } }) } });
    const body = (await (await fetch(`${server.url()}/whoami`)).json()) as Record<string, unknown>;
    assert.deepEqual(body, { remote: '127.0.0.1', xff: null, proto: null, forwarded: null }, `accesslog: ${accesslog}`);
    if (accesslog) {
      const log = join(server.dir, accesslog);
      await until('the access line', () => existsSync(log) && readFileSync(log, 'utf8').includes('/whoami'));
      assert.match(readFileSync(log, 'utf8'), /^127\.0\.0\.1 - - /);
    }
  }
});

test('a fetch handler (its Request is built from rawHeaders) sees no forwarding header from an untrusted peer either', {
  timeout: 30_000,
}, async (t) => {
  const app = join(ROOT, 'test', 'fixtures', 'serve', 'log-fetch-app.mjs');
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(app, { workers: 1, proxy: { forwarded_allow_ips: ['10.9.9.9'] } }) },
  });
  for (const name of [...Object.keys(spoof), 'x-real-ip']) {
    const res = await fetch(`${server.url()}/?header=${name}`, { headers: { ...spoof, 'x-real-ip': '6.6.6.6' } });
    assert.deepEqual(await res.json(), { get: null, listed: [] }, name);
  }
});
