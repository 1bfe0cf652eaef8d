import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RawClient, rawRequest } from '../helpers/raw-http.js';
import { ROOT, type RunningServer, serverYaml, startServer, until } from '../helpers/server.js';

// The exact access log line of each odd request, in each format: one server per format, the
// same requests in the same order, each awaited in the log before the next is sent.

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'log-app.cjs');
const CLF = /^127\.0\.0\.1 - - (\[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]) (.*)$/;
const UPLOADED = JSON.stringify({ bytes: 5, sha256: createHash('sha256').update('hello').digest('hex') });
const UA = 'User-Agent: tester/1.0\r\n';
const utf8 = (text: string) => Buffer.from(text, 'utf8');

function accessLines(server: RunningServer): string[] {
  const path = join(server.dir, 'access.log');
  return existsSync(path) ? readFileSync(path, 'latin1').split('\n').filter(Boolean) : [];
}

/** Sends the odd requests one by one, each awaited in the access log; returns the log's lines. */
async function oddRequests(server: RunningServer): Promise<string[]> {
  const base = server.url();
  let count = 0;
  const logged = async () => {
    count++;
    await until(`access line ${count}`, () => accessLines(server).length >= count).catch((err: Error) => {
      throw new Error(`${err.message}\n${accessLines(server).join('\n')}`);
    });
  };
  // 1. A query, a referer, a request header for an atom.
  await rawRequest(
    base,
    `GET /hello?x=1 HTTP/1.1\r\nHost: x\r\nReferer: https://ref.example/\r\n${UA}X-Trace: t1\r\nConnection: close\r\n\r\n`,
  );
  await logged();
  // 2. HEAD: no body bytes.
  await rawRequest(base, `HEAD /hello HTTP/1.1\r\nHost: x\r\n${UA}Connection: close\r\n\r\n`);
  await logged();
  // 3. A streamed (chunked) body of 3 × 64 KiB.
  await rawRequest(base, `GET /download?chunks=3 HTTP/1.1\r\nHost: x\r\n${UA}Connection: close\r\n\r\n`);
  await logged();
  // 4. 103 Early Hints before the 200: one line, for the final response.
  const hinted = await rawRequest(base, `GET /early-hints HTTP/1.1\r\nHost: x\r\n${UA}Connection: close\r\n\r\n`);
  assert.match(hinted, /^HTTP\/1\.1 103 Early Hints\r\n/);
  await logged();
  // 5. Expect: 100-continue, the body sent only after the interim answer.
  const upload = await RawClient.open(base);
  upload.send(`POST /upload HTTP/1.1\r\nHost: x\r\n${UA}Expect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n`);
  await upload.waitFor('100 Continue', (t) => t.startsWith('HTTP/1.1 100 Continue\r\n\r\n'));
  upload.send('hello');
  assert.ok((await upload.readAll()).endsWith(UPLOADED));
  await logged();
  // 6. A percent-encoded non-ASCII path; quotes, a tab, a backslash and raw UTF-8 in a header.
  await rawRequest(
    base,
    Buffer.concat([
      utf8('GET /caf%C3%A9 HTTP/1.1\r\nHost: x\r\nUser-Agent: a "b"\tc\\d '),
      utf8('é'),
      utf8('\r\nConnection: close\r\n\r\n'),
    ]),
  );
  await logged();
  // 7. The client leaves before any answer: nginx's 499. Aborted once the app holds it.
  const held = await RawClient.open(base);
  held.send(`GET /hold HTTP/1.1\r\nHost: x\r\n${UA}\r\n`);
  await server.waitFor('the app to hold the request', () => server.stderrText.includes('held /hold'));
  held.destroy();
  await logged();
  // 8. The client leaves mid-stream, after the headers and a first chunk: the status sent.
  const streaming = await RawClient.open(base);
  streaming.send(`GET /stream-abort HTTP/1.1\r\nHost: x\r\n${UA}\r\n`);
  await streaming.waitFor('the first chunk', (t) => t.includes('\r\n\r\n5\r\nhello\r\n'));
  streaming.destroy();
  await logged();
  // 9-11. Refused by Node's parser: a control byte in a header, raw UTF-8 in the path, no request line.
  assert.equal(
    await rawRequest(base, 'GET /bad HTTP/1.1\r\nHost: x\r\nX-Evil: a\x01b\r\n\r\n'),
    'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
  );
  await logged();
  await rawRequest(base, Buffer.concat([utf8('GET /caf'), utf8('é'), utf8(' HTTP/1.1\r\nHost: x\r\n\r\n')]));
  await logged();
  assert.equal(await rawRequest(base, 'hello world\r\n\r\n'), 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  await logged();
  return accessLines(server);
}

async function serve(t: Parameters<typeof startServer>[0], format: string): Promise<RunningServer> {
  return startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 1, log: { accesslog: 'access.log', access_format: format } }) },
  });
}

