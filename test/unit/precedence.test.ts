import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, test } from 'node:test';
import type { Override } from '../../src/config/layers.js';
import { loadConfig } from '../../src/config/load.js';

const dir = mkdtempSync(`${tmpdir()}/tsicorn-precedence-`);
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = `${dir}/${name}`;
  writeFileSync(path, text);
  return path;
}
const flag = (pointer: string, text: string | string[], name: string): Override => ({ pointer, text, origin: { kind: 'cli', flag: name } });

function settingsOf(outcome: ReturnType<typeof loadConfig>) {
  assert.ok(outcome.ok, outcome.ok ? '' : JSON.stringify(outcome.issues));
  return outcome.config.settings;
}

test('defaults < file < TSICORN_* environment < flags', () => {
  const f = file('p.yaml', 'app: app.js\nworkers: 2\ntimeout: 10\nlog:\n  level: warn\n');
  const env = { TSICORN_WORKERS: '3', TSICORN_TIMEOUT: '11' };
  assert.equal(settingsOf(loadConfig({ file: f, env: {} })).graceful_timeout, 30, 'default');
  assert.equal(settingsOf(loadConfig({ file: f, env: {} })).workers, 2, 'file over default');
  assert.equal(settingsOf(loadConfig({ file: f, env })).workers, 3, 'env over file');
  const both = settingsOf(loadConfig({ file: f, env, flags: [flag('/workers', '4', '--workers')] }));
  assert.equal(both.workers, 4, 'flag over env');
  assert.equal(both.timeout, 11, 'env still applies where no flag is given');
  assert.equal(both.log.level, 'warn', 'file value kept inside a group');
  assert.equal(both.log.format, 'json', 'default filled inside a group the file partly sets');
});

test('nested settings and lists come from the environment too', () => {
  const f = file('n.yaml', 'app: app.js\n');
  const s = settingsOf(
    loadConfig({ file: f, env: { TSICORN_LOG_LEVEL: 'debug', TSICORN_BIND: ':9000,[::1]:9001', TSICORN_ENV: 'A=1,B=2' } }),
  );
  assert.equal(s.log.level, 'debug');
  assert.deepEqual(s.bind, [':9000', '[::1]:9001']);
  assert.deepEqual(s.env, { A: '1', B: '2' });
});

test('repeatable flags build lists and KEY=VALUE maps, merged over the file', () => {
  const f = file('r.yaml', 'app: app.js\nenv:\n  KEEP: yes\n');
  const s = settingsOf(
    loadConfig({ file: f, env: {}, flags: [flag('/bind', [':1', 'unix:/tmp/x.sock'], '--bind'), flag('/env', ['A=1', 'B=x=y'], '--env')] }),
  );
  assert.deepEqual(s.bind, [':1', 'unix:/tmp/x.sock']);
  assert.deepEqual(s.env, { KEEP: 'yes', A: '1', B: 'x=y' });
});

test('an invalid override names its variable or flag, not the file', () => {
  const f = file('o.yaml', 'app: app.js\n');
  const out = loadConfig({ file: f, env: { TSICORN_WORKERS: 'many' }, flags: [flag('/timeout', '-1', '--timeout')] });
  assert.ok(!out.ok);
  const where = out.issues.map((i) => [i.setting, i.origin]);
  assert.deepEqual(where, [
    ['workers', { kind: 'env', name: 'TSICORN_WORKERS' }],
    ['timeout', { kind: 'cli', flag: '--timeout' }],
  ]);
});

test('a whole-value ${VAR} takes the setting type; app on flags alone needs no file', () => {
  const f = file('i.yaml', 'app: app.js\nworkers: ${WEB_CONCURRENCY:-4}\nkeepalive: ${KA}\n');
  const s = settingsOf(loadConfig({ file: f, env: { KA: '7' } }));
  assert.equal(s.workers, 4);
  assert.equal(s.keepalive, 7);
  const noFile = settingsOf(loadConfig({ file: null, env: { TSICORN_APP: 'x.js' } }));
  assert.equal(noFile.app, 'x.js');
});

test('unknown TSICORN_* variables warn (with a hint); TSICORN__* is reserved and silent', () => {
  const f = file('w.yaml', 'app: app.js\n');
  const out = loadConfig({ file: f, env: { TSICORN_WORKER: '2', TSICORN__INTERNAL: 'x' } });
  assert.ok(out.ok);
  assert.equal(out.config.warnings.length, 1);
  assert.equal(out.config.warnings[0]?.hint, 'did you mean TSICORN_WORKERS?');
});

test('the result is deeply frozen and in schema order', () => {
  const f = file('z.yaml', 'workers: 1\napp: app.js\n');
  const s = settingsOf(loadConfig({ file: f, env: {} }));
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.log) && Object.isFrozen(s.bind));
  assert.deepEqual(Object.keys(s).slice(0, 3), ['app', 'interface', 'chdir']);
});
