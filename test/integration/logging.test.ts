import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runLoad } from '../helpers/load.js';
import { ROOT, type RunningServer, serverYaml, startServer, until } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const FETCH_APP = join(ROOT, 'test', 'fixtures', 'serve', 'log-fetch-app.mjs');
const LOG_APP = join(ROOT, 'test', 'fixtures', 'serve', 'log-app.cjs');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CLF_TIME = /\[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]/.source;

function accessLines(server: RunningServer, file = 'access.log'): string[] {
  const path = join(server.dir, file);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean);
}

test('json access log, request ids honoured or made, a Gunicorn format string', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    waitWatching: true,
    files: { 'server.yaml': serverYaml(APP, { workers: 1, log: { accesslog: 'access.log', access_format: 'json' } }) },
  });
  const given = await (await fetch(`${server.url()}/request-id`, { headers: { 'x-request-id': 'abc-123' } })).text();
  assert.equal(given, 'abc-123');
  const made = await (await fetch(`${server.url()}/request-id`)).text();
  assert.match(made, UUID);
  await until('two lines', () => accessLines(server).length >= 2);
  const [first, second] = accessLines(server).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(Object.keys(first ?? {}), [
    'time',
    'remote_addr',
    'method',
    'path',
    'query',
    'protocol',
    'status',
    'bytes',
    'duration_ms',
    'referer',
    'user_agent',
    'request_id',
  ]);
  assert.equal(first?.request_id, 'abc-123');
  assert.equal(second?.request_id, made);
  assert.equal(first?.status, 200);
  assert.equal(first?.bytes, 7);
  assert.equal(typeof first?.duration_ms, 'number');

  // A live change of the format at reload: no rotation, the next line uses it.
  writeFileSync(
    join(server.dir, 'server.yaml'),
    serverYaml(APP, { workers: 1, log: { accesslog: 'access.log', access_format: '%(m)s %(U)s %(s)s %({x-request-id}i)s' } }),
  );
  await server.waitForLog('config reloaded', { trigger: 'watch' });
  // The worker applies it on a message from the master: poll with requests until a line shows it.
  let line = '';
  for (const deadline = Date.now() + 10_000; line !== 'GET /fmt 200 r9' && Date.now() < deadline; ) {
    await (await fetch(`${server.url()}/fmt`, { headers: { 'x-request-id': 'r9' } })).text();
    await until('the line to be written', () => accessLines(server).length > 2);
    line = accessLines(server).at(-1) ?? '';
  }
  assert.equal(line, 'GET /fmt 200 r9');
  assert.equal(server.countLogs('rotation started'), 0, 'log settings apply without a rotation');
});

test('the access log turned on by a live reload counts body bytes from the next request, no worker replaced', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { waitWatching: true, files: { 'server.yaml': serverYaml(APP, { workers: 1 }) } });
  const [pid] = server.workerPids();
  assert.equal((await fetch(`${server.url()}/download?chunks=1`)).status, 200);
  writeFileSync(
    join(server.dir, 'server.yaml'),
    serverYaml(APP, { workers: 1, log: { accesslog: 'access.log', access_format: '%(U)s %(s)s %(B)s' } }),
  );
  await server.waitForLog('config reloaded', { trigger: 'watch' });
  // The workers apply it when the master's message arrives: ask until a line is written.
  await until('an access log line', () => {
    fetch(`${server.url()}/ping`)
      .then((res) => res.arrayBuffer())
      .catch(() => undefined);
    return accessLines(server).length > 0;
  });
  // Chunked, written in two calls: the count is the body, not the socket's bytes.
  const body = await (await fetch(`${server.url()}/download?chunks=2`)).arrayBuffer();
  assert.equal(body.byteLength, 131_072);
  await until('the download logged', () => accessLines(server).some((l) => l.startsWith('/download ')));
  assert.deepEqual(
    accessLines(server).filter((l) => l.startsWith('/download ')),
    ['/download 200 131072'],
  );
  assert.deepEqual(server.workerPids(), [pid], 'the access log setting applies live');
});

test('4 workers under load write one file: only whole lines, none lost', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 4, log: { accesslog: 'access.log' } }) },
  });
  const result = await runLoad(`${server.url()}/${'x'.repeat(300)}`, { total: 2000, concurrency: 16 });
  assert.equal(result.ok, 2000, result.errors.slice(0, 3).join('\n'));
  await until('every line', () => accessLines(server).length >= 2000);
  const lines = accessLines(server);
  assert.equal(lines.length, 2000);
  const whole = new RegExp(`^127\\.0\\.0\\.1 - - ${CLF_TIME} "GET /x{300} HTTP/1\\.1" 200 \\d+ "-" "[^"]*"$`);
  for (const line of lines) assert.match(line, whole);
});

test('a worker loads pino at its first line: one that serves without trouble never does', { timeout: 30_000 }, async (t) => {
  // ~20 ms of every worker's boot, on the path of every start and rotation (logger.ts).
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(LOG_APP, { workers: 1 }) } });
  const packages = async () => (await (await fetch(`${server.url()}/packages`)).json()) as string[];
  assert.equal((await fetch(`${server.url()}/hello`)).status, 200);
  const before = await packages();
  assert.ok(!before.includes('pino'), `pino loaded before the worker wrote a line: ${before}`);
  // A handler that throws is logged: the first line loads pino, and it is written.
  assert.equal((await fetch(`${server.url()}/throw`)).status, 500);
  const failed = await server.waitForLog('request handler failed', { component: 'worker' });
  assert.equal(failed.level, 'error');
  assert.ok((await packages()).includes('pino'));
});