/** Lines after the `%h %l %u %t` prefix, as the file holds them (latin1: one char per byte). */
function afterTime(lines: string[]): string[] {
  return lines.map((line) => {
    const m = CLF.exec(line);
    assert.ok(m, `not a common/combined line: ${line}`);
    return m[2] ?? '';
  });
}

const REQUESTS = [
  '"GET /hello?x=1 HTTP/1.1" 200 6',
  '"HEAD /hello HTTP/1.1" 200 -',
  '"GET /download?chunks=3 HTTP/1.1" 200 196608',
  '"GET /early-hints HTTP/1.1" 200 6',
  `"POST /upload HTTP/1.1" 200 ${UPLOADED.length}`,
  '"GET /caf%C3%A9 HTTP/1.1" 200 6',
  '"GET /hold HTTP/1.1" 499 -',
  '"GET /stream-abort HTTP/1.1" 200 5',
  '"GET /bad HTTP/1.1" 400 -',
  '"GET /caf\\xc3\\xa9 HTTP/1.1" 400 -',
  '"hello world" 400 -',
];
const AGENTS = [
  '"https://ref.example/" "tester/1.0"',
  ...Array(4).fill('"-" "tester/1.0"'),
  '"-" "a \\"b\\"\\x09c\\\\d \\xc3\\xa9"',
  '"-" "tester/1.0"',
  '"-" "tester/1.0"',
  ...Array(3).fill('"-" "-"'),
];

test('common: the exact line of each odd request', { timeout: 60_000 }, async (t) => {
  const lines = afterTime(await oddRequests(await serve(t, 'common')));
  assert.deepEqual(lines, REQUESTS);
});

test('combined: the exact line of each odd request', { timeout: 60_000 }, async (t) => {
  const server = await serve(t, 'combined');
  const lines = afterTime(await oddRequests(server));
  assert.deepEqual(
    lines,
    REQUESTS.map((r, i) => `${r} ${AGENTS[i]}`),
  );
  // The server log stays JSON, line by line; the app's own stderr lines are the only others.
  for (const line of server.stderrText.filter((l) => !/^(held|streaming) /.test(l))) assert.doesNotThrow(() => JSON.parse(line), line);
});

