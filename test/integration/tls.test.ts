import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from 'node:tls';
import { makeCerts } from '../helpers/certs.js';
import { h2connect, h2request } from '../helpers/http2.js';
import { ROOT, serverYaml, startServer, tempDir, until } from '../helpers/server.js';
import { hasCommand } from '../helpers/tools.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const hasTools = !spawnSync('openssl', ['version']).error && !spawnSync('curl', ['--version']).error;

function curl(url: string, args: string[]): { code: number | null; out: string } {
  const r = spawnSync('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', ...args, url], { encoding: 'utf8', timeout: 15_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The subject CN of the certificate the server presents. */
function presentedCN(port: number, ca: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: readFileSync(ca), servername: 'localhost' }, () => {
      resolvePromise(String(socket.getPeerCertificate().subject.CN));
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** One kept-alive TLS connection: GETs on it, one at a time, resolve with the status. */
function keptConnection(port: number, ca: string): Promise<{ cn: string; get: (path: string) => Promise<number>; close: () => void }> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: readFileSync(ca), servername: 'localhost' }, () => {
      socket.off('error', reject);
      let text = '';
      socket.setEncoding('utf8');
      const get = (path: string) =>
        new Promise<number>((done, fail) => {
          text = '';
          const onData = (d: string) => {
            text += d;
            // node-app answers with a small JSON body and a Content-Length: the head and body are in.
            const m = /^HTTP\/1\.1 (\d{3})[\s\S]*\r\n\r\n\{.*\}$/.exec(text);
            if (m) {
              socket.off('data', onData);
              done(Number(m[1]));
            }
          };
          socket.on('data', onData);
          socket.once('close', () => fail(new Error(`closed before the answer to ${path}: ${text}`)));
          socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
        });
      resolvePromise({ cn: String(socket.getPeerCertificate().subject.CN), get, close: () => socket.destroy() });
    });
    socket.on('error', reject);
  });
}

/** GET over TLS with an optional client certificate; resolves with the body. */
function getWithCert(port: number, path: string, ca: string, client?: { cert: string; key: string }): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const options = { host: '127.0.0.1', port, path, ca: readFileSync(ca), servername: 'localhost', agent: false };
    const withCert = client ? { ...options, cert: readFileSync(client.cert), key: readFileSync(client.key) } : options;
    const req = request(withCert, (res) => {
      let text = '';
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolvePromise(text));
    });
    req.on('error', reject);
    req.end();
  });
}

test('TLS: 1.1 refused, 1.2 and 1.3 served; a certificate replaced on disk is served within seconds', {
  timeout: 60_000,
  skip: !hasTools && 'needs openssl and curl',
}, async (t) => {
  const dir = tempDir(t);
  const certs = makeCerts(dir, ['first', 'second']);
  copyFileSync(certs.cert('first'), join(dir, 'server.pem'));
  copyFileSync(certs.key('first'), join(dir, 'server.key'));
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { workers: 2, tls: { certfile: 'server.pem', keyfile: 'server.key' } }));
  const running = await startServer(t, { waitWatching: true, cwd: dir });
  const port = Number(new URL(running.url()).port);
  const url = `https://127.0.0.1:${port}/hello`;
  assert.match(curl(url, ['--cacert', certs.ca, '--tlsv1.2', '--tls-max', '1.2']).out, /\n200$/);
  assert.match(curl(url, ['--cacert', certs.ca, '--tlsv1.3']).out, /\n200$/);
  const old = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_1'], {
    input: '',
    encoding: 'utf8',
    timeout: 15_000,
  });
  assert.notEqual(old.status, 0, 'a TLS 1.1 handshake is refused');
  // By the server (alert 70), not by the local OpenSSL's own minimum.
  assert.match(old.stderr, /alert protocol version/);
  const oldCurl = curl(url, ['--cacert', certs.ca, '--tlsv1.1', '--tls-max', '1.1']);
  assert.match(oldCurl.out, /alert protocol version/, 'curl: refused by the server too');
  for (const version of ['1.2', '1.3']) {
    const flag = `-tls${version.replace('.', '_')}`;
    const s = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, flag, '-CAfile', certs.ca, '-servername', 'localhost'], {
      input: '',
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(s.status, 0, s.stderr);
    assert.ok(s.stdout.includes(`New, TLSv${version}, Cipher is `), `openssl s_client ${flag}: ${s.stdout}`);
    assert.match(s.stdout, /Verify return code: 0 \(ok\)/);
  }
  assert.equal(await presentedCN(port, certs.ca), 'first');
  const kept = await keptConnection(port, certs.ca);
  assert.equal(await kept.get('/before'), 200);

  // certbot-style renewal: the files are replaced in place.
  copyFileSync(certs.key('second'), join(dir, 'server.key'));
  copyFileSync(certs.cert('second'), join(dir, 'server.pem'));
  await running.waitFor('both workers to reload', () => running.countLogs('tls certificate reloaded') >= 2);
  assert.equal(await presentedCN(port, certs.ca), 'second');
  assert.equal(running.countLogs('rotation started'), 0, 'no restart, no rotation');
  // A connection made before the swap keeps going, on its old certificate.
  assert.equal(await kept.get('/after'), 200);
  assert.equal(kept.cn, 'first');
  kept.close();

  // A broken file keeps the working certificate.
  writeFileSync(join(dir, 'server.pem'), '');
  await running.waitFor('the refusal', () => running.countLogs('tls certificate reload failed; keeping the one in use') >= 2);
  assert.equal(await presentedCN(port, certs.ca), 'second');
});

