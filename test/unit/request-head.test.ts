import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { HeadScanner } from '../../src/worker/request-head.js';

/** Only rawHeaders is read: the fields as the client spelled them. */
const req = (...rawHeaders: string[]) => ({ rawHeaders }) as unknown as IncomingMessage;
const forwardingNames = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-real-ip', 'x-forwarded-ssl'];
const scanner = new HeadScanner({ fieldSize: 40, requestIdHeader: 'x-request-id', forwardingNames });

test('a plain request: its fields counted, nothing else found', () => {
  const head = scanner.scan(req('Host', 'example.com', 'Accept-Encoding', 'gzip', 'Cache-Control', 'no-cache', 'User-Agent', 'x'));
  assert.deepEqual(
    { ...head },
    {
      fields: 4,
      oversized: undefined,
      duplicate: undefined,
      transferEncoding: undefined,
      requestId: undefined,
      requestIds: 0,
      forwarding: false,
    },
  );
});

test('singletons given twice are found whatever their case; other repeated fields are not', () => {
  assert.equal(scanner.scan(req('Host', 'a', 'HOST', 'b')).duplicate, 'host');
  assert.equal(scanner.scan(req('content-length', '1', 'Accept', 'x', 'Content-Length', '1')).duplicate, 'content-length');
  assert.equal(scanner.scan(req('Proxy-Authorization', 'a', 'proxy-authorization', 'b')).duplicate, 'proxy-authorization');
  assert.equal(scanner.scan(req('Accept', 'a', 'Accept', 'b', 'Host', 'h')).duplicate, undefined);
  // The result is reused: a later clean request does not inherit an earlier finding.
  assert.equal(scanner.scan(req('Host', 'h')).duplicate, undefined);
});

test('the first field over limit_request_field_size is named as the client wrote it', () => {
  const head = scanner.scan(req('Host', 'h', 'X-Long', 'v'.repeat(40), 'X-Longer', 'v'.repeat(50)));
  assert.equal(head.oversized, 'X-Long');
  const unlimited = new HeadScanner({ fieldSize: 0, requestIdHeader: 'x-request-id', forwardingNames });
  assert.equal(unlimited.scan(req('X-Long', 'v'.repeat(10_000))).oversized, undefined);
});

test('transfer-encoding and the request id are read; two ids are counted as two', () => {
  const head = scanner.scan(req('Transfer-Encoding', 'chunked', 'X-Request-ID', 'abc'));
  assert.equal(head.transferEncoding, 'chunked');
  assert.equal(head.requestId, 'abc');
  assert.equal(head.requestIds, 1);
  assert.equal(scanner.scan(req('x-request-id', 'a', 'X-Request-Id', 'b')).requestIds, 2);
});

test('any forwarding field, in any case, tells the proxy rules to look', () => {
  for (const name of ['X-Forwarded-For', 'forwarded', 'X-REAL-IP', 'X-Forwarded-Ssl']) {
    assert.equal(scanner.scan(req('Host', 'h', name, '1')).forwarding, true, name);
  }
  assert.equal(scanner.scan(req('X-Forwarded-Host', 'h', 'Accept-Language', 'en')).forwarding, false);
});

test('names the length table cannot hold, or not starting with a letter, are still found', () => {
  const long = `x-${'a'.repeat(70)}`;
  const odd = new HeadScanner({ fieldSize: 0, requestIdHeader: '_trace', forwardingNames: [long, '1-scheme'] });
  assert.equal(odd.scan(req(long.toUpperCase(), 'on')).forwarding, true);
  assert.equal(odd.scan(req('1-Scheme', 'on')).forwarding, true);
  assert.equal(odd.scan(req('_Trace', 't1')).requestId, 't1');
  assert.equal(odd.scan(req('Host', 'h')).forwarding, false);
});

test('a name is the field looked for in any case, and only when every character matches', () => {
  assert.equal(scanner.scan(req('X-Request_ID', 'abc')).requestIds, 0);
  assert.equal(scanner.scan(req('x-request-iD', 'abc')).requestId, 'abc');
  assert.equal(scanner.scan(req('Hosts', 'a', 'Hos', 'b', 'Host', 'c')).duplicate, undefined);
  assert.equal(scanner.scan(req('hOsT', 'a', 'Host', 'b')).duplicate, 'host');
});
