/**
 * `check-config` runs before every deploy, so it must start fast: its commands import their
 * modules lazily and it never loads what serving needs (pino, chokidar, prom-client, ...).
 * A wall-clock limit (cli.test.ts) only catches a very heavy import; this test names the packages
 * tsicorn's own code imports on the check-config path, so one eager import fails it at once, and
 * checks that of ajv only the runtime helpers of the generated validator load, not the compiler.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { makeCerts } from '../helpers/certs.js';
import { runBounded } from '../helpers/run.js';
import { BIN, cleanEnv, FIXTURE_APPS, serverYaml, startServer, tempDir } from '../helpers/server.js';

/** What parsing, validating and the command line need; nothing else may load. */
const ALLOWED = new Set(['ajv', 'commander', 'js-yaml']);
const MARK = 'TSICORN-TEST-IMPORT ';
const LOADED = 'TSICORN-TEST-LOADED ';

/**
 * A module resolve hook (module.register) that reports every package imported by a module under
 * dist/src/, i.e. by tsicorn itself (a package's own dependencies are its business).
 */
const HOOKS = `
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  const parent = context.parentURL ?? '';
  const pkg = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(result.url);
  if (pkg && parent.includes('/dist/src/')) process.stderr.write(${JSON.stringify(MARK)} + pkg[1] + '\\n');
  return result;
}
`;

/**
 * At exit, every CommonJS file loaded from node_modules (ajv and commander are CommonJS; what they
 * require() is invisible to the resolve hook, but all of it lands in require.cache).
 */
const REGISTER = `
import { createRequire, register } from 'node:module';
register('./hooks.mjs', import.meta.url);
const { cache } = createRequire(import.meta.url);
process.on('exit', () => {
  for (const file of Object.keys(cache)) if (file.includes('/node_modules/')) process.stderr.write(${JSON.stringify(LOADED)} + file + '\\n');
});
`;

/** Runs check-config on `yaml` under the hook; returns the lines each mark introduced. */
async function checkConfig(t: TestContext, yaml: string): Promise<{ imported: string[]; loaded: string[]; stderr: string }> {
  const dir = tempDir(t, { 'server.yaml': yaml, 'hooks.mjs': HOOKS, 'register.mjs': REGISTER });
  const register = pathToFileURL(join(dir, 'register.mjs')).href;
  const run = await runBounded(process.execPath, ['--import', register, BIN, 'check-config', 'server.yaml'], {
    cwd: dir,
    env: cleanEnv(),
    limitMs: 30_000,
  });
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stderr.split('\n');
  const marked = (mark: string) => lines.filter((line) => line.startsWith(mark)).map((line) => line.slice(mark.length));
  return { imported: marked(MARK), loaded: marked(LOADED), stderr: run.stderr };
}

test('check-config imports only ajv, commander and js-yaml (serving packages stay unloaded)', { timeout: 60_000 }, async (t) => {
  const run = await checkConfig(t, 'app: app.js\nworkers: 2\n');
  const imported = new Set(run.imported);
  // The hook works (else the next assertion would pass on nothing).
  assert.ok(imported.has('js-yaml'), `the resolve hook saw no import of js-yaml: ${run.stderr}`);
  assert.deepEqual(
    [...imported].filter((name) => !ALLOWED.has(name)),
    [],
    'check-config imported a package it does not need: import it lazily where it is used',
  );
});

test('check-config loads ajv runtime helpers only, never its compiler', { timeout: 60_000 }, async (t) => {
  const run = await checkConfig(t, 'app: app.js\nbind: ":8000"\n');
  // The listing works (else the next assertions would pass on nothing).
  assert.ok(
    run.loaded.some((file) => file.includes('/node_modules/commander/')),
    `no CommonJS file listed: ${run.stderr}`,
  );
  const ajv = run.loaded.filter((file) => file.includes('/node_modules/ajv/'));
  assert.ok(ajv.length > 0, `the generated validator imports ajv/dist/runtime/ucs2length (minLength): ${run.stderr}`);
  assert.deepEqual(
    ajv.filter((file) => !file.includes('/node_modules/ajv/dist/runtime/')),
    [],
    'ajv/dist/core, ajv/dist/compile or another part of ajv was loaded: validate with src/config/validator.generated.ts',
  );
});

