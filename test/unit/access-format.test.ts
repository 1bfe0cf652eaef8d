import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AccessRecord, compileAccessFormat, escapeLogText } from '../../src/log/access-format.js';
import { MARK } from '../../src/log/line-fit.js';
import { accessRecord, type RequestOver } from '../helpers/access-record.js';

const record = (over: RequestOver = {}) => accessRecord(over);

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

test('%% is a literal %, also before what looks like an atom', () => {
  assert.equal(compileAccessFormat('%(s)s 100%% %%(h)s %%%(m)s')(record()), '200 100% %(h)s %GET');
});

/** A header value as Node hands it over: each UTF-8 byte one latin1 char. */
const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

test('json decodes referer and user agent as UTF-8, as it does the path', () => {
  const parsed = JSON.parse(
    compileAccessFormat('json')(record({ headers: { referer: latin1('https://例え.jp/ü'), 'user-agent': latin1('naïve/1.0 😀') } })),
  );
  assert.equal(parsed.referer, 'https://例え.jp/ü');
  assert.equal(parsed.user_agent, 'naïve/1.0 😀');
  // Text formats keep escaping the bytes, as Apache and nginx do.
  assert.match(compileAccessFormat('%(a)s')(record({ headers: { 'user-agent': latin1('ï') } })), /^\\xc3\\xaf$/);
});

test('a response header given to writeHead() only is still logged from the head as sent', () => {
  const rec = record({ resHeaders: {} });
  (rec.res as { _header?: string })._header = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-A: 1\r\nx-a: 2\r\n\r\n';
  assert.equal(compileAccessFormat('%({content-type}o)s %({x-a}o)s %({x-b}o)s')(rec), 'text/html 1, 2 -');
});

test('a refused request: what is known of it, - for the rest', () => {
  const refused = (over: Partial<AccessRecord>): AccessRecord => ({ ...record(), requestId: null, status: 400, bytes: 0, ...over });
  const known = refused({ req: { method: 'GET', url: '/a\x01', httpVersion: '1.1', headers: {} } });
  assert.match(compileAccessFormat('combined')(known), /"GET \/a\\x01 HTTP\/1\.1" 400 - "-" "-"$/);
  const raw = refused({ req: { headers: {} }, requestLine: 'hello "world"' });
  assert.match(compileAccessFormat('combined')(raw), /"hello \\"world\\"" 400 - "-" "-"$/);
  assert.equal(compileAccessFormat('%(m)s %(U)s %(q)s %(H)s')(raw), '- - - -');
  const json = JSON.parse(compileAccessFormat('json')(raw));
  assert.deepEqual([json.method, json.path, json.protocol, json.request, json.request_id], [null, null, null, 'hello "world"', null]);
});

test('within a byte limit: the long supplied fields are shortened with a mark, the rest kept', () => {
  const long = record({
    url: `/${'p'.repeat(5000)}?${'q'.repeat(50)}`,
    headers: { referer: `https://r/${'r'.repeat(3000)}`, 'user-agent': `ua "${'\x01'.repeat(400)}"` },
  });
  for (const format of ['combined', 'common', '%(r)s %(U)s %(q)s %(f)s %(a)s %(s)s']) {
    const line = compileAccessFormat(format)(long, 4095);
    assert.ok(Buffer.byteLength(line) <= 4095, `${format}: ${Buffer.byteLength(line)}`);
    assert.ok(line.includes(MARK), format);
    assert.ok(!/\\x?[0-9a-f]?\.\.\.\[truncated\]/.test(line), `${format}: an escape was split`);
  }
  const combined = compileAccessFormat('combined')(long, 4095);
  // The fixed fields and the short query are whole; the line still parses as combined.
  assert.match(
    combined,
    new RegExp(
      `^203\\.0\\.113\\.9 - - ${time} "GET /p+\\.\\.\\.\\[truncated\\] HTTP/1\\.1" 200 42 "https://r/r+\\.\\.\\.\\[truncated\\]" "ua \\\\"(\\\\x01)+\\.\\.\\.\\[truncated\\]"$`,
    ),
  );
  assert.equal(compileAccessFormat('combined')(record(), 4095), compileAccessFormat('combined')(record()), 'a short line is untouched');
});

test('within a byte limit, JSON stays valid JSON, UTF-8 and escapes counted as written', () => {
  const long = record({
    url: `/${latin1('é'.repeat(3000))}?${'q'.repeat(40)}`,
    headers: { referer: 'r'.repeat(2000), 'user-agent': `${'\x02'.repeat(500)}${latin1('😀'.repeat(200))}` },
  });
  const line = compileAccessFormat('json')(long, 4095);
  assert.ok(Buffer.byteLength(line) <= 4095, `${Buffer.byteLength(line)} bytes`);
  const parsed = JSON.parse(line);
  assert.equal(parsed.truncated, true);
  assert.match(parsed.path, /^\/é+\.\.\.\[truncated\]$/);
  assert.equal(parsed.query, 'q'.repeat(40));
  assert.match(parsed.referer, /^r+\.\.\.\[truncated\]$/);
  assert.match(parsed.user_agent.replaceAll('\x02', '^'), /^\^+(😀)*\.\.\.\[truncated\]$/);
  assert.equal(parsed.request_id, 'req-1');
  assert.equal(JSON.parse(compileAccessFormat('json')(record(), 4095)).truncated, undefined);
});

test('the presets give the same line as their atoms', () => {
  const atoms = {
    common: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s',
    combined: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
  };
  const basic = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
  const records: AccessRecord[] = [
    record(),
    record({ headers: { referer: 'https://example.com/', 'user-agent': 'curl/8.5' } }),
    record({ headers: { authorization: basic, 'user-agent': 'a "quoted" \\ agent\x01\xe9' } }),
    record({ url: '/caf\xc3\xa9?q="x"', method: 'PROPFIND', headers: { referer: '' } }),
    { ...record(), bytes: 0, status: 304, user: 'bob (cert)' },
    { ...record(), req: { headers: {} }, requestLine: 'GARBAGE\x7f "line"', status: 400, bytes: 0, requestId: null },
    { ...record(), req: { headers: {} }, status: 408, bytes: 0, requestId: null },
  ];
  for (const [preset, text] of Object.entries(atoms)) {
    const fast = compileAccessFormat(preset);
    const parts = compileAccessFormat(text);
    for (const r of records) {
      assert.equal(fast(r), parts(r), `${preset}: ${JSON.stringify(r.req)}`);
      assert.equal(fast(r, 120), parts(r, 120), `${preset}, fitted to 120 bytes`);
    }
  }
  // Only the presets' own names: a format that is an Object.prototype name is plain text.
  for (const name of ['toString', 'constructor', '__proto__']) assert.equal(compileAccessFormat(name)(record()), name);
});
