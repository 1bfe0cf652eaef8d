import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coerceText } from '../../src/config/coerce.js';
import { schemaAt, serverSchema } from '../../src/config/schema.js';

const of = (name: string) => schemaAt(serverSchema(), name.split('.'));

test('text takes the type of the setting it is for', () => {
  assert.equal(coerceText('4', of('workers')), 4);
  assert.equal(coerceText('auto', of('workers')), 'auto');
  assert.equal(coerceText('2.5', of('timeout')), 2.5);
  assert.equal(coerceText('true', of('log.capture_output')), true);
  assert.equal(coerceText('off', of('reload.config')), false);
  assert.equal(coerceText('123', of('app')), '123', 'a string setting keeps digits as text');
  assert.equal(coerceText('null', of('log.accesslog')), null);
  assert.equal(coerceText('512MiB', of('max_memory')), '512MiB');
  assert.equal(coerceText('1048576', of('max_memory')), 1048576);
});

test('list settings split on commas', () => {
  assert.deepEqual(coerceText('10.0.0.0/8, ::1', of('proxy.forwarded_allow_ips')), ['10.0.0.0/8', '::1']);
  assert.deepEqual(coerceText('', of('reload.extra_files')), []);
  assert.deepEqual(coerceText(':8000,unix:/run/a.sock', of('bind')), [':8000', 'unix:/run/a.sock']);
  assert.equal(coerceText('[::1]:8000', of('bind')), '[::1]:8000');
});

test('text that fits no type is left for validation to report', () => {
  assert.equal(coerceText('four', of('workers')), 'four');
  assert.equal(coerceText('maybe', of('log.capture_output')), 'maybe');
  assert.equal(coerceText('2.5', of('backlog')), '2.5');
});
