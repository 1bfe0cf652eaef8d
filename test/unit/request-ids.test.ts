import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestIds } from '../../src/worker/request-ids.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('made ids are version-4 UUIDs, none repeated across several refills', () => {
  const ids = new RequestIds();
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = ids.next();
    assert.match(id, V4);
    seen.add(id);
  }
  assert.equal(seen.size, 1000);
});

test('the random part is random: every hex digit shows up in every free position', () => {
  const ids = new RequestIds();
  const digits = Array.from({ length: 36 }, () => new Set<string>());
  for (let i = 0; i < 2000; i++) {
    const id = ids.next();
    for (let at = 0; at < id.length; at++) digits[at]?.add(id.charAt(at));
  }
  for (const at of [0, 7, 9, 15, 20, 35]) assert.equal(digits[at]?.size, 16, `position ${at}`);
  assert.deepEqual([...(digits[14] ?? [])], ['4'], 'the version');
  assert.deepEqual([...(digits[19] ?? [])].sort(), ['8', '9', 'a', 'b'], 'the variant');
});
