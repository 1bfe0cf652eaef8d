import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { type AccessRecord, compileAccessFormat, escapeLogText } from '../../src/log/access-format.js';

/** A record for a request as Node presents it (header names lower-case, values latin1). */
function record(
  over: { url?: string; method?: string; headers?: Record<string, string>; resHeaders?: Record<string, string> } = {},
): AccessRecord {
  const req = {
    method: over.method ?? 'GET',
    url: over.url ?? '/a/b?x=1',
    httpVersion: '1.1',
    headers: over.headers ?? {},
  } as unknown as IncomingMessage;
  const resHeaders = over.resHeaders ?? { 'content-type': 'text/plain' };
  const res = { getHeader: (name: string) => resHeaders[name] } as unknown as ServerResponse;
  return {
    req,
    res,
    startMs: Date.UTC(2026, 10, 25, 12, 30, 5),
    durationUs: 1_234_567,
    bytes: 42,
    status: 200,
    remoteAddr: '203.0.113.9',
    requestId: 'req-1',
  };
}

const time = /\[\d{2}\/Nov\/2026:\d{2}:\d{2}:05 [+-]\d{4}\]/.source;

test('combined is Apache/nginx combined', () => {
  const line = compileAccessFormat('combined')(record({ headers: { referer: 'https://example.com/', 'user-agent': 'curl/8.5' } }));
  assert.match(
    line,
    new RegExp(`^203\\.0\\.113\\.9 - - ${time} "GET /a/b\\?x=1 HTTP/1\\.1" 200 42 "https://example\\.com/" "curl/8\\.5"$`),
  );
});

test('common has no referer or user agent; a missing value is -', () => {
  const rec = record();
  rec.bytes = 0;
  assert.match(compileAccessFormat('common')(rec), new RegExp(`^203\\.0\\.113\\.9 - - ${time} "GET /a/b\\?x=1 HTTP/1\\.1" 200 -$`));
});

test('basic auth user is %(u)s', () => {
  const auth = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
  assert.equal(compileAccessFormat('%(u)s')(record({ headers: { authorization: auth } })), 'alice');
});

test('without Basic auth, %(u)s is the verified client certificate CN, escaped; Basic auth wins', () => {
  const withCert = (headers: Record<string, string> = {}) => ({ ...record({ headers }), user: 'bob "the" cert' });
  assert.equal(compileAccessFormat('%(u)s')(withCert()), 'bob \\"the\\" cert');
  const auth = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
  assert.equal(compileAccessFormat('%(u)s')(withCert({ authorization: auth })), 'alice');
});

test('json has every field, typed, with the UTF-8 path the client meant', () => {
  const latin1Path = Buffer.from('/café', 'utf8').toString('latin1');
  const latin1Query = Buffer.from('q=é', 'utf8').toString('latin1');
  const parsed = JSON.parse(compileAccessFormat('json')(record({ url: `${latin1Path}?${latin1Query}`, headers: { 'user-agent': 'ua' } })));
  assert.deepEqual(parsed, {
    time: '2026-11-25T12:30:05.000Z',
    remote_addr: '203.0.113.9',
    method: 'GET',
    path: '/café',
    query: 'q=é',
    protocol: 'HTTP/1.1',
    status: 200,
    bytes: 42,
    duration_ms: 1234.567,
    referer: null,
    user_agent: 'ua',
    request_id: 'req-1',
  });
});

test("Gunicorn's atoms, headers in and out, environment", () => {
  process.env.TSICORN_TEST_ATOM = 'blue';
  const fmt = compileAccessFormat(
    '%(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(T)s %(D)s %(M)s %(L)s %({x-trace}i)s %({content-type}o)s %({TSICORN_TEST_ATOM}e)s %(p)s',
  );
  assert.equal(
    fmt(record({ headers: { 'x-trace': 'abc' } })),
    `GET /a/b x=1 HTTP/1.1 200 42 1 1234567 1235 1.234567 abc text/plain blue <${process.pid}>`,
  );
});

test('quotes, backslashes, control bytes and non-ASCII are escaped, never written raw', () => {
  assert.equal(escapeLogText('say "hi"\\'), 'say \\"hi\\"\\\\');
  assert.equal(escapeLogText('a\tb\r\nc\x00'), 'a\\x09b\\x0d\\x0ac\\x00');
  assert.equal(escapeLogText(Buffer.from('/é', 'utf8').toString('latin1')), '/\\xc3\\xa9');
  const line = compileAccessFormat('combined')(record({ headers: { 'user-agent': 'evil"\n203.0.113.1 - - [forged]' } }));
  assert.equal(line.split('\n').length, 1);
  assert.match(line, /"evil\\"\\x0a203\.0\.113\.1 - - \[forged\]"$/);
});

test('an unknown or malformed atom is an error naming it', () => {
  assert.throws(() => compileAccessFormat('%(h)s %(z)s'), /unknown atom %\(z\)s/);
  assert.throws(() => compileAccessFormat('%(host)s'), /malformed atom near "%\(host\)s"/);
});
