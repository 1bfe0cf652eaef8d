import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, serverYaml, startServer } from '../helpers/server.js';

const SERVE = join(ROOT, 'test', 'fixtures', 'serve');

const frameworks = [
  { name: 'express', app: join(SERVE, 'express-app.mjs'), path: '/hello', iface: 'node', body: { framework: 'express' } },
  { name: 'koa', app: join(SERVE, 'koa-app.cjs'), path: '/k', iface: 'koa', body: { framework: 'koa', path: '/k' } },
  { name: 'hono', app: join(SERVE, 'hono-app.mjs'), path: '/hello', iface: 'fetch', body: { framework: 'hono' } },
  {
    name: 'fastify (serverFactory)',
    app: `${join(SERVE, 'fastify-app.mjs')}:create()`,
    path: '/hello',
    iface: 'node',
    body: { framework: 'fastify' },
  },
  {
    name: 'fetch handler object',
    app: join(SERVE, 'fetch-app.mjs'),
    path: '/f',
    iface: 'fetch',
    body: { interface: 'fetch', method: 'GET', path: '/f' },
  },
];

for (const fw of frameworks) {
  test(`serves a ${fw.name} app and logs its interface`, { timeout: 30_000 }, async (t) => {
    const server = await startServer(t, { files: { 'server.yaml': serverYaml(fw.app) } });
    const res = await fetch(`${server.url()}${fw.path}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    for (const [k, v] of Object.entries(fw.body)) assert.equal(body[k], v, `${k} in ${JSON.stringify(body)}`);
    assert.equal(server.findLog('worker ready', { component: 'master' })?.interface, fw.iface);
  });
}

test('a 10 MB upload streams through to a Node listener intact', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(join(SERVE, 'node-app.cjs')) } });
  const body = Buffer.alloc(10 * 1024 * 1024);
  for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
  const res = await fetch(`${server.url()}/upload`, { method: 'POST', body });
  const got = (await res.json()) as { bytes: number; sha256: string };
  assert.equal(got.bytes, body.length);
  assert.equal(got.sha256, createHash('sha256').update(body).digest('hex'));
});

test('a streamed download of 10 MiB arrives complete', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(join(SERVE, 'node-app.cjs')) } });
  const res = await fetch(`${server.url()}/download?chunks=160`);
  assert.equal(res.headers.get('transfer-encoding'), 'chunked');
  const bytes = (await res.arrayBuffer()).byteLength;
  assert.equal(bytes, 160 * 65536);
});

test('a fetch handler streams a 10 MB upload in and a 4 MiB body out', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(join(SERVE, 'hono-app.mjs')) } });
  const up = await fetch(`${server.url()}/upload`, { method: 'POST', body: Buffer.alloc(10 * 1024 * 1024, 1) });
  assert.deepEqual(await up.json(), { bytes: 10 * 1024 * 1024 });
  const down = await fetch(`${server.url()}/download`);
  assert.equal((await down.arrayBuffer()).byteLength, 64 * 65536);
});

test('a fetch handler streams: the first chunks arrive before the response ends, the body is read as it comes', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(join(SERVE, 'hono-app.mjs'), { workers: 1 }) } });
  const started = Date.now();
  const res = await fetch(`${server.url()}/ticks`);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  const firstAfter = Date.now() - started;
  assert.match(new TextDecoder().decode(first.value), /^tick 1\n/);
  let rest = '';
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
  const allAfter = Date.now() - started;
  assert.match(rest, /tick 5\n$/);
  assert.ok(allAfter - firstAfter >= 450, `the first line came at ${firstAfter} ms, the last at ${allAfter} ms`);

  // The upload: the answer comes after the first chunk, while the client still holds the rest.
  const { hostname, port } = new URL(server.url());
  const answer = await new Promise<string>((resolvePromise, reject) => {
    const req = httpRequest({ hostname, port, method: 'POST', path: '/first-chunk', headers: { 'transfer-encoding': 'chunked' } }, (r) => {
      let text = '';
      r.setEncoding('utf8').on('data', (d: string) => {
        text += d;
      });
      r.on('end', () => resolvePromise(text));
    });
    req.on('error', reject);
    req.write('hello-first-chunk');
    // Never ended before the answer: a server that buffered the whole body would never reply.
    t.after(() => req.destroy());
  });
  assert.deepEqual(JSON.parse(answer), { first: 'hello-first-chunk' });
});

test('a handler that throws or rejects gives a 500 and the worker serves on', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(join(SERVE, 'node-app.cjs'), { workers: 1 }) } });
  const pids = server.workerPids();
  for (const path of ['/throw', '/reject']) {
    const res = await fetch(`${server.url()}${path}`);
    assert.equal(res.status, 500, path);
    await res.text();
  }
  const ok = (await (await fetch(`${server.url()}/after`)).json()) as { pid: number };
  assert.deepEqual([ok.pid], pids, 'the same worker still serves');
  const failed = await server.waitForLog('request handler failed', { url: '/throw' });
  assert.match(String((failed.err as { stack?: string }).stack), /sync throw in handler/);
  assert.ok(server.findLog('request handler failed', { url: '/reject' }));
});

test('a fetch handler that throws gives a 500', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(join(SERVE, 'fetch-app.mjs'), { workers: 1 }) } });
  const res = await fetch(`${server.url()}/throw`);
  assert.equal(res.status, 500);
  await res.text();
  assert.equal((await fetch(`${server.url()}/ok`)).status, 200);
});

test('an uncaught exception outside a request replaces that worker gracefully', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(join(SERVE, 'node-app.cjs'), { workers: 1 }) } });
  const [before] = server.workerPids();
  const inflight = await fetch(`${server.url()}/slow-body?ms=1000`);
  assert.equal(await (await fetch(`${server.url()}/uncaught`)).text(), 'scheduled');
  await server.waitForLog('worker asks to be replaced', { reason: 'uncaught_exception' });
  const exited = await server.waitForLog('worker exited', { workerPid: before });
  assert.equal(exited.reason, 'uncaught_exception');
  assert.equal(exited.code, 0, 'it drained and exited cleanly, it did not crash');
  assert.equal(await inflight.text(), 'finished after 1000 ms', 'its in-flight request finished');
  const after = server.workerPids();
  assert.equal(after.length, 1);
  assert.notEqual(after[0], before);
  assert.equal((await fetch(`${server.url()}/ok`)).status, 200);
});

test('an app that fails to import stops start-up with its error and exit code 4, no fork loop', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(join(SERVE, 'crash-at-import.mjs')) },
    waitReady: false,
  });
  assert.equal(await server.waitForExit(), 4);
  const failed = server.findLog('worker failed to boot');
  assert.match(String(failed?.stack), /missing DATABASE_URL/);
  assert.match(
    server.stderrText.at(-1) ?? '',
    /^tsicorn: the app failed to load: this app cannot start: missing DATABASE_URL \(TSI_ERR_APP_LOAD\)$/,
  );
  assert.ok(server.countLogs('worker failed to boot') <= 2, 'no more workers than asked were started');
});