test('a Gunicorn format string: the exact line of each odd request, %% as %', { timeout: 60_000 }, async (t) => {
  const format = '%(h)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%(f)s|%(a)s|%({x-trace}i)s|%({content-type}o)s|"%(r)s"|100%%';
  const lines = await oddRequests(await serve(t, format));
  const tail = (r: string) => `${r}|100%`;
  assert.deepEqual(lines, [
    tail('127.0.0.1|GET|/hello|x=1|HTTP/1.1|200|6|6|https://ref.example/|tester/1.0|t1|text/plain|"GET /hello?x=1 HTTP/1.1"'),
    tail('127.0.0.1|HEAD|/hello||HTTP/1.1|200|0|-|-|tester/1.0|-|text/plain|"HEAD /hello HTTP/1.1"'),
    tail(
      '127.0.0.1|GET|/download|chunks=3|HTTP/1.1|200|196608|196608|-|tester/1.0|-|application/octet-stream|"GET /download?chunks=3 HTTP/1.1"',
    ),
    tail('127.0.0.1|GET|/early-hints||HTTP/1.1|200|6|6|-|tester/1.0|-|-|"GET /early-hints HTTP/1.1"'),
    tail(`127.0.0.1|POST|/upload||HTTP/1.1|200|${UPLOADED.length}|${UPLOADED.length}|-|tester/1.0|-|-|"POST /upload HTTP/1.1"`),
    tail('127.0.0.1|GET|/caf%C3%A9||HTTP/1.1|200|6|6|-|a \\"b\\"\\x09c\\\\d \\xc3\\xa9|-|text/plain|"GET /caf%C3%A9 HTTP/1.1"'),
    tail('127.0.0.1|GET|/hold||HTTP/1.1|499|0|-|-|tester/1.0|-|-|"GET /hold HTTP/1.1"'),
    tail('127.0.0.1|GET|/stream-abort||HTTP/1.1|200|5|5|-|tester/1.0|-|text/plain|"GET /stream-abort HTTP/1.1"'),
    tail('127.0.0.1|GET|/bad||HTTP/1.1|400|0|-|-|-|-|-|"GET /bad HTTP/1.1"'),
    tail('127.0.0.1|GET|/caf\\xc3\\xa9||HTTP/1.1|400|0|-|-|-|-|-|"GET /caf\\xc3\\xa9 HTTP/1.1"'),
    tail('127.0.0.1|-|-|-|-|400|0|-|-|-|-|-|"hello world"'),
  ]);
});

test('json: the exact record of each odd request, text decoded as UTF-8', { timeout: 60_000 }, async (t) => {
  const server = await serve(t, 'json');
  // JSON lines are UTF-8.
  const lines = (await oddRequests(server)).map((l) => Buffer.from(l, 'latin1').toString('utf8'));
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  for (const [i, r] of records.entries()) {
    assert.match(String(r.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal(typeof r.duration_ms, 'number');
    // A refused request never had an id; every other one has one made.
    if (i < 8) assert.match(String(r.request_id), uuid);
    else assert.equal(r.request_id, null);
    delete r.time;
    delete r.duration_ms;
    delete r.request_id;
  }
  const rec = (method: string | null, path: string | null, query: string | null, status: number, bytes: number, ua: string | null) => ({
    remote_addr: '127.0.0.1',
    method,
    path,
    query,
    protocol: method === null ? null : 'HTTP/1.1',
    status,
    bytes,
    referer: null,
    user_agent: ua,
  });
  assert.deepEqual(records, [
    { ...rec('GET', '/hello', 'x=1', 200, 6, 'tester/1.0'), referer: 'https://ref.example/' },
    rec('HEAD', '/hello', '', 200, 0, 'tester/1.0'),
    rec('GET', '/download', 'chunks=3', 200, 196608, 'tester/1.0'),
    rec('GET', '/early-hints', '', 200, 6, 'tester/1.0'),
    rec('POST', '/upload', '', 200, UPLOADED.length, 'tester/1.0'),
    rec('GET', '/caf%C3%A9', '', 200, 6, 'a "b"\tc\\d é'),
    rec('GET', '/hold', '', 499, 0, 'tester/1.0'),
    rec('GET', '/stream-abort', '', 200, 5, 'tester/1.0'),
    rec('GET', '/bad', '', 400, 0, null),
    rec('GET', '/café', '', 400, 0, null),
    { ...rec(null, null, null, 400, 0, null), request: 'hello world' },
  ]);
  // The keys, in order (a line that is not a refusal or shortened has exactly these).
  assert.deepEqual(Object.keys(JSON.parse(lines[0] ?? '{}')), [
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
});

test('a head too slow (headers_timeout): Node’s 408 is logged, the request unknown', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: {
      'server.yaml': serverYaml(APP, { workers: 1, headers_timeout: 1, log: { accesslog: 'access.log', access_format: 'common' } }),
    },
  });
  const slow = await RawClient.open(server.url());
  slow.send('GET /hello HTTP/1.1\r\nHost: x\r\n');
  assert.equal(await slow.readAll(), 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  await until('the line', () => accessLines(server).length === 1);
  assert.deepEqual(afterTime(accessLines(server)), ['"-" 408 -']);
});
