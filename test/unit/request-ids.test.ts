import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestIds } from '../../src/worker/request-ids.js';

const V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{3}[1-9][0-9]{8}$/;

test('made ids are version-8 UUIDs: one random part per worker, then a counter', () => {
  const ids = new RequestIds();
  // 2,500 ids: across two of the thousands, where the shared head of the string changes.
  const made = Array.from({ length: 2500 }, () => ids.next());
  for (const id of made) assert.match(id, V8);
  assert.equal(new Set(made.map((id) => id.slice(0, 27))).size, 1, 'one random part');
  assert.deepEqual(
    made.map((id) => Number(id.slice(27))),
    Array.from({ length: 2500 }, (_, i) => 100_000_000 + i),
    'the counter, one after another',
  );
});

test('the random part is random: it differs between workers, and is drawn again when the counter runs out', () => {
  const parts = new Set(Array.from({ length: 200 }, () => new RequestIds().next().slice(0, 27)));
  assert.equal(parts.size, 200);
  const digits = Array.from({ length: 27 }, () => new Set<string>());
  for (const part of parts) for (let at = 0; at < 27; at++) digits[at]?.add(part.charAt(at));
  for (const at of [0, 7, 9, 15, 20, 26]) assert.ok((digits[at]?.size ?? 0) >= 12, `position ${at}: ${[...(digits[at] ?? [])]}`);
  assert.deepEqual([...(digits[14] ?? [])], ['8'], 'the version');
  assert.deepEqual([...(digits[19] ?? [])].sort(), ['8', '9', 'a', 'b'], 'the variant');

  const ids = new RequestIds(999_999_999);
  const last = ids.next();
  const first = ids.next();
  assert.match(last, V8);
  assert.match(first, V8);
  assert.equal(last.slice(27), '999999999');
  assert.equal(first.slice(27), '100000000');
  assert.notEqual(first.slice(0, 27), last.slice(0, 27), 'a new random part');
});