/**
 * A resolve hook reporting what tsicorn's modules import, with the process id: a Node built-in as
 * `node:x`, one of tsicorn's modules as `log/x.js` or, in the worker bundle (dist/worker/, see
 * scripts/bundle-worker.mjs), as the file's name without its hash (`access-format`), and anything
 * else (the app) as its file name.
 */
const MODULE_HOOKS = `
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  const parent = context.parentURL ?? '';
  if (parent.includes('/dist/src/') || parent.includes('/dist/worker/')) {
    const url = result.url;
    const name = url.startsWith('node:')
      ? url
      : url.includes('/dist/src/')
        ? url.split('/dist/src/')[1]
        : url.includes('/dist/worker/')
          ? url.split('/dist/worker/')[1].replace(/-[A-Z0-9]{8}\\.js$/, '')
          : url.split('/').pop();
    process.stderr.write(${JSON.stringify(MARK)} + process.pid + ' ' + name + '\\n');
  }
  return result;
}
`;

/**
 * The built-ins and own modules the (one) worker of a server with `extra` settings imported, once
 * `expected` are among them: the hooks run on their own thread, so their lines may reach stderr
 * after the worker's 'ready' (waiting on 'ready' alone missed node:https now and then under load).
 */
async function workerModules(
  t: TestContext,
  extra: Record<string, unknown>,
  files: Record<string, string>,
  expected: string[],
): Promise<Set<string>> {
  const dir = tempDir(t, {
    ...files,
    'hooks.mjs': MODULE_HOOKS,
    'register.mjs': "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n",
  });
  writeFileSync(join(dir, 'server.yaml'), serverYaml(join(FIXTURE_APPS, 'listener.cjs'), { workers: 1, ...extra }));
  // Workers are forked with the master's execArgv and environment: the hook runs in them too.
  const running = await startServer(t, { cwd: dir, env: { NODE_OPTIONS: `--import=${pathToFileURL(join(dir, 'register.mjs')).href}` } });
  const [worker] = running.workerPids();
  const prefix = `${MARK}${worker} `;
  const seen = () => new Set(running.stderrText.filter((line) => line.startsWith(prefix)).map((line) => line.slice(prefix.length)));
  await running
    .waitFor(`the worker's imports of ${expected.join(', ')}`, () => expected.every((name) => seen().has(name)))
    .catch((err: Error) => {
      throw new Error(`${err.message}; seen: ${[...seen()]}`);
    });
  return seen();
}

test('a worker imports node:https, node:tls and node:http2 only for listeners that serve them', {
  timeout: 60_000,
  skip: spawnSync('openssl', ['version']).error !== undefined && 'needs openssl',
}, async (t) => {
  // Each takes milliseconds of every worker's boot, on the path of every start and rotation.
  const plain = await workerModules(t, {}, {}, ['node:http']);
  assert.ok(plain.has('node:http'), `the hook saw no import of node:http: ${[...plain]}`);
  for (const name of ['node:https', 'node:tls', 'node:http2']) assert.ok(!plain.has(name), `a plain HTTP/1 worker imported ${name}`);

  const dir = tempDir(t);
  const certs = makeCerts(dir, ['server']);
  const pem = (file: string) => readFileSync(file, 'utf8');
  const tls = await workerModules(
    t,
    { tls: { certfile: 'server.pem', keyfile: 'server.key' } },
    { 'server.pem': pem(certs.cert('server')), 'server.key': pem(certs.key('server')) },
    ['node:https', 'node:tls'],
  );
  assert.ok(tls.has('node:https') && tls.has('node:tls'), `a TLS worker imported ${[...tls]}`);
  assert.ok(!tls.has('node:http2'), 'an HTTP/1 worker with TLS imported node:http2');
});

test('a worker loads the access log formatters and the metrics recorder only when they are on', { timeout: 60_000 }, async (t) => {
  // Both are off by default; their nine modules took ~4 ms of every worker's boot (bench/RESULTS.md).
  // The bundle's files for them (StatsD is in the recorder's); the app is imported after both.
  const lazy = ['access-format', 'access-bytes', 'worker-metrics'];
  const plain = await workerModules(t, {}, {}, ['main', 'listener.cjs']);
  for (const name of lazy) assert.ok(!plain.has(name), `a worker with the access log and metrics off imported ${name}`);
  // Loaded once asked for: workerModules fails the test unless the worker imports all three.
  // StatsD goes to a port on loopback nobody reads.
  await workerModules(t, { log: { accesslog: 'access.log' }, statsd: { host: '127.0.0.1:9' } }, {}, lazy);
});
