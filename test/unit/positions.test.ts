import assert from 'node:assert/strict';
import { test } from 'node:test';
import { settingName } from '../../src/config/position.js';
import { parseConfigText } from '../../src/config/source.js';

function positions(text: string) {
  const out = parseConfigText(text, 'f');
  assert.ok(out.ok, JSON.stringify(!out.ok && out.issues));
  return out.source;
}

test('YAML: nested keys and values, list items, quoted scalars', () => {
  const src = positions('app: a.js\nlog:\n  level: debug\nbind:\n  - ":8000"\n  - unix:/x\n');
  assert.deepEqual(src.keyAt.get('/log/level'), { line: 3, column: 3 });
  assert.deepEqual(src.valueAt.get('/log/level'), { line: 3, column: 10 });
  assert.deepEqual(src.valueAt.get('/bind/0'), { line: 5, column: 5 }, 'a quoted value points at its opening quote');
  assert.deepEqual(src.valueAt.get('/bind/1'), { line: 6, column: 5 });
  assert.equal(src.format, 'yaml');
});

test('YAML flow collections', () => {
  const src = positions('bind: [":1", ":2"]\nlog: {level: info}\n');
  assert.deepEqual(src.valueAt.get('/bind/1'), { line: 1, column: 14 });
  assert.deepEqual(src.keyAt.get('/log/level'), { line: 2, column: 7 });
});

test('JSON is detected by content and mapped the same way', () => {
  const src = positions('{\n  "app": "a.js",\n  "log": {"level": 5}\n}\n');
  assert.equal(src.format, 'json');
  assert.deepEqual(src.valueAt.get('/log/level'), { line: 3, column: 20 });
  assert.deepEqual(src.keyAt.get('/app'), { line: 2, column: 3 });
});

test('keys with / and ~ are escaped as in JSON pointers', () => {
  const src = positions('env:\n  "a/b~c": 1\n');
  assert.deepEqual(src.valueAt.get('/env/a~1b~0c'), { line: 2, column: 12 });
});

test('syntax errors carry a position', () => {
  const yaml = parseConfigText('app: a\n  b: [\n', 'f.yaml');
  assert.ok(!yaml.ok);
  assert.equal(yaml.issues[0]?.code, 'TSI_ERR_CONFIG_SYNTAX');
  assert.equal(yaml.issues[0]?.origin.kind === 'file' && yaml.issues[0].origin.line, 2);
  const json = parseConfigText('{\n  "app": "a",\n  "x": ,\n}', 'f.json');
  assert.ok(!json.ok);
  assert.deepEqual(json.issues[0]?.origin, { kind: 'file', file: 'f.json', line: 3, column: 8 });
});

test('duplicate keys are reported where the second one is, in YAML and JSON', () => {
  for (const text of ['app: a\nlog:\n  level: info\n  level: warn\n', '{"app": "a", "log": {"level": "info",\n "level": "warn"}}']) {
    const out = parseConfigText(text, 'f');
    assert.ok(!out.ok);
    assert.equal(out.issues[0]?.code, 'TSI_ERR_CONFIG_DUPLICATE_KEY');
  }
});

test('setting names read the way people write them', () => {
  assert.equal(settingName('/log/level'), 'log.level');
  assert.equal(settingName('/bind/2'), 'bind[2]');
  assert.equal(settingName(''), '(root)');
});