test('mTLS required: a verified client certificate reaches the app and the access log; without one the handshake is refused', {
  timeout: 60_000,
  skip: !hasTools && 'needs openssl and curl',
}, async (t) => {
  const dir = tempDir(t);
  const certs = makeCerts(dir, ['server', 'alice']);
  writeFileSync(
    join(dir, 'server.yaml'),
    serverYaml(APP, {
      workers: 1,
      tls: { certfile: 'server.pem', keyfile: 'server.key', ca_certs: 'ca.pem', cert_reqs: 'required' },
      log: { accesslog: 'access.log' },
    }),
  );
  const server = await startServer(t, { cwd: dir });
  const port = Number(new URL(server.url()).port);
  const alice = { cert: certs.cert('alice'), key: certs.key('alice') };
  const body = await getWithCert(port, '/client-cert', certs.ca, alice);
  assert.deepEqual(JSON.parse(body), { authorized: true, subject: 'alice' });
  const withCurl = curl(`https://127.0.0.1:${port}/client-cert`, ['--cacert', certs.ca, '--cert', alice.cert, '--key', alice.key]);
  assert.match(withCurl.out, /"authorized":true,"subject":"alice"\}\n200$/);
  const anonymous = curl(`https://127.0.0.1:${port}/client-cert`, ['--cacert', certs.ca]);
  assert.doesNotMatch(anonymous.out, /\n200$/, 'no client certificate, no answer');
  // %(u)s of the combined format: the verified certificate's CN when there is no Basic auth user.
  const log = join(dir, 'access.log');
  await until('two access lines', () => existsSync(log) && readFileSync(log, 'utf8').trim().split('\n').length >= 2);
  for (const line of readFileSync(log, 'utf8').trim().split('\n')) assert.match(line, /^127\.0\.0\.1 - alice \[/);
});

test('mTLS optional, on an http2 worker: no certificate is served unverified, a foreign one is not trusted, over HTTP/1.1 and HTTP/2', {
  timeout: 60_000,
  skip: !hasTools && 'needs openssl',
}, async (t) => {
  const dir = tempDir(t);
  const certs = makeCerts(dir, ['server', 'alice']);
  const foreign = makeCerts(tempDir(t), ['mallory']);
  const tls = { certfile: 'server.pem', keyfile: 'server.key', ca_certs: 'ca.pem', cert_reqs: 'optional' };
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { workers: 1, worker_class: 'http2', tls, log: { accesslog: 'access.log' } }));
  const server = await startServer(t, { cwd: dir });
  const port = Number(new URL(server.url()).port);
  const alice = { cert: certs.cert('alice'), key: certs.key('alice') };
  assert.deepEqual(JSON.parse(await getWithCert(port, '/client-cert?who=none', certs.ca)), { authorized: false, subject: null });
  assert.deepEqual(JSON.parse(await getWithCert(port, '/client-cert?who=alice', certs.ca, alice)), { authorized: true, subject: 'alice' });
  const mallory = { cert: foreign.cert('mallory'), key: foreign.key('mallory') };
  assert.deepEqual(JSON.parse(await getWithCert(port, '/client-cert?who=mallory', certs.ca, mallory)), {
    authorized: false,
    subject: 'mallory',
  });
  const session = await h2connect(`https://127.0.0.1:${port}`, {
    ca: readFileSync(certs.ca),
    cert: readFileSync(alice.cert),
    key: readFileSync(alice.key),
  });
  t.after(() => session.destroy());
  assert.deepEqual(JSON.parse((await h2request(session, '/client-cert?who=alice-h2')).body), { authorized: true, subject: 'alice' });
  const log = join(dir, 'access.log');
  await until('four access lines', () => existsSync(log) && readFileSync(log, 'utf8').trim().split('\n').length >= 4);
  const text = readFileSync(log, 'utf8');
  // Only a verified certificate names the user: mallory's CN is the client's claim, not a fact.
  assert.match(text, /^127\.0\.0\.1 - - .*who=none HTTP\/1\.1/m);
  assert.match(text, /^127\.0\.0\.1 - alice .*who=alice HTTP\/1\.1/m);
  assert.match(text, /^127\.0\.0\.1 - - .*who=mallory HTTP\/1\.1/m);
  assert.match(text, /^127\.0\.0\.1 - alice .*who=alice-h2 HTTP\/2\.0/m);
});

