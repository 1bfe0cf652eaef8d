import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES } from '../../src/errors.js';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

test('every error code has its section in docs/errors.md', () => {
  for (const code of Object.keys(ERROR_CODES)) assert.match(doc, new RegExp(`^### ${code}$`, 'm'), `${code} is not documented`);
});

test('docs/errors.md documents no code that does not exist', () => {
  for (const [, code] of doc.matchAll(/^### (TSI_\w+)$/gm)) assert.ok(code && code in ERROR_CODES, `${code} is documented but not defined`);
});

test('every exit code used is in the exit code table', () => {
  for (const { exit } of Object.values(ERROR_CODES)) assert.match(doc, new RegExp(`^\\| ${exit}\\s+\\|`, 'm'), `exit ${exit}`);
});
