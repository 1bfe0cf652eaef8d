import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from 'node:tls';
import { makeCerts } from '../helpers/certs.js';
import { ROOT, serverYaml, startServer, tempDir } from '../helpers/server.js';

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

test('TLS: 1.1 refused, 1.2 and 1.3 served; a certificate replaced on disk is served within seconds', {
  timeout: 60_000,
  skip: !hasTools && 'needs openssl and curl',
}, async (t) => {
  const dir = tempDir(t);
  const certs = makeCerts(dir, ['first', 'second']);
  copyFileSync(certs.cert('first'), join(dir, 'server.pem'));
  copyFileSync(certs.key('first'), join(dir, 'server.key'));
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { workers: 2, tls: { certfile: 'server.pem', keyfile: 'server.key' } }));
  const running = await startServer(t, { cwd: dir });
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
  assert.equal(await presentedCN(port, certs.ca), 'first');

  // certbot-style renewal: the files are replaced in place.
  copyFileSync(certs.key('second'), join(dir, 'server.key'));
  copyFileSync(certs.cert('second'), join(dir, 'server.pem'));
  await running.waitFor('both workers to reload', () => running.countLogs('tls certificate reloaded') >= 2);
  assert.equal(await presentedCN(port, certs.ca), 'second');
  assert.equal(running.countLogs('rotation started'), 0, 'no restart, no rotation');

  // A broken file keeps the working certificate.
  writeFileSync(join(dir, 'server.pem'), '');
  await running.waitFor('the refusal', () => running.countLogs('tls certificate reload failed; keeping the one in use') >= 2);
  assert.equal(await presentedCN(port, certs.ca), 'second');
});

test('mTLS: a verified client certificate reaches the app; without one the handshake is refused', {
  timeout: 60_000,
  skip: !hasTools && 'needs openssl and curl',
}, async (t) => {
  const dir = tempDir(t);
  const certs = makeCerts(dir, ['server', 'alice']);
  writeFileSync(
    join(dir, 'server.yaml'),
    serverYaml(APP, { workers: 1, tls: { certfile: 'server.pem', keyfile: 'server.key', ca_certs: 'ca.pem', cert_reqs: 'required' } }),
  );
  const server = await startServer(t, { cwd: dir });
  const port = Number(new URL(server.url()).port);
  const body = await new Promise<string>((resolvePromise, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/client-cert',
        ca: readFileSync(certs.ca),
        cert: readFileSync(certs.cert('alice')),
        key: readFileSync(certs.key('alice')),
        servername: 'localhost',
      },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolvePromise(text));
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.deepEqual(JSON.parse(body), { authorized: true, subject: 'alice' });
  const anonymous = curl(`https://127.0.0.1:${port}/client-cert`, ['--cacert', certs.ca]);
  assert.doesNotMatch(anonymous.out, /\n200$/, 'no client certificate, no answer');
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
