import assert from 'node:assert/strict';
import { test } from 'node:test';
import { interpolate } from '../../src/config/interpolate.js';
import type { Origin } from '../../src/config/issue.js';

const at: (p: string) => Origin = () => ({ kind: 'file', file: 'f.yaml', line: 1, column: 1 });

test('replaces ${VAR} and ${VAR:-default} in string values, anywhere in the string', () => {
  const out = interpolate({ a: 'x-${A}-y', b: '${B:-dflt}', c: ['${A}'], d: { e: '${A:-no}' } }, { A: 'aa' }, at);
  assert.deepEqual(out.value, { a: 'x-aa-y', b: 'dflt', c: ['aa'], d: { e: 'aa' } });
  assert.deepEqual(out.issues, []);
});

test('an empty variable takes the default, as in the shell', () => {
  assert.deepEqual(interpolate({ a: '${E:-d}', b: '${E}' }, { E: '' }, at).value, { a: 'd', b: '' });
});

test('marks values that were exactly one variable, so they can take the setting type', () => {
  const out = interpolate({ workers: '${W:-4}', app: 'srv/${APP}.js', list: ['${X:-1}'] }, { APP: 'a', X: '2' }, at);
  assert.deepEqual([...out.whole].sort(), ['/list/0', '/workers']);
});

test('$${ escapes a literal ${', () => {
  assert.deepEqual(interpolate({ a: 'cost: $${HOME}' }, { HOME: '/root' }, at).value, { a: 'cost: ${HOME}' });
});

test('an unset variable with no default is an error naming it and the setting, not an empty string', () => {
  const out = interpolate({ log: { errorlog: '${LOGFILE}' } }, {}, at);
  assert.equal(out.issues.length, 1);
  const [issue] = out.issues;
  assert.equal(issue?.code, 'TSI_ERR_CONFIG_ENV_VAR');
  assert.equal(issue?.setting, 'log.errorlog');
  assert.match(issue?.message ?? '', /LOGFILE is not set/);
  assert.match(issue?.hint ?? '', /\$\{LOGFILE:-value\}/);
});

test('keys and non-string values are left alone', () => {
  assert.deepEqual(interpolate({ '${K}': 1, n: 2, t: true, z: null }, { K: 'k' }, at).value, { '${K}': 1, n: 2, t: true, z: null });
});
