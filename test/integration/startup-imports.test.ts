/**
 * `check-config` runs before every deploy, so it must start fast: its commands import their
 * modules lazily and it never loads what serving needs (pino, chokidar, prom-client, ...).
 * A wall-clock limit (cli.test.ts) only catches a very heavy import; this test names the packages
 * tsicorn's own code imports on the check-config path, so one eager import fails it at once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { runBounded } from '../helpers/run.js';
import { BIN, cleanEnv, tempDir } from '../helpers/server.js';

/** What parsing, validating and the command line need; nothing else may load. */
const ALLOWED = new Set(['ajv', 'commander', 'js-yaml']);
const MARK = 'TSICORN-TEST-IMPORT ';

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

test('check-config imports only ajv, commander and js-yaml (serving packages stay unloaded)', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t, {
    'server.yaml': 'app: app.js\nworkers: 2\n',
    'hooks.mjs': HOOKS,
    'register.mjs': "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n",
  });
  const register = pathToFileURL(join(dir, 'register.mjs')).href;
  const run = await runBounded(process.execPath, ['--import', register, BIN, 'check-config', 'server.yaml'], {
    cwd: dir,
    env: cleanEnv(),
    limitMs: 30_000,
  });
  assert.equal(run.code, 0, run.stderr);
  const imported = new Set(
    run.stderr
      .split('\n')
      .filter((line) => line.startsWith(MARK))
      .map((line) => line.slice(MARK.length)),
  );
  // The hook works (else the next assertion would pass on nothing).
  assert.ok(imported.has('js-yaml'), `the resolve hook saw no import of js-yaml: ${run.stderr}`);
  assert.deepEqual(
    [...imported].filter((name) => !ALLOWED.has(name)),
    [],
    'check-config imported a package it does not need: import it lazily where it is used',
  );
});
