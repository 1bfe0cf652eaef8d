/**
 * The CLI as users and scripts see it: the real `bin/tsicorn` run as a child process, each test in
 * a fresh temp directory with an environment stripped of TSICORN_* variables, asserting exit codes
 * and the exact output that CI gates, Ansible's `validate:` and editors rely on.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { load as parseYaml } from 'js-yaml';
import { type RunResult, runBounded } from '../helpers/run.js';
import { BIN, cleanEnv, FIXTURE_APPS, ROOT, tempDir } from '../helpers/server.js';

const RUN_LIMIT_MS = 15_000;

/**
 * Runs `node bin/tsicorn ARGS` in `cwd` with the machine's environment minus TSICORN_* (plus `env`),
 * bounded by RUN_LIMIT_MS. Tests await one run at a time: `npm test` runs the reload and load tests
 * beside this file.
 */
function run(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return runBounded(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(env), limitMs: RUN_LIMIT_MS });
}

/** Every test is bounded: a hung CLI fails its test, never the run. */
// Generous: the suite runs files in parallel on a 2-core machine, and each case spawns several CLIs.
const bounded = { timeout: 60_000 };

const VALID = 'app: app.js\nworkers: 2\n';
const OK_LINE = 'OK: server.yaml is valid (app app.js, workers 2, bind 127.0.0.1:8000)\n';

/** A config that probes one of the fixture apps (chdir points at test/fixtures/apps). */
const probeConfig = (app: string, extra = '') => `app: "${app}"\nchdir: ${JSON.stringify(FIXTURE_APPS)}\n${extra}`;

// ---------------------------------------------------------------------------------------------
// check-config: text output and exit codes
// ---------------------------------------------------------------------------------------------

test('check-config: a valid file prints one OK line on stdout and exits 0', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': VALID });
  const r = await run(['check-config', 'server.yaml'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, OK_LINE);
  assert.equal(r.stderr, '');
});

test('check-config: `-c FILE`, the positional FILE and the default ./server.yaml give the same result', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': VALID, 'conf/other.yaml': 'app: other.js\nworkers: 5\n' });
  const positional = await run(['check-config', 'server.yaml'], dir);
  const dashC = await run(['check-config', '-c', 'server.yaml'], dir);
  const byDefault = await run(['check-config'], dir);
  for (const r of [positional, dashC, byDefault]) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, OK_LINE);
  }
  const longForm = await run(['check-config', '--config', 'conf/other.yaml'], dir);
  const otherPositional = await run(['check-config', 'conf/other.yaml'], dir);
  assert.equal(longForm.code, 0, longForm.stderr);
  assert.equal(longForm.stdout, 'OK: conf/other.yaml is valid (app other.js, workers 5, bind 127.0.0.1:8000)\n');
  assert.equal(otherPositional.stdout, longForm.stdout);
});

test('check-config: the default ./server.yaml is looked up in the working directory', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': VALID, 'elsewhere/server.yaml': 'app: elsewhere.js\n' });
  const here = await run(['check-config'], dir);
  assert.equal(here.stdout, OK_LINE);
  const there = await run(['check-config'], join(dir, 'elsewhere'));
  assert.equal(there.code, 0, there.stderr);
  assert.match(there.stdout, /^OK: server\.yaml is valid \(app elsewhere\.js, /);
});

test('check-config: an invalid file prints FILE:LINE:COL errors with hints and a count, exit 1', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: app.js\nwokers: 2\nlog:\n  level: loud\n' });
  const r = await run(['check-config', 'server.yaml'], dir);
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

test('check-config: one error is counted in the singular and names the file as given', bounded, async (t) => {
  const dir = tempDir(t, { 'conf/web.yaml': 'app: app.js\nworkers: 0\n' });
  const r = await run(['check-config', 'conf/web.yaml'], dir);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0] ?? '', /^conf\/web\.yaml:2:10: workers: expected an integer from 1 to 1024 or "auto", got 0$/);
  assert.equal(lines[1], 'tsicorn: 1 error in conf/web.yaml');
});

test('check-config: a syntax error in YAML is reported at its position, exit 1', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: app.js\nworkers: 2\nworkers: 3\n' });
  const r = await run(['check-config'], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^server\.yaml:3:1: `workers` is given twice in the same mapping \(first on line 2\); keep one of them\n/);
  assert.match(r.stderr, /\ntsicorn: 1 error in server\.yaml\n$/);
});

