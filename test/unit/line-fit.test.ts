import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeLogText } from '../../src/log/access-format.js';
import { cutJson, cutLine, cutText, jsonSize, MARK, shareBudget, textSize } from '../../src/log/line-fit.js';

test('the budget is shared fairly: short fields whole, the long ones split what is left', () => {
  assert.deepEqual(shareBudget([10, 5000, 3000, 20], 1000), [10, 485, 485, 20]);
  assert.deepEqual(shareBudget([10, 20], 1000), [10, 20]);
  assert.deepEqual(shareBudget([100, 100], -5), [0, 0]);
});

test('text sizes are those of the escaped field; a cut never splits an escape', () => {
  const raw = 'a"b\\c\x01é';
  assert.equal(textSize(raw), escapeLogText(raw).length);
  for (let cap = MARK.length; cap < 30; cap++) {
    const cut = cutText(raw, cap);
    assert.ok(raw.startsWith(cut));
    assert.ok(escapeLogText(cut).length + MARK.length <= cap, `cap ${cap}`);
  }
});

test('JSON sizes are those JSON.stringify writes, in UTF-8; a cut never splits a code point', () => {
  const value = 'a"\\\n\x01é例😀\ud800z';
  assert.equal(jsonSize(value), Buffer.byteLength(JSON.stringify(value)) - 2);
  for (let cap = MARK.length; cap < 50; cap++) {
    const cut = cutJson(value, cap);
    assert.ok(value.startsWith(cut));
    assert.ok(!/[\ud800-\udbff]$/.test(cut) || cut.endsWith('\ud800'), 'no half surrogate pair');
    assert.ok(Buffer.byteLength(JSON.stringify(cut + MARK)) - 2 <= cap, `cap ${cap}`);
  }
});

test('the last resort cuts a whole line at a byte limit, never inside an escape or a character', () => {
  const line = `é${'\\x01'.repeat(10)}\\"${'x'.repeat(100)}`;
  for (let limit = MARK.length; limit < 60; limit++) {
    const cut = cutLine(line, limit);
    assert.ok(Buffer.byteLength(cut) <= limit, `limit ${limit}`);
    assert.ok(cut.endsWith(MARK));
    assert.match(cut.slice(0, -MARK.length), /^(é)?(\\x01)*(\\")?x*$/);
  }
});
