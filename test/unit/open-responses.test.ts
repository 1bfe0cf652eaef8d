import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { type OpenEntry, OpenResponses } from '../../src/worker/open-responses.js';

const entry = (name: string): OpenEntry => ({ res: { name } as unknown as ServerResponse, prev: null, next: null });
const names = (open: OpenResponses) => [...open].map((res) => (res as unknown as { name: string }).name);

test('open responses: oldest first, unlinked from the head, the middle and the tail', () => {
  const open = new OpenResponses();
  assert.equal(open.oldest(), undefined);
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(entry) as [OpenEntry, OpenEntry, OpenEntry, OpenEntry];
  for (const e of [a, b, c, d]) open.link(e);
  assert.deepEqual(names(open), ['a', 'b', 'c', 'd']);
  assert.equal(open.size, 4);
  open.unlink(b);
  assert.deepEqual(names(open), ['a', 'c', 'd']);
  open.unlink(a);
  assert.equal(open.oldest(), c.res);
  open.unlink(d);
  assert.deepEqual(names(open), ['c']);
  open.unlink(c);
  assert.deepEqual(names(open), []);
  assert.equal(open.size, 0);
  assert.equal(open.oldest(), undefined);
  // Linked again after emptying: head and tail start over.
  open.link(d);
  open.link(a);
  assert.deepEqual(names(open), ['d', 'a']);
});