test('check-config: a missing file exits 2, names the file and TSI_ERR_CONFIG_READ', bounded, async (t) => {
  const dir = tempDir(t);
  const r = await run(['check-config', 'nope.yaml'], dir);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'tsicorn: cannot read config file nope.yaml: no such file (TSI_ERR_CONFIG_READ)\n');
});

test('check-config: with no FILE and no ./server.yaml it exits 2 naming server.yaml', bounded, async (t) => {
  const r = await run(['check-config'], tempDir(t));
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'tsicorn: cannot read config file server.yaml: no such file (TSI_ERR_CONFIG_READ)\n');
});

test('check-config: a directory given as the file exits 2', bounded, async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'adir'));
  const r = await run(['check-config', 'adir'], dir);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'tsicorn: cannot read config file adir: it is a directory (TSI_ERR_CONFIG_READ)\n');
});

test('check-config: YAML in a file with no extension and JSON are told apart by content', bounded, async (t) => {
  const dir = tempDir(t, {
    tmpXYZ123: 'app: app.js\nworkers: 3\n',
    'conf.json': '{\n  "app": "app.js",\n  "workers": 4\n}\n',
    'trailing-comma.json': '{\n  "app": "app.js",\n  "workers": 4,\n}\n',
  });
  const yamlNoExt = await run(['check-config', 'tmpXYZ123'], dir);
  const json = await run(['check-config', 'conf.json'], dir);
  const badJson = await run(['check-config', 'trailing-comma.json'], dir);
  assert.equal(yamlNoExt.code, 0, yamlNoExt.stderr);
  assert.equal(yamlNoExt.stdout, 'OK: tmpXYZ123 is valid (app app.js, workers 3, bind 127.0.0.1:8000)\n');
  assert.equal(json.code, 0, json.stderr);
  assert.equal(json.stdout, 'OK: conf.json is valid (app app.js, workers 4, bind 127.0.0.1:8000)\n');
  assert.equal(badJson.code, 1);
  assert.match(badJson.stderr, /^trailing-comma\.json:\d+:\d+: invalid JSON: .*; JSON allows no comma after the last item\n/);
  assert.match(badJson.stderr, /\ntsicorn: 1 error in trailing-comma\.json\n$/);
});

// ---------------------------------------------------------------------------------------------
// check-config --json
// ---------------------------------------------------------------------------------------------

test('check-config --json: a valid file gives {ok: true} on stdout, exit 0', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': VALID });
  const r = await run(['check-config', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual(JSON.parse(r.stdout), { ok: true, file: 'server.yaml', app: null, warnings: [] });
});

test('check-config --json: an invalid file lists its errors with code, line and column, exit 1', bounded, async (t) => {
  const dir = tempDir(t, { 'bad.yaml': 'app: app.js\nwokers: 2\nworkers: 0\n' });
  const r = await run(['check-config', 'bad.yaml', '--json'], dir);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, '', 'with --json nothing is printed to stderr');
  const body = JSON.parse(r.stdout);
  assert.equal(body.ok, false);
  assert.equal(body.file, 'bad.yaml');
  assert.deepEqual(body.warnings, []);
  assert.deepEqual(
    body.errors.map((e: Record<string, unknown>) => ({
      code: e.code,
      severity: e.severity,
      file: e.file,
      line: e.line,
      column: e.column,
      source: e.source,
      setting: e.setting,
      hint: e.hint,
    })),
    [
      {
        code: 'TSI_ERR_CONFIG_UNKNOWN_SETTING',
        severity: 'error',
        file: 'bad.yaml',
        line: 2,
        column: 1,
        source: 'file',
        setting: 'wokers',
        hint: 'did you mean `workers`?',
      },
      {
        code: 'TSI_ERR_CONFIG_INVALID_VALUE',
        severity: 'error',
        file: 'bad.yaml',
        line: 3,
        column: 10,
        source: 'file',
        setting: 'workers',
        hint: null,
      },
    ],
  );
  assert.equal(body.errors[0].message, 'unknown setting');
});