test('TLS: a request in flight on a worker that rotates out finishes, longer than the keep-alive grace', {
  timeout: 60_000,
  skip: !hasTools && 'needs openssl',
}, async (t) => {
  // The drain closes idle connections after `keepalive`; a TLS request must count as busy.
  const dir = tempDir(t);
  const certs = makeCerts(dir, ['server']);
  const tls = { certfile: 'server.pem', keyfile: 'server.key' };
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { workers: 1, keepalive: 1, graceful_timeout: 10, tls }));
  const server = await startServer(t, { cwd: dir });
  const port = Number(new URL(server.url()).port);
  let headersArrived: () => void = () => {};
  const inFlight = new Promise<void>((r) => {
    headersArrived = r;
  });
  const answer = new Promise<{ status: number; body: string }>((resolvePromise, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/slow-body?ms=3000', ca: readFileSync(certs.ca), servername: 'localhost' },
      (res) => {
        headersArrived();
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
  // /slow-body sends its headers at once: then the request is in flight on the old worker.
  await inFlight;
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation finished');
  const res = await answer;
  assert.deepEqual(res, { status: 200, body: 'finished after 3000 ms' });
});

/** The suites and versions nmap's ssl-enum-ciphers finds offered: `{ 'TLSv1.2': [...], ... }`. */
function scanCiphers(port: number): Record<string, string[]> {
  // `+` runs the script whatever the port (its rule only knows the usual TLS ports).
  const r = spawnSync('nmap', ['-Pn', '--script', '+ssl-enum-ciphers', '-p', String(port), '127.0.0.1'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const offered: Record<string, string[]> = {};
  let version: string | null = null;
  for (const line of r.stdout.split('\n')) {
    const v = /^\|\s+(TLSv1\.[0-3]|SSLv[23]):/.exec(line);
    if (v?.[1]) {
      version = v[1];
      offered[version] = [];
    }
    const suite = /^\|\s+(TLS_\w+)/.exec(line);
    if (suite?.[1] && version) offered[version]?.push(suite[1]);
  }
  assert.ok(Object.keys(offered).length > 0, `nmap found no TLS at all:\n${r.stdout}${r.stderr}`);
  return offered;
}

test('TLS: SIGTERM does not wait out a connection that never starts its handshake', {
  timeout: 30_000,
  skip: !hasTools && 'needs openssl',
}, async (t) => {
  // Node lists a TLS connection only once its handshake is done; before that the drain holds it
  // and closes it when it has read nothing for the grace, as an idle keep-alive connection.
  const dir = tempDir(t);
  makeCerts(dir, ['server']);
  const tls = { certfile: 'server.pem', keyfile: 'server.key' };
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { workers: 1, keepalive: 20, graceful_timeout: 20, tls }));
  const server = await startServer(t, { cwd: dir });
  const silent = netConnect(Number(new URL(server.url()).port), '127.0.0.1');
  t.after(() => silent.destroy());
  silent.on('error', () => {});
  const closed = once(silent, 'close');
  await once(silent, 'connect');
  // A full TLS exchange on another connection: the worker has accepted the silent one by then.
  assert.equal(await presentedCN(Number(new URL(server.url()).port), join(dir, 'ca.pem')), 'server');
  const { code, tookMs } = await server.terminate();
  assert.equal(code, 0);
  assert.ok(tookMs < 5000, `the stop took ${tookMs} ms with graceful_timeout 20 s`);
  await closed;
});

test('TLS cipher scan (nmap ssl-enum-ciphers, RSA key): TLS 1.2 and 1.3 only, forward secrecy and AEAD only', {
  timeout: 120_000,
  skip: (!hasTools || !hasCommand('nmap')) && 'needs openssl and nmap (apt-get install nmap)',
}, async (t) => {
  const dir = tempDir(t);
  makeCerts(dir, ['server'], 'rsa');
  const tls = { certfile: 'server.pem', keyfile: 'server.key' };
  for (const workerClass of ['http', 'http2']) {
    await t.test(workerClass, async (t2) => {
      writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { workers: 1, worker_class: workerClass, tls }));
      const server = await startServer(t2, { cwd: dir });
      const offered = scanCiphers(Number(new URL(server.url()).port));
      assert.deepEqual(Object.keys(offered).sort(), ['TLSv1.2', 'TLSv1.3'], 'no SSL, TLS 1.0 or 1.1');
      const suites = Object.values(offered).flat();
      assert.ok(
        suites.some((s) => s.startsWith('TLS_ECDHE_RSA_')),
        suites.join(' '),
      );
      assert.deepEqual(
        suites.filter((s) => s.startsWith('TLS_RSA_')),
        [],
        'no static-RSA key exchange',
      );
      assert.deepEqual(
        suites.filter((s) => s.includes('_CBC_')),
        [],
        'no CBC suite',
      );
      t2.diagnostic(suites.join(' '));
    });
  }
});
