import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { makeCerts } from '../helpers/certs.js';
import { h2request } from '../helpers/http2.js';
import { proxyV2 } from '../helpers/proxy-header.js';
import { ROOT, type RunningServer, serverYaml, startServer, tempDir, until } from '../helpers/server.js';
import { freePort, hasCommand } from '../helpers/tools.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const v1 = (client: string, port = 40000) =>
  `PROXY TCP${client.includes(':') ? 6 : 4} ${client} ${client.includes(':') ? '::1' : '127.0.0.1'} ${port} 80\r\n`;

/** Sends raw bytes from `localAddress`; resolves with everything received once the server closes (or after `ms`). */
function raw(url: string, bytes: Buffer | string, localAddress = '127.0.0.1', ms = 5000): Promise<{ text: string; closed: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolvePromise) => {
    const socket = connect({ port: Number(port), host: hostname, localAddress });
    let text = '';
    const timer = setTimeout(() => done(false), ms);
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolvePromise({ text, closed });
    };
    socket.on('data', (d) => {
      text += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => done(true));
    socket.write(bytes);
  });
}

const whoami = 'GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
const remoteOf = (text: string) => (JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { remote: string }).remote;

async function accessLines(server: RunningServer, count: number): Promise<string[]> {
  const log = join(server.dir, 'access.log');
  const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
  await until(`${count} access lines`, () => lines().length >= count);
  return lines();
}

test('PROXY v1 and v2: the declared client is what the app, proxy trust and the access log see', { timeout: 30_000 }, async (t) => {
  const proxy = { protocol: true, forwarded_allow_ips: ['10.0.0.0/8'] };
  const yaml = serverYaml(APP, { workers: 1, proxy, log: { accesslog: 'access.log' } });
  const server = await startServer(t, { files: { 'server.yaml': yaml } });
  const url = server.url();
  assert.equal(remoteOf((await raw(url, `${v1('203.0.113.7')}${whoami}`)).text), '203.0.113.7');
  assert.equal(remoteOf((await raw(url, Buffer.concat([proxyV2({ source: '2001:db8::7' }), Buffer.from(whoami)]))).text), '2001:db8::7');
  // LOCAL (a health check from the proxy itself) and UNKNOWN: the real peer.
  const local = Buffer.concat([proxyV2({ command: 'LOCAL', family: 'UNSPEC' }), Buffer.from(whoami)]);
  assert.equal(remoteOf((await raw(url, local)).text), '127.0.0.1');
  assert.equal(remoteOf((await raw(url, `PROXY UNKNOWN\r\n${whoami}`)).text), '127.0.0.1');
  // One header per connection: both keep-alive requests come from the declared client.
  const twice = await raw(url, `${v1('198.51.100.3')}GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n${whoami}`);
  assert.equal(twice.text.match(/"remote":"198\.51\.100\.3"/g)?.length, 2);
  // Proxy trust judges the declared client: 10.1.1.1 is a trusted proxy, 203.0.113.8 is not.
  const viaTrusted = await raw(
    url,
    `${v1('10.1.1.1')}GET /whoami HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.5\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(remoteOf(viaTrusted.text), '198.51.100.5');
  const spoofed = await raw(
    url,
    `${v1('203.0.113.8')}GET /whoami HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n`,
  );
  assert.deepEqual(JSON.parse(spoofed.text.slice(spoofed.text.indexOf('\r\n\r\n') + 4)), {
    remote: '203.0.113.8',
    xff: null,
    proto: null,
    forwarded: null,
  });
  const lines = await accessLines(server, 8);
  for (const client of ['203.0.113.7', '2001:db8::7', '198.51.100.3', '198.51.100.5', '203.0.113.8'])
    assert.ok(
      lines.some((l) => l.startsWith(`${client} - - `)),
      `${client} in the access log`,
    );
});

test('PROXY: a missing, malformed, slow or unallowed header closes the connection before HTTP (logged at debug)', {
  timeout: 30_000,
}, async (t) => {
  // 127.0.0.2 is the only allowed proxy; the test connects from 127.0.0.1 and 127.0.0.2.
  const proxy = { protocol: true, allow_ips: ['127.0.0.2'] };
  const yaml = serverYaml(APP, { workers: 1, headers_timeout: 1, proxy, log: { level: 'debug' } });
  const server = await startServer(t, { files: { 'server.yaml': yaml } });
  const url = server.url();
  const ok = await raw(url, `${v1('203.0.113.7')}${whoami}`, '127.0.0.2');
  assert.equal(remoteOf(ok.text), '203.0.113.7', 'an allowed proxy is served');
  const cases: [string, string | Buffer, string, RegExp][] = [
    ['unallowed peer', `${v1('203.0.113.7')}${whoami}`, '127.0.0.1', /peer not in proxy\.allow_ips/],
    ['missing header', whoami, '127.0.0.2', /no PROXY header/],
    ['malformed v1', `PROXY TCP4 203.0.113.999 127.0.0.1 1 2\r\n${whoami}`, '127.0.0.2', /v1/],
    ['v2 version 1', Buffer.concat([proxyV2({ version: 1 }), Buffer.from(whoami)]), '127.0.0.2', /v2/],
    ['v1 over 107 bytes', `PROXY TCP4 ${'1'.repeat(120)}`, '127.0.0.2', /longer than 107/],
  ];
  for (const [what, bytes, from, reason] of cases) {
    const got = await raw(url, bytes, from);
    assert.deepEqual(got, { text: '', closed: true }, `${what}: closed without an answer`);
    await server.waitFor(`the debug line for ${what}`, () =>
      server.logs.some((l) => l.msg === 'proxy header refused; connection closed' && reason.test(String(l.reason))),
    );
  }
  // Half a header, then silence: cut at headers_timeout (1 s).
  const started = Date.now();
  const slow = await raw(url, 'PROXY TCP4 203.0', '127.0.0.2');
  assert.ok(slow.closed && Date.now() - started < 3000, `closed after ${Date.now() - started} ms`);
  assert.equal(server.countLogs('worker died'), 0);
});

/** A connection that sends `header` first, then hands the socket to TLS (as a proxy in front of TLS does). */
function afterHeader(port: number, header: string, alpn: string[], ca: Buffer): Socket {
  const socket = connect(port, '127.0.0.1');
  socket.write(header);
  return tlsConnect({ socket, ca, servername: 'localhost', ALPNProtocols: alpn });
}

test('PROXY before TLS (the header precedes the ClientHello), on an http2 worker: HTTP/1.1 and HTTP/2 see the client', {
  timeout: 30_000,
  skip: !hasCommand('openssl', 'version') && 'needs openssl',
}, async (t) => {
  const dir = tempDir(t);
  const certs = makeCerts(dir, ['server']);
  const ca = readFileSync(certs.ca);
  const tls = { certfile: 'server.pem', keyfile: 'server.key' };
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { workers: 1, worker_class: 'http2', tls, proxy: { protocol: true } }));
  const server = await startServer(t, { cwd: dir });
  const port = Number(new URL(server.url()).port);
  const h1 = await new Promise<string>((resolvePromise, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/whoami', createConnection: () => afterHeader(port, v1('203.0.113.21'), ['http/1.1'], ca) },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolvePromise(body));
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(JSON.parse(h1).remote, '203.0.113.21');
  const session = h2connect(`https://127.0.0.1:${port}`, {
    createConnection: () => afterHeader(port, v1('2001:db8::22'), ['h2'], ca),
  });
  t.after(() => session.destroy());
  const h2 = await h2request(session, '/whoami');
  assert.equal(JSON.parse(h2.body).remote, '2001:db8::22');
});