test('check-config --json: an unreadable file gives {ok: false, error: {code}} on stdout, exit 2', bounded, async (t) => {
  const r = await run(['check-config', 'nope.yaml', '--json'], tempDir(t));
  assert.equal(r.code, 2);
  assert.equal(r.stderr, '');
  assert.deepEqual(JSON.parse(r.stdout), {
    ok: false,
    file: 'nope.yaml',
    error: { code: 'TSI_ERR_CONFIG_READ', message: 'cannot read config file nope.yaml: no such file' },
  });
});

// ---------------------------------------------------------------------------------------------
// Layers: defaults < file < TSICORN_* < flags, and ${VAR}
// ---------------------------------------------------------------------------------------------

test('precedence: the file says workers 2, TSICORN_WORKERS=3 gives 3, --workers 4 gives 4', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': VALID });
  const show = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await run(['print-config', 'server.yaml', '--json', ...args], dir, env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const file = await show([]);
  const fromEnv = await show([], { TSICORN_WORKERS: '3' });
  const fromFlag = await show(['--workers', '4'], { TSICORN_WORKERS: '3' });
  const fromShortFlag = await show(['-w', '4'], { TSICORN_WORKERS: '3' });
  assert.equal(file.workers, 2);
  assert.equal(file.keepalive, 5, 'defaults fill in what the file leaves out');
  assert.equal(fromEnv.workers, 3);
  assert.equal(fromFlag.workers, 4);
  assert.equal(fromShortFlag.workers, 4);
});

test('precedence: a bad value from the environment or a flag is blamed on its origin', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': VALID });
  const env = await run(['check-config'], dir, { TSICORN_WORKERS: 'many' });
  const flag = await run(['check-config', '--workers', '0'], dir);
  assert.equal(env.code, 1);
  assert.match(env.stderr, /^environment TSICORN_WORKERS: workers: expected an integer from 1 to 1024 or "auto", got "many"\n/);
  assert.equal(flag.code, 1);
  assert.match(flag.stderr, /^command line --workers: workers: expected an integer from 1 to 1024 or "auto", got 0\n/);
  assert.match(flag.stderr, /\ntsicorn: 1 error in server\.yaml\n$/);
});

test('an unknown TSICORN_ variable is a warning on stderr, not an error: exit 0', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': VALID });
  const text = await run(['check-config'], dir, { TSICORN_WOKERS: '3' });
  const json = await run(['check-config', '--json'], dir, { TSICORN_WOKERS: '3' });
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout, OK_LINE, 'the variable is ignored: workers stays 2');
  assert.equal(text.stderr, 'environment TSICORN_WOKERS: warning: names no setting and is ignored\n');
  assert.equal(json.code, 0);
  const body = JSON.parse(json.stdout);
  assert.equal(body.ok, true);
  assert.deepEqual(
    body.warnings.map((w: Record<string, unknown>) => [w.code, w.severity, w.source]),
    [['TSI_WARN_CONFIG_UNKNOWN_ENV', 'warning', 'env:TSICORN_WOKERS']],
  );
});

