import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { RawClient } from '../helpers/raw-http.js';
import { ROOT, type RunningServer, serverYaml, startServer } from '../helpers/server.js';

const CORPUS = join(ROOT, 'test', 'fixtures', 'requests');
const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const CORPUS_APP = join(ROOT, 'test', 'fixtures', 'serve', 'corpus-app.cjs');

/** Sends raw bytes; resolves with the status (or null) and whether the server closed the connection. */
function exchange(url: string, bytes: Buffer): Promise<{ status: number | null; closed: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolvePromise) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    let status: number | null = null;
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolvePromise({ status, closed });
    };
    // A kept-alive connection after a 200 is fine: stop waiting a moment after the answer.
    const timer = setTimeout(() => done(false), 3000);
    socket.on('data', (d) => {
      answer += d.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
      if (m && status === null) {
        status = Number(m[1]);
        if (status === 200) setTimeout(() => done(false), 300);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => done(true));
    socket.write(bytes);
  });
}

/**
 * What the app was given of each request: its `corpus-app` lines since the last call. A marker
 * request is sent and awaited first; the worker writes its stderr lines in order, so every line
 * of the case before it is in by then.
 */
function appLines(server: RunningServer): (marker: string) => Promise<string[]> {
  let seen = 0;
  return async (marker) => {
    const line = `corpus-app end GET /marker/${marker}`;
    const request = `GET /marker/${marker} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    assert.equal((await exchange(server.url(), Buffer.from(request))).status, 200);
    await server.waitFor(`the marker ${marker}`, () => server.stderrText.includes(line));
    const at = server.stderrText.indexOf(line);
    const lines = server.stderrText.slice(seen, at).filter((l) => l.startsWith('corpus-app ') && !l.includes(' /marker/'));
    seen = at + 1;
    return lines;
  };
}

// Each case as its expectation file says: a status (200: the app got the head and the body's
// end; any other: the app got nothing), or `closed` (refused in the body, after the app was
// given the head, as a streamed body is: the app never sees the body's end).
for (const [what, env] of [
  ['', {}],
  // A lenient parser switched on for the whole process must not make tsicorn's workers lenient.
  [' (NODE_OPTIONS=--insecure-http-parser)', { NODE_OPTIONS: '--insecure-http-parser' }],
] as const) {
  test(`the raw request corpus${what}: each answered or closed as expected, none reaching the app, no worker lost`, {
    timeout: 120_000,
  }, async (t) => {
    const server = await startServer(t, { files: { 'server.yaml': serverYaml(CORPUS_APP, { workers: 1 }) }, env });
    const [pid] = server.workerPids();
    const gave = appLines(server);
    const cases = readdirSync(CORPUS)
      .filter((f) => f.endsWith('.http'))
      .sort();
    assert.ok(cases.length >= 60, `${cases.length} cases`);
    for (const file of cases) {
      await t.test(file, async () => {
        const expected = readFileSync(join(CORPUS, file.replace(/\.http$/, '.expected')), 'utf8').trim();
        const got = await exchange(server.url(), readFileSync(join(CORPUS, file)));
        const seen = await gave(file);
        if (expected === 'closed') {
          assert.ok(got.closed, 'the connection was closed');
          assert.deepEqual(
            seen.filter((l) => l.startsWith('corpus-app end ')),
            [],
            'the app never saw the body end',
          );
        } else {
          assert.equal(got.status, Number(expected));
          if (got.status !== 200) {
            assert.ok(got.closed, 'a refused request closes the connection');
            assert.deepEqual(seen, [], 'the app was never called');
          } else assert.equal(seen.length, 2, `the app got the head and the body: ${seen.join(' | ')}`);
        }
      });
    }
    assert.deepEqual(server.workerPids(), [pid], 'the same worker served every case');
    assert.equal(server.countLogs('worker died') + server.countLogs('worker asks to be replaced'), 0);
  });
}

test('the PROXY protocol corpus with proxy.protocol: each header read, or the connection closed before HTTP', {
  timeout: 60_000,
}, async (t) => {
  const dir = join(CORPUS, 'proxy-protocol');
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, proxy: { protocol: true } }) } });
  const cases = readdirSync(dir)
    .filter((f) => f.endsWith('.http'))
    .sort();
  assert.ok(cases.length >= 20, `${cases.length} cases`);
  for (const file of cases) {
    await t.test(file, async () => {
      const expected = readFileSync(join(dir, file.replace(/\.http$/, '.expected')), 'utf8').trim();
      const got = await exchange(server.url(), readFileSync(join(dir, file)));
      if (expected === 'closed') assert.deepEqual(got, { status: null, closed: true }, 'closed without an answer');
      else assert.equal(got.status, Number(expected));
    });
  }
  assert.equal(server.countLogs('worker died'), 0);
});

test('300 slowloris connections are cut after headers_timeout while normal clients are served', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 2, headers_timeout: 2 }) } });
  const { hostname, port } = new URL(server.url());
  const opened = Date.now();
  const closedAt: number[] = [];
  const sockets = Array.from({ length: 300 }, () => {
    const s = connect(Number(port), hostname);
    s.on('error', () => {});
    s.on('close', () => closedAt.push(Date.now() - opened));
    s.write('GET / HTTP/1.1\r\nHost: x\r\n');
    return s;
  });
  // Each slow client trickles a header line every 500 ms, never finishing the head.
  const trickle = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write(`X-Slow-${Date.now()}: 1\r\n`);
  }, 500);
  t.after(() => {
    clearInterval(trickle);
    for (const s of sockets) s.destroy();
  });
  for (let i = 0; i < 50; i++) {
    const res = await fetch(`${server.url()}/normal`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    await res.text();
  }
  await new Promise<void>((resolvePromise, reject) => {
    const deadline = setTimeout(() => reject(new Error(`${closedAt.length} of 300 closed after 6 s`)), 6000);
    const check = setInterval(() => {
      if (closedAt.length === 300) {
        clearInterval(check);
        clearTimeout(deadline);
        resolvePromise();
      }
    }, 50);
  });
  clearInterval(trickle);
  assert.ok(Math.max(...closedAt) <= 4000, `the last slow connection closed after ${Math.max(...closedAt)} ms (headers_timeout 2 s + 2 s)`);
});

test('under balance: round-robin too, headers_timeout and request_timeout cut a slow client', { timeout: 30_000 }, async (t) => {
  // The master accepts and hands each connection over: the worker's server never listens itself,
  // which once left Node's checks of both timeouts unarmed (a slow head stayed open for good).
  const yaml = serverYaml(APP, { workers: 1, balance: 'round-robin', headers_timeout: 1, request_timeout: 2 });
  const server = await startServer(t, { files: { 'server.yaml': yaml } });
  const slowHead = await RawClient.open(server.url());
  const slowBody = await RawClient.open(server.url());
  t.after(() => {
    slowHead.destroy();
    slowBody.destroy();
  });
  const sent = Date.now();
  slowHead.send('GET / HTTP/1.1\r\nHost: x\r\n');
  slowBody.send('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab');
  const [head, body] = await Promise.all([slowHead.readAll(), slowBody.readAll()]);
  const elapsed = Date.now() - sent;
  assert.equal(head, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  assert.equal(body, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  // request_timeout 2 s, and Node looks every 500 ms.
  assert.ok(elapsed < 4000, `both were cut after ${elapsed} ms`);
  const res = await fetch(`${server.url()}/`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, 'the worker serves on');
});
