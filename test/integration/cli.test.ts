import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, cleanEnv, ROOT, tempDir } from '../helpers/server.js';

const APPS = join(ROOT, 'test', 'fixtures', 'apps');

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(env), encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

const opts = { timeout: 30_000 };

test('check-config: a valid file prints one OK line and exits 0', opts, (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: app.js\nworkers: 2\n' });
  const r = run(['check-config', 'server.yaml'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'OK: server.yaml is valid (app app.js, workers 2, bind 127.0.0.1:8000)\n');
  assert.equal(r.stderr, '');
  assert.equal(run(['check-config'], dir).stdout, r.stdout, 'default ./server.yaml');
  assert.equal(run(['check-config', '-c', 'server.yaml'], dir).stdout, r.stdout, '-c FILE');
});

test('check-config: an invalid file prints FILE:LINE:COL errors and a count, exit 1', opts, (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: app.js\nwokers: 2\nlog:\n  level: loud\n' });
  const r = run(['check-config', 'server.yaml'], dir);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    [
      'server.yaml:2:1: wokers: unknown setting; did you mean `workers`?',
      'server.yaml:4:10: log.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "loud"',
      'tsicorn: 2 errors in server.yaml',
      '',
    ].join('\n'),
  );
});

test('check-config: a missing file or a directory exits 2 with TSI_ERR_CONFIG_READ', opts, (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'adir'));
  const missing = run(['check-config', 'nope.yaml'], dir);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^tsicorn: .*nope\.yaml.* \(TSI_ERR_CONFIG_READ\)\n$/);
  const directory = run(['check-config', 'adir'], dir);
  assert.equal(directory.code, 2);
  assert.match(directory.stderr, /adir.*\(TSI_ERR_CONFIG_READ\)/);
});

test('check-config --json: the result as JSON for CI', opts, (t) => {
  const dir = tempDir(t, { 'good.yaml': 'app: app.js\n', 'bad.yaml': 'app: app.js\nworkers: 0\n' });
  const good = run(['check-config', 'good.yaml', '--json'], dir);
  assert.equal(good.code, 0);
  assert.equal(JSON.parse(good.stdout).ok, true);
  const bad = run(['check-config', 'bad.yaml', '--json'], dir);
  assert.equal(bad.code, 1);
  const body = JSON.parse(bad.stdout);
  assert.equal(body.ok, false);
  assert.deepEqual(
    { code: body.errors[0].code, line: body.errors[0].line, column: body.errors[0].column, setting: body.errors[0].setting },
    { code: 'TSI_ERR_CONFIG_INVALID_VALUE', line: 2, column: 10, setting: 'workers' },
  );
});

test('check-config: YAML in a file with no extension and JSON are told apart by content', opts, (t) => {
  const dir = tempDir(t, { tmpXYZ123: 'app: app.js\nworkers: 3\n', 'conf.json': '{"app": "app.js", "workers": 4}' });
  assert.match(run(['check-config', 'tmpXYZ123'], dir).stdout, /workers 3/);
  assert.match(run(['check-config', 'conf.json'], dir).stdout, /workers 4/);
});

test('precedence: defaults < file < TSICORN_* < flags, and ${VAR} interpolation', opts, (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: app.js\nworkers: 2\nbind: 127.0.0.1:${PORT:-7000}\n' });
  const show = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    JSON.parse(run(['print-config', 'server.yaml', '--json', ...args], dir, env).stdout);
  assert.equal(show([]).workers, 2);
  assert.equal(show([]).keepalive, 5, 'defaults are filled in');
  assert.equal(show([], { TSICORN_WORKERS: '3' }).workers, 3);
  assert.equal(show(['--workers', '4'], { TSICORN_WORKERS: '3' }).workers, 4);
  assert.deepEqual(show([]).bind, ['127.0.0.1:7000']);
  assert.deepEqual(show([], { PORT: '9999' }).bind, ['127.0.0.1:9999']);
});

test('an unknown TSICORN_ variable is a warning, not an error', opts, (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: app.js\n' });
  const r = run(['check-config'], dir, { TSICORN_WOKERS: '3' });
  assert.equal(r.code, 0);
  assert.match(r.stderr, /TSICORN_WOKERS.*warning/);
});