test('${VAR} in the file is filled from the environment, with :-defaults and typed values', bounded, async (t) => {
  const dir = tempDir(t, {
    'server.yaml': 'app: ${APP_MODULE:-app.js}\nworkers: ${W}\nbind: "127.0.0.1:${PORT:-7000}"\nenv:\n  LITERAL: "$${NOT_A_VAR}"\n',
  });
  const show = async (env: NodeJS.ProcessEnv) => {
    const r = await run(['print-config', '--json'], dir, env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const defaults = await show({ W: '3' });
  const set = await show({ W: '5', PORT: '9999', APP_MODULE: 'web.mjs' });
  assert.equal(defaults.app, 'app.js');
  assert.equal(defaults.workers, 3, 'a whole-value ${W} becomes an integer');
  assert.deepEqual(defaults.bind, ['127.0.0.1:7000']);
  assert.deepEqual(defaults.env, { LITERAL: '${NOT_A_VAR}' }, '$${ writes a literal ${');
  assert.equal(set.app, 'web.mjs');
  assert.equal(set.workers, 5);
  assert.deepEqual(set.bind, ['127.0.0.1:9999']);

  const unset = await run(['check-config'], dir);
  assert.equal(unset.code, 1);
  assert.equal(
    unset.stderr,
    'server.yaml:2:10: workers: environment variable W is not set; set it, or give a default: ${W:-value}\ntsicorn: 1 error in server.yaml\n',
  );
});

// ---------------------------------------------------------------------------------------------
// print-config, schema, init
// ---------------------------------------------------------------------------------------------

test('print-config prints YAML that parses, holds every default, and equals the --json output', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: app.js\n' });
  const yaml = await run(['print-config'], dir);
  const json = await run(['print-config', '--json'], dir);
  assert.equal(yaml.code, 0, yaml.stderr);
  assert.equal(yaml.stderr, '');
  const parsed = parseYaml(yaml.stdout) as Record<string, unknown>;
  assert.equal(parsed.app, 'app.js');
  assert.equal(parsed.workers, 'auto');
  assert.deepEqual(parsed.bind, ['127.0.0.1:8000']);
  assert.equal(parsed.graceful_timeout, 30);
  assert.equal((parsed.log as Record<string, unknown>).level, 'info');
  assert.deepEqual(parsed, JSON.parse(json.stdout));
});

test('print-config of an invalid file prints its errors and nothing on stdout, exit 1', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: app.js\nwokers: 2\n' });
  const r = await run(['print-config'], dir);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'server.yaml:2:1: wokers: unknown setting; did you mean `workers`?\ntsicorn: 1 error in server.yaml\n');
});

test('schema prints the draft-07 JSON Schema of server.yaml', bounded, async (t) => {
  const r = await run(['schema'], tempDir(t));
  assert.equal(r.code, 0, r.stderr);
  const schema = JSON.parse(r.stdout);
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  assert.ok(schema.properties.workers, 'properties.workers');
  assert.equal(r.stdout, readFileSync(join(ROOT, 'schemas', 'server.schema.json'), 'utf8'), 'the shipped schema file, byte for byte');
});

test('init writes a commented server.yaml with a schema modeline that passes check-config', bounded, async (t) => {
  const dir = tempDir(t);
  const r = await run(['init', '--app', 'web.js'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'wrote server.yaml; check it with: tsicorn check-config server.yaml\n');
  const text = readFileSync(join(dir, 'server.yaml'), 'utf8');
  const modeline = /^# yaml-language-server: \$schema=(\S+)\n/.exec(text);
  assert.ok(modeline, 'the first line is the yaml-language-server modeline');
  assert.equal(resolve(dir, modeline[1] ?? ''), join(ROOT, 'schemas', 'server.schema.json'), 'the modeline points at the schema');
  assert.match(text, /^app: web\.js$/m);
  assert.match(text, /^# graceful_timeout: 30$/m, 'other settings are listed, commented, with their default');
  const check = await run(['check-config'], dir);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /^OK: server\.yaml is valid \(app web\.js, /);
});

test('init refuses to overwrite an existing file (exit 1) and overwrites it with --force', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': 'app: mine.js\n' });
  const refused = await run(['init'], dir);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, '');
  assert.equal(refused.stderr, 'tsicorn: server.yaml already exists; use --force to overwrite it (TSI_ERR_INIT_EXISTS)\n');
  assert.equal(readFileSync(join(dir, 'server.yaml'), 'utf8'), 'app: mine.js\n', 'the file is untouched');

  const forced = await run(['init', '--force'], dir);
  assert.equal(forced.code, 0, forced.stderr);
  const text = readFileSync(join(dir, 'server.yaml'), 'utf8');
  assert.match(text, /^# yaml-language-server: \$schema=/);
  assert.match(text, /^app: app\.js$/m, '--app defaults to app.js');
  assert.equal((await run(['check-config'], dir)).code, 0);
});

test('init FILE writes to that path, creating its directory', bounded, async (t) => {
  const dir = tempDir(t);
  const r = await run(['init', 'deploy/web.yaml', '--app', 'server.mjs'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'wrote deploy/web.yaml; check it with: tsicorn check-config deploy/web.yaml\n');
  const text = readFileSync(join(dir, 'deploy', 'web.yaml'), 'utf8');
  const ref = /^# yaml-language-server: \$schema=(\S+)/.exec(text)?.[1] ?? '';
  assert.equal(resolve(dir, 'deploy', ref), join(ROOT, 'schemas', 'server.schema.json'), 'relative to the file, not the cwd');
  const check = await run(['check-config', 'deploy/web.yaml'], dir);
  assert.equal(check.code, 0, check.stderr);
});

// ---------------------------------------------------------------------------------------------
// Help, version, usage errors
// ---------------------------------------------------------------------------------------------

test('--help lists every command, exit 0', bounded, async (t) => {
  const r = await run(['--help'], tempDir(t));
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^Usage: tsicorn /);
  for (const command of ['serve', 'check-config', 'print-config', 'reload', 'upgrade', 'reopen-logs', 'schema', 'init', 'help']) {
    assert.match(r.stdout, new RegExp(`^  ${command}\\b`, 'm'), command);
  }
});

test('check-config --help lists its own options and the setting flags', bounded, async (t) => {
  const r = await run(['check-config', '--help'], tempDir(t));
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^Usage: tsicorn check-config \[options\] \[file\]$/m);
  for (const flag of [/-c, --config <file>/, /--json/, /--app/, /-w, --workers <int>/, /-b, --bind <address>/, /--log-level <level>/]) {
    assert.match(r.stdout, flag);
  }
  assert.match(r.stdout, /Settings \(override the config file and TSICORN_\* variables\):/);
  assert.match(r.stdout, /\[workers; default "auto"; env\s+TSICORN_WORKERS\]/, 'each setting flag names its environment variable');
});

