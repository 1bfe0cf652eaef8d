import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileAccessBytes } from '../../src/log/access-bytes.js';
import { type AccessRecord, compileAccessFormat } from '../../src/log/access-format.js';
import { accessRecord } from '../helpers/access-record.js';

const record = accessRecord;

const basic = (user: string) => `Basic ${Buffer.from(`${user}:secret`).toString('base64')}`;
const RECORDS: AccessRecord[] = [
  record(),
  record({ headers: { referer: 'https://example.com/', 'user-agent': 'curl/8.5' } }),
  record({ headers: { authorization: basic('alice'), 'user-agent': 'a "quoted" \\ agent\x01\xe9\x7f' } }),
  record({ url: '/caf\xc3\xa9?q="x"', method: 'PROPFIND', headers: { referer: '' } }),
  // Long values, copied in bulk when there is nothing to escape.
  record({ url: `/${'long/'.repeat(20)}`, headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0' } }),
  record({ headers: { referer: `https://example.com/${'a'.repeat(40)}"`, 'user-agent': `${'b'.repeat(40)}\x00` } }),
  // A value an app set on req.headers can hold any UTF-16 (Node's own are latin1).
  record({ headers: { 'user-agent': 'snow ☃ and 😀', 'x-trace': 'ü' } }),
  record({ httpVersion: '1.0' }, { bytes: 0, status: 304, user: 'bob (cert)' }),
  record({}, { bytes: 1_234_567_890, status: 599, remoteAddr: '2001:db8::1', durationUs: 0.4 }),
  record({}, { req: { headers: {} }, requestLine: 'GARBAGE\x7f "line"', status: 400, bytes: 0, requestId: null }),
  record({}, { req: { headers: {} }, status: 408, bytes: 0, requestId: null }),
  record({}, { req: { method: 'GET', headers: {} }, status: 400, bytes: 0, requestId: null }),
  // Every control char, as JSON escapes them (\b \t \n \f \r, \u00XX) and DEL, which it does not.
  record({ url: `/c?${Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).join('')}\x7f`, headers: { referer: 'a\\b"c' } }),
  record({}, { durationUs: 1234.5, requestId: 'id-"quoted"\\', startMs: Date.UTC(2026, 0, 2, 3, 4, 5, 678.9) }),
];

const FORMATS = [
  'common',
  'combined',
  '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
  '%(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(T)s %(D)s %(M)s %(L)s %({x-trace}i)s %({content-type}o)s %({TSICORN_TEST_BYTES}e)s %(p)s',
  'häst → %(s)s %% 100%% "%(r)s"',
  'toString',
];

/** What the string formatter's line encodes to, with its newline. */
const expected = (format: string, r: AccessRecord) => Buffer.from(`${compileAccessFormat(format)(r)}\n`);

test('each format writes, byte for byte, what its string formatter encodes to', () => {
  process.env.TSICORN_TEST_BYTES = 'env "value"';
  for (const format of [...FORMATS, 'json']) {
    const bytes = compileAccessBytes(format);
    for (const r of RECORDS) {
      const buf = Buffer.alloc(4096, 0xff);
      const line = expected(format, r);
      // From an offset: the line goes after the lines gathered before it.
      const end = bytes(r, buf, 100);
      if (end < 0) {
        // Only json declines, and only a record with a non-ASCII value: the string formatter decodes those.
        assert.equal(format, 'json');
        const { req } = r;
        const values = [req.url, req.method, req.headers.referer, req.headers['user-agent'], r.remoteAddr, r.requestId, r.requestLine];
        assert.ok(
          values.some((v) => typeof v === 'string' && [...v].some((c) => c.charCodeAt(0) > 0x7f)),
          `json declined: ${line.toString()}`,
        );
        continue;
      }
      assert.equal(buf.subarray(100, end).toString('latin1'), line.toString('latin1'), `${format}: ${JSON.stringify(r.req)}`);
      assert.equal(buf[end], 0xff, 'nothing written past the end it returned');
    }
  }
});

test('a line that does not fit reports an end past the buffer, and writes nothing past it', () => {
  const bytes = compileAccessBytes('combined');
  const r = record({ headers: { 'user-agent': 'x'.repeat(200) } });
  const whole = expected('combined', r);
  for (const size of [0, 10, whole.length - 1]) {
    const backing = Buffer.alloc(size + 8, 0xee);
    const buf = backing.subarray(0, size);
    assert.ok(bytes(r, buf, 0) > size, `${size}-byte buffer`);
    assert.ok(
      backing.subarray(size).every((b) => b === 0xee),
      'the bytes after the buffer are untouched',
    );
  }
  const exact = Buffer.alloc(whole.length);
  assert.equal(bytes(r, exact, 0), whole.length);
  assert.deepEqual(exact, whole);
});
