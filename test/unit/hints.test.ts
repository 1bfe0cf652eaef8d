import assert from 'node:assert/strict';
import { test } from 'node:test';
import { levenshtein, unknownKeyHint } from '../../src/config/hints.js';
import { serverSchema } from '../../src/config/schema.js';

const root = serverSchema();
const log = root.properties?.log;

test('levenshtein', () => {
  assert.equal(levenshtein('workers', 'wokers'), 1);
  assert.equal(levenshtein('', 'abc'), 3);
  assert.equal(levenshtein('kitten', 'sitting'), 3);
});

test('typos suggest the sibling setting', () => {
  assert.equal(unknownKeyHint('wokers', [], root), 'did you mean `workers`?');
  assert.equal(unknownKeyHint('levle', ['log'], log), 'did you mean `log.level`?');
  assert.equal(unknownKeyHint('max-requests', [], root), 'did you mean `max_requests`?');
});

test("Gunicorn's and PM2's names point at ours", () => {
  assert.match(unknownKeyHint('loglevel', [], root) ?? '', /`log\.level`/);
  assert.match(unknownKeyHint('certfile', [], root) ?? '', /`tls\.certfile`/);
  assert.match(unknownKeyHint('instances', [], root) ?? '', /`workers`/);
  assert.match(unknownKeyHint('max_memory_restart', [], root) ?? '', /`max_memory`/);
});

test('a setting of another group, and a dotted name written flat', () => {
  assert.equal(unknownKeyHint('level', [], root), 'did you mean `log.level`?');
  assert.match(unknownKeyHint('log.level', [], root) ?? '', /nest it/);
});

test('nothing close: list the group, or point at print-config', () => {
  assert.match(unknownKeyHint('zzzzzz', ['tls'], root.properties?.tls) ?? '', /^known settings here: certfile, keyfile/);
  assert.match(unknownKeyHint('qqqqqqqq', [], root) ?? '', /print-config/);
});
