import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isIpOrCidr, parseBindAddress } from '../../src/config/bind-address.js';

test('bind addresses in every form', () => {
  assert.deepEqual(parseBindAddress('127.0.0.1:8000'), { kind: 'tcp', host: '127.0.0.1', port: 8000 });
  assert.deepEqual(parseBindAddress(':8000'), { kind: 'tcp', host: '', port: 8000 });
  assert.deepEqual(parseBindAddress('localhost:0'), { kind: 'tcp', host: 'localhost', port: 0 });
  assert.deepEqual(parseBindAddress('[::1]:8000'), { kind: 'tcp', host: '::1', port: 8000 });
  assert.deepEqual(parseBindAddress('unix:/run/app.sock'), { kind: 'unix', path: '/run/app.sock' });
  assert.deepEqual(parseBindAddress('fd://3'), { kind: 'fd', fd: 3 });
});

test('bad bind addresses are refused', () => {
  for (const bad of [
    'localhost',
    '8000',
    '[::1]8000',
    '::1:8000',
    'host:99999',
    'unix:',
    'fd://1',
    'fd://x',
    '[127.0.0.1]:80',
    'a b:1',
    'host:-1',
  ]) {
    assert.equal(parseBindAddress(bad), null, bad);
  }
});

test('trusted proxy lists take addresses, CIDR ranges and *', () => {
  for (const ok of ['127.0.0.1', '::1', '10.0.0.0/8', 'fd00::/8', '*']) assert.ok(isIpOrCidr(ok), ok);
  for (const bad of ['10.0.0.0/33', '::/129', 'example.com', '10.0.0.0/8/1', '']) assert.ok(!isIpOrCidr(bad), bad);
});