test('print-config prints YAML with every default', opts, (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: app.js\n' });
  const r = run(['print-config'], dir);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^app: app\.js$/m);
  assert.match(r.stdout, /^graceful_timeout: 30$/m);
  assert.match(r.stdout, /^ {2}level: info$/m);
});

test('schema prints the draft-07 JSON Schema', opts, (t) => {
  const schema = JSON.parse(run(['schema'], tempDir(t)).stdout);
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  assert.ok(schema.properties.workers);
});

test('init writes a server.yaml that passes check-config, and will not overwrite it', opts, (t) => {
  const dir = tempDir(t);
  const first = run(['init', '--app', 'web.js'], dir);
  assert.equal(first.code, 0, first.stderr);
  const text = readFileSync(join(dir, 'server.yaml'), 'utf8');
  assert.match(text, /^# yaml-language-server: \$schema=.*server\.schema\.json$/m);
  assert.match(text, /^app: web\.js$/m);
  assert.equal(run(['check-config'], dir).code, 0);
  const again = run(['init'], dir);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /TSI_ERR_INIT_EXISTS/);
  assert.equal(run(['init', '--force'], dir).code, 0);
  assert.ok(existsSync(join(dir, 'server.yaml')));
});

test('--help lists every command; a command’s --help lists its setting flags; --version', opts, (t) => {
  const dir = tempDir(t);
  const help = run(['--help'], dir);
  assert.equal(help.code, 0);
  for (const command of ['serve', 'check-config', 'print-config', 'schema', 'init', 'reload', 'upgrade', 'reopen-logs']) {
    assert.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'), command);
  }
  const checkHelp = run(['check-config', '--help'], dir);
  assert.match(checkHelp.stdout, /-w, --workers <int>/);
  assert.match(checkHelp.stdout, /--log-level <level>/);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(run(['--version'], dir).stdout.trim(), pkg.version);
});

test('an unknown flag is a usage error: exit 64', opts, (t) => {
  const r = run(['check-config', '--no-such-flag'], tempDir(t));
  assert.equal(r.code, 64);
  assert.match(r.stderr, /unknown option '--no-such-flag'/);
});

const probes = [
  { app: 'fetch-handler.mjs', iface: 'fetch' },
  { app: 'listener.cjs', iface: 'node' },
  { app: 'koa-style.mjs', iface: 'koa' },
  { app: 'factory.mjs:create()', iface: 'node' },
  { app: 'keeps-timer.mjs', iface: 'node' },
];
for (const { app, iface } of probes) {
  test(`check-config --app imports ${app} in a throw-away process: ${iface}`, opts, (t) => {
    const dir = tempDir(t, { 'server.yaml': `app: "${app}"\nchdir: ${APPS}\n` });
    const r = run(['check-config', '--app', '--json'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).app.interface, iface);
  });
}

test('check-config --app: an app that throws at import or has no such export fails with its error', opts, (t) => {
  const dir = tempDir(t, {
    'throws.yaml': `app: throws.mjs\nchdir: ${APPS}\n`,
    'noexport.yaml': `app: not-an-app.mjs:handler\nchdir: ${APPS}\n`,
    'notapp.yaml': `app: not-an-app.mjs\nchdir: ${APPS}\n`,
  });
  const throws = run(['check-config', 'throws.yaml', '--app'], dir);
  assert.equal(throws.code, 1);
  assert.match(
    throws.stderr,
    /^throws\.yaml: app throws\.mjs does not load: the app is broken at import\nError: the app is broken at import\n {4}at .*throws\.mjs:1/,
  );
  const noExport = run(['check-config', 'noexport.yaml', '--app'], dir);
  assert.equal(noExport.code, 1);
  assert.match(noExport.stderr, /has no export named handler; it exports answer/);
  const notApp = run(['check-config', 'notapp.yaml', '--app'], dir);
  assert.equal(notApp.code, 1);
  assert.match(notApp.stderr, /it exports answer/);
});

test('check-config starts fast (a generous bound that catches an accidental heavy import)', opts, (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: app.js\n' });
  const times = [0, 1, 2].map(() => run(['check-config'], dir).ms).sort((a, b) => a - b);
  t.diagnostic(`check-config wall time, median of 3: ${times[1]} ms`);
  assert.ok((times[1] ?? 0) < 2000);
});