test('--version and -v print the version in package.json', bounded, async (t) => {
  const dir = tempDir(t);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-v']) {
    const r = await run([flag], dir);
    assert.equal(r.code, 0, flag);
    assert.equal(r.stdout, `${pkg.version}\n`, flag);
  }
});

test('an unknown flag or an extra argument is a usage error: exit 64', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': VALID });
  const sub = await run(['check-config', '--no-such-flag'], dir);
  const top = await run(['--no-such-flag'], dir);
  const extra = await run(['check-config', 'a.yaml', 'b.yaml'], dir);
  assert.equal(sub.code, 64);
  assert.equal(sub.stdout, '');
  assert.equal(sub.stderr, "error: unknown option '--no-such-flag'\n(run with --help for usage)\n");
  assert.equal(top.code, 64);
  assert.match(top.stderr, /unknown option '--no-such-flag'/);
  assert.equal(extra.code, 64);
  assert.match(extra.stderr, /too many arguments for 'check-config'/);
});

// ---------------------------------------------------------------------------------------------
// check-config --app: the app imported in a throw-away process
// ---------------------------------------------------------------------------------------------

const loadable = [
  { app: 'fetch-handler.mjs', iface: 'fetch', describe: 'a fetch handler (object with fetch())' },
  { app: 'listener.cjs', iface: 'node', describe: 'a Node request listener' },
  { app: 'koa-style.mjs', iface: 'koa', describe: 'a Koa-style app (callback())' },
  { app: 'factory.mjs:create()', iface: 'node', describe: 'a Node request listener' },
];
for (const { app, iface, describe } of loadable) {
  test(`check-config --app: ${app} loads as ${iface}`, bounded, async (t) => {
    const dir = tempDir(t, { 'server.yaml': probeConfig(app) });
    const text = await run(['check-config', '--app'], dir);
    const json = await run(['check-config', '--app', '--json'], dir);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, `OK: server.yaml is valid (app ${app}, workers auto, bind 127.0.0.1:8000); app loads as ${describe}\n`);
    assert.equal(text.stderr, '');
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { ok: true, file: 'server.yaml', app: { interface: iface, describe }, warnings: [] });
  });
}

test('check-config --app: an app that keeps a setInterval open still finishes promptly', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': probeConfig('keeps-timer.mjs') });
  const r = await run(['check-config', '--app', '--json'], dir);
  t.diagnostic(`check-config --app with an open interval: ${r.ms} ms`);
  assert.equal(r.timedOut, false, 'the CLI or its probe child was still running after 15 s');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.signal, null);
  assert.equal(JSON.parse(r.stdout).app.interface, 'node');
  // boot_timeout is 30 s: finishing well inside 10 s means the probe exited on its own, and 'close'
  // means no leftover process kept the pipes open.
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
});