test('capture_output: the app’s console.log and console.error go into the server log', { timeout: 30_000 }, async (t) => {
  // At debug a worker says `worker ready` itself (the master says it at info).
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 1, log: { capture_output: true, level: 'debug' } }) },
  });
  await (await fetch(`${server.url()}/console?n=7`)).text();
  const out = await server.waitForLog('app output', { stream: 'stdout' });
  assert.equal(out.output, 'app says hello on stdout 7');
  const err = await server.waitForLog('app output', { stream: 'stderr' });
  assert.equal(err.output, 'app says oops on stderr');
  assert.equal(out.component, 'master');
  // The worker's own log lines are not wrapped as app output.
  assert.ok(server.findLog('worker ready', { component: 'worker' }));
  assert.equal(server.logs.filter((l) => l.msg === 'app output' && String(l.output).startsWith('{')).length, 0);
});

test('log.request_id_header: the named header is the id, given or made; a fetch handler sees it both ways', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, {
    files: {
      'server.yaml': serverYaml(FETCH_APP, {
        workers: 1,
        log: { accesslog: 'access.log', access_format: 'json', request_id_header: 'X-Trace-Id' },
      }),
    },
  });
  const ask = async (headers: Record<string, string>, header = 'x-trace-id') =>
    (await (await fetch(`${server.url()}/?header=${header}`, { headers })).json()) as { get: string | null; listed: string[] };
  const given = await ask({ 'x-trace-id': 'trace-7', 'x-request-id': 'not-this-one' });
  assert.deepEqual(given, { get: 'trace-7', listed: ['trace-7'] });
  const made = await ask({});
  assert.match(String(made.get), UUID);
  assert.deepEqual(made.listed, [made.get], 'the made id is in the headers a handler iterates');
  // An unusable id (a space, too long) is replaced, everywhere the handler looks.
  const replaced = await ask({ 'x-trace-id': 'a b' });
  assert.match(String(replaced.get), UUID);
  assert.deepEqual(replaced.listed, [replaced.get]);
  // X-Request-Id is now an ordinary header: passed through, not the id.
  assert.deepEqual(await ask({ 'x-request-id': 'plain' }, 'x-request-id'), { get: 'plain', listed: ['plain'] });
  await until('four lines', () => accessLines(server).length >= 4);
  const ids = accessLines(server).map((l) => (JSON.parse(l) as { request_id: string }).request_id);
  assert.deepEqual(ids.slice(0, 3), ['trace-7', made.get, replaced.get]);
  assert.match(ids[3] ?? '', UUID);
});

test('log.format text: one readable line per record, an error and its stack on it too', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 1, log: { format: 'text' } }) },
    env: { TSICORN_LOG_FORMAT: 'text' },
    waitReady: false,
  });
  const ready = await server.waitFor('server ready', () => server.stderrText.find((l) => l.includes(': server ready ')));
  const listeners = (JSON.parse(ready.slice(ready.indexOf('{'))) as { listeners: string[] }).listeners;
  const res = await fetch(`http://${listeners[0]}/throw`);
  assert.equal(res.status, 500);
  await res.text();
  const failed = await server.waitFor('the error line', () => server.stderrText.find((l) => l.includes(': request handler failed ')));
  assert.match(failed, /"err":\{"type":"Error","message":"sync throw in handler","stack":"Error: sync throw in handler\\n {4}at /);
  assert.equal(server.logs.length, 0, 'no JSON lines');
  // Every line is one record: time, level, pid, message, then its fields as JSON.
  const record =
    /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \(\d+\): [a-z][^{]* \{.*"component":"(master|worker)".*\}$/;
  for (const line of server.stderrText) assert.match(line, record);
});

test('every server log line carries pid and component once; worker lines their worker and generation', { timeout: 60_000 }, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 2, log: { capture_output: true } }) },
  });
  await (await fetch(`${server.url()}/console?n=1`)).text();
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation finished');
  await (await fetch(`${server.url()}/console?n=2`)).text();
  await server.waitForLog('app output', { output: 'app says hello on stdout 2' });
  process.kill(server.pid, 'SIGTERM');
  await server.waitForExit();
  assert.ok(server.stderrText.length > 20);
  const generations = new Set<unknown>();
  for (const line of server.stderrText) {
    const record = JSON.parse(line) as Record<string, unknown>;
    assert.equal(line.split('"pid":').length - 1, 1, `pid once: ${line}`);
    assert.equal(typeof record.pid, 'number', line);
    assert.ok(record.component === 'master' || record.component === 'worker', line);
    if (record.component === 'worker') {
      assert.equal(typeof record.worker, 'number', line);
      assert.equal(typeof record.generation, 'number', line);
      generations.add(record.generation);
    }
  }
  assert.deepEqual([...generations].sort(), [1, 2], 'lines from both generations');
  assert.equal(server.findLog('server ready')?.pid, server.pid);
});
