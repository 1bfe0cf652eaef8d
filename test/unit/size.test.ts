import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sizeInBytes } from '../../src/config/size.js';

test('sizes: bytes, binary units in every spelling, fractions, null', () => {
  assert.equal(sizeInBytes(null), null);
  assert.equal(sizeInBytes(1000), 1000);
  assert.equal(sizeInBytes('1000'), 1000);
  assert.equal(sizeInBytes('512B'), 512);
  assert.equal(sizeInBytes('2K'), 2048);
  assert.equal(sizeInBytes('2k'), 2048);
  assert.equal(sizeInBytes('300M'), 300 * 1024 ** 2);
  assert.equal(sizeInBytes('512MiB'), 512 * 1024 ** 2);
  assert.equal(sizeInBytes('512MB'), 512 * 1024 ** 2);
  assert.equal(sizeInBytes('1.5G'), 1.5 * 1024 ** 3);
  assert.equal(sizeInBytes('1 GiB'), 1024 ** 3);
  assert.equal(sizeInBytes('1T'), 1024 ** 4);
  assert.throws(() => sizeInBytes('lots'));
});
