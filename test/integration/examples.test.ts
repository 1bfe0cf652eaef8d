/**
 * The examples a newcomer copies: each examples/NAME/server.yaml passes `check-config --app` as
 * its README says, and `bin/tsicorn -c examples/NAME/server.yaml` serves real responses (on a
 * free port: `--bind 127.0.0.1:0` overrides the file's 8000, as a flag overrides any setting).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { type RunResult, runBounded } from '../helpers/run.js';
import { BIN, cleanEnv, ROOT, type RunningServer, startServer } from '../helpers/server.js';

const CHECK_LIMIT_MS = 20_000;

/** `node bin/tsicorn ARGS` from the repository root, bounded by CHECK_LIMIT_MS. */
function runCli(args: string[]): Promise<RunResult> {
  return runBounded(process.execPath, [BIN, ...args], { cwd: ROOT, env: cleanEnv(), limitMs: CHECK_LIMIT_MS });
}

/** Serves examples/NAME/server.yaml from the repository root with one worker on a free port. */
function serveExample(t: import('node:test').TestContext, name: string): Promise<RunningServer> {
  return startServer(t, { cwd: ROOT, args: ['-c', `examples/${name}/server.yaml`, '--bind', '127.0.0.1:0', '--workers', '1'] });
}

async function json(res: Response): Promise<Record<string, unknown>> {
  assert.equal(res.status, 200, `${res.url}: ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

const HTTP_EXAMPLES = [
  { name: 'express', iface: 'node', loads: 'a Node request listener (Express/Connect-style)' },
  { name: 'fastify', iface: 'node', loads: 'a Node request listener' },
  { name: 'koa', iface: 'koa', loads: 'a Koa-style app (callback())' },
  { name: 'hono', iface: 'fetch', loads: 'a fetch handler (object with fetch())' },
];

const bounded = { timeout: 60_000 };

for (const ex of [...HTTP_EXAMPLES, { name: 'websocket', iface: 'node', loads: 'a Node request listener' }]) {
  test(`examples/${ex.name}: check-config --app accepts server.yaml and loads the app`, bounded, async () => {
    const run = await runCli(['check-config', '--app', `examples/${ex.name}/server.yaml`]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.startsWith(`OK: examples/${ex.name}/server.yaml is valid (app `), run.stdout);
    assert.ok(run.stdout.endsWith(`; app loads as ${ex.loads}\n`), run.stdout);
  });
}

for (const ex of HTTP_EXAMPLES) {
  test(`examples/${ex.name}: serves GET /, a route parameter and a JSON POST`, bounded, async (t) => {
    const server = await serveExample(t, ex.name);
    assert.equal(server.findLog('worker ready', { component: 'master' })?.interface, ex.iface);
    const home = await json(await fetch(`${server.url()}/`));
    assert.equal(home.framework, ex.name);
    assert.deepEqual(server.workerPids(), [home.pid], 'answered by the worker the master started');
    assert.deepEqual(await json(await fetch(`${server.url()}/users/42`)), { id: '42' });
    const echo = await fetch(`${server.url()}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'tsicorn', n: [1, 2] }),
    });
    assert.deepEqual(await json(echo), { received: { hello: 'tsicorn', n: [1, 2] } });
  });
}

test('examples/websocket: serves HTTP, and echoes text and binary messages over a WebSocket', bounded, async (t) => {
  const server = await serveExample(t, 'websocket');
  const page = await json(await fetch(`${server.url()}/`));
  assert.equal(page.example, 'websocket');

  const ws = new WebSocket(server.url().replace(/^http/, 'ws'));
  t.after(() => ws.terminate());
  const messages: { data: string; binary: boolean }[] = [];
  const received = (n: number) =>
    new Promise<void>((resolvePromise, reject) => {
      const onMessage = (data: Buffer, binary: boolean) => {
        messages.push({ data: data.toString('hex'), binary });
        if (messages.length >= n) done(resolvePromise);
      };
      const onFail = (err: Error) => done(() => reject(err));
      const onClose = (code: number) => done(() => reject(new Error(`closed (${code}) after ${messages.length} messages`)));
      const done = (then: () => void) => {
        ws.off('message', onMessage).off('error', onFail).off('close', onClose);
        then();
      };
      ws.on('message', onMessage).on('error', onFail).on('close', onClose);
    });
  await new Promise<void>((resolvePromise, reject) => {
    ws.once('open', () => resolvePromise());
    ws.once('error', reject);
  });
  const echoes = received(2);
  ws.send('hello over tsicorn');
  ws.send(Buffer.from([0, 1, 2, 255]));
  await echoes;
  assert.deepEqual(messages, [
    { data: Buffer.from('hello over tsicorn').toString('hex'), binary: false },
    { data: '000102ff', binary: true },
  ]);
});