test('check-config --app: an app that throws at import fails with its message and stack, exit 1', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': probeConfig('throws.mjs') });
  const text = await run(['check-config', '--app'], dir);
  const json = await run(['check-config', '--app', '--json'], dir);
  assert.equal(text.code, 1);
  assert.equal(text.stdout, '');
  assert.match(
    text.stderr,
    /^server\.yaml: app throws\.mjs does not load: the app is broken at import\nError: the app is broken at import\n {4}at .*throws\.mjs:1:\d+\n/,
  );

  assert.equal(json.code, 1);
  const body = JSON.parse(json.stdout);
  assert.equal(body.ok, false);
  assert.equal(body.file, 'server.yaml');
  assert.equal(body.errors.length, 1);
  const [error] = body.errors;
  assert.equal(error.code, 'TSI_ERR_APP_PROBE');
  assert.equal(error.app, 'throws.mjs');
  assert.equal(error.message, 'the app is broken at import');
  assert.match(error.stack, /^Error: the app is broken at import\n {4}at .*throws\.mjs:1:\d+/);
});

test('check-config --app: a module with no matching export names what it does export, exit 1', bounded, async (t) => {
  const dir = tempDir(t, {
    'named.yaml': probeConfig('not-an-app.mjs:handler'),
    'default.yaml': probeConfig('not-an-app.mjs'),
  });
  const named = await run(['check-config', 'named.yaml', '--app'], dir);
  const byDefault = await run(['check-config', 'default.yaml', '--app'], dir);
  const json = await run(['check-config', 'named.yaml', '--app', '--json'], dir);
  const module = join(FIXTURE_APPS, 'not-an-app.mjs');
  assert.equal(named.code, 1);
  assert.equal(named.stdout, '');
  assert.equal(
    named.stderr,
    `named.yaml: app not-an-app.mjs:handler does not load: ${module} has no export named handler; it exports answer\n`,
    'a problem with the app spec has no stack',
  );
  assert.equal(byDefault.code, 1);
  assert.equal(
    byDefault.stderr,
    `default.yaml: app not-an-app.mjs does not load: ${module} has no export named default; it exports answer\n`,
  );
  assert.equal(json.code, 1);
  const [error] = JSON.parse(json.stdout).errors;
  assert.equal(error.code, 'TSI_ERR_APP_PROBE');
  assert.equal(error.message, `${module} has no export named handler; it exports answer`);
  assert.equal(error.stack, undefined);
});

test('check-config --app --json: what the app prints at import goes to stderr, stdout stays JSON', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': probeConfig('logs-at-import.mjs') });
  const r = await run(['check-config', '--app', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).app.interface, 'fetch');
  assert.equal(r.stderr, 'hello from the app at import\n');
});

test('check-config --app: an app that never finishes loading is given up at boot_timeout', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': probeConfig('hangs-at-import.mjs', 'boot_timeout: 1\n') });
  const r = await run(['check-config', '--app'], dir);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'server.yaml: app hangs-at-import.mjs does not load: the app did not finish loading within 1 s (boot_timeout)\n');
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
});

test('check-config --app resolves the app against the config file’s directory, not the cwd', bounded, async (t) => {
  const dir = tempDir(t, { 'site/server.yaml': 'app: listener.cjs\n' });
  writeFileSync(join(dir, 'site', 'listener.cjs'), readFileSync(join(FIXTURE_APPS, 'listener.cjs')));
  const r = await run(['check-config', 'site/server.yaml', '--app'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    'OK: site/server.yaml is valid (app listener.cjs, workers auto, bind 127.0.0.1:8000); app loads as a Node request listener\n',
  );
});

// ---------------------------------------------------------------------------------------------
// Start-up time
// ---------------------------------------------------------------------------------------------

test('check-config of a small file starts fast (under 2 s: catches an accidental heavy import)', bounded, async (t) => {
  const dir = tempDir(t, { 'server.yaml': VALID });
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await run(['check-config'], dir);
    assert.equal(r.code, 0, r.stderr);
    times.push(r.ms);
  }
  // The fastest of three: a heavy import slows every run, while a busy machine (the suite runs
  // files in parallel on 2 cores) only slows some.
  const fastest = Math.min(...times);
  t.diagnostic(`check-config wall time: ${times.join(', ')} ms (fastest ${fastest} ms)`);
  assert.ok(fastest < 2000, `fastest of 3 runs took ${fastest} ms`);
});