test('PROXY before h2c prior knowledge and HTTP/1.1 on a cleartext http2 port, with round-robin accept', {
  timeout: 30_000,
}, async (t) => {
  // balance: round-robin hands the worker sockets the master accepted: the same front reads them.
  const yaml = serverYaml(APP, { workers: 1, worker_class: 'http2', balance: 'round-robin', proxy: { protocol: true } });
  const server = await startServer(t, { files: { 'server.yaml': yaml } });
  const port = Number(new URL(server.url()).port);
  const session = h2connect(server.url(), {
    createConnection: () => {
      const socket = connect(port, '127.0.0.1');
      socket.write(proxyV2({ source: '198.51.100.31' }));
      return socket;
    },
  });
  t.after(() => session.destroy());
  assert.equal(JSON.parse((await h2request(session, '/whoami')).body).remote, '198.51.100.31');
  assert.equal(remoteOf((await raw(server.url(), `${v1('198.51.100.32')}${whoami}`)).text), '198.51.100.32');
});

/** Waits until something accepts connections on the port. */
async function listening(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** GET through a proxy port from a chosen loopback address. */
function getFrom(port: number, localAddress: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/whoami', localAddress, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolvePromise(body));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

test('HAProxy in front with send-proxy and send-proxy-v2: the app and the access log see the client HAProxy saw', {
  timeout: 60_000,
  skip: !hasCommand('haproxy', '-v') && 'needs haproxy (apt-get install haproxy)',
}, async (t) => {
  const yaml = serverYaml(APP, { workers: 1, proxy: { protocol: true }, log: { accesslog: 'access.log' } });
  const server = await startServer(t, { files: { 'server.yaml': yaml } });
  const app = new URL(server.url()).port;
  const [p1, p2] = [await freePort(), await freePort()];
  const cfg = join(server.dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      `frontend v1\n  bind 127.0.0.1:${p1}\n  default_backend app_v1`,
      `frontend v2\n  bind 127.0.0.1:${p2}\n  default_backend app_v2`,
      // HAProxy connects from 127.0.0.1, the default proxy.allow_ips.
      `backend app_v1\n  server app 127.0.0.1:${app} send-proxy source 127.0.0.1`,
      `backend app_v2\n  server app 127.0.0.1:${app} send-proxy-v2 source 127.0.0.1`,
      '',
    ].join('\n'),
  );
  const haproxy = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let haproxyErr = '';
  haproxy.stderr.on('data', (d) => {
    haproxyErr += d;
  });
  t.after(() => haproxy.kill('SIGKILL'));
  await Promise.all([listening(p1), listening(p2)]).catch((err: Error) => {
    throw new Error(`${err.message}\n${haproxyErr}`);
  });
  // Clients on distinct loopback addresses, so "the client HAProxy saw" differs from HAProxy's own.
  assert.equal(JSON.parse(await getFrom(p1, '127.0.0.2')).remote, '127.0.0.2');
  assert.equal(JSON.parse(await getFrom(p2, '127.0.0.3')).remote, '127.0.0.3');
  const lines = await accessLines(server, 2);
  assert.ok(
    lines.some((l) => /^127\.0\.0\.2 - - .*"GET \/whoami HTTP\/1\.1" 200/.test(l)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => /^127\.0\.0\.3 - - .*"GET \/whoami HTTP\/1\.1" 200/.test(l)),
    lines.join('\n'),
  );
});
