import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatIssue } from '../../src/config/issue.js';
import { loadConfig } from '../../src/config/load.js';
import { TsicornError } from '../../src/errors.js';

/**
 * Golden files: each config under fixtures/configs/valid has its resolved settings beside it
 * (`NAME.expected.json`); each under invalid/ has the exact lines check-config prints
 * (`NAME.expected`). `UPDATE_GOLDEN=1 npm test` rewrites them after a deliberate change: review
 * the diff before committing.
 */
const ROOT = fileURLToPath(new URL('../../../test/fixtures/configs/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';
/**
 * A fixed environment: the machine's variables (TSICORN_* above all) must not change results.
 * Frozen so that no test can change it for the next.
 */
const ENV: NodeJS.ProcessEnv = Object.freeze({ WEB_CONCURRENCY: '6', PORT: '9001', GOLDEN_EMPTY: '' });

const fixtures = (dir: string) => readdirSync(join(ROOT, dir)).filter((f) => !f.includes('.expected'));

/** Loads with a path relative to the fixture's folder so that messages name just the file. */
function load(dir: string, name: string) {
  const cwd = process.cwd();
  process.chdir(join(ROOT, dir));
  try {
    return loadConfig({ file: name, env: ENV });
  } finally {
    process.chdir(cwd);
  }
}

/** True when `value` and every object or array inside it is frozen. */
function deeplyFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(deeplyFrozen);
}

function golden(path: string, actual: string): void {
  if (UPDATE) {
    writeFileSync(path, actual);
    return;
  }
  assert.equal(actual, readFileSync(path, 'utf8'));
}

for (const name of fixtures('valid')) {
  test(`valid/${name} resolves to its expected settings`, () => {
    const outcome = load('valid', name);
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.issues.map(formatIssue).join('\n'));
    assert.ok(deeplyFrozen(outcome.config.settings), 'the settings (and every group and list in them) are frozen');
    golden(join(ROOT, 'valid', `${name}.expected.json`), `${JSON.stringify(outcome.config.settings, null, 2)}\n`);
  });
}

for (const name of fixtures('invalid')) {
  test(`invalid/${name} gives the exact expected errors`, () => {
    let lines: string[];
    try {
      const outcome = load('invalid', name);
      assert.ok(!outcome.ok, `${name} loaded without errors`);
      lines = [...outcome.issues, ...outcome.warnings].map(formatIssue);
    } catch (err) {
      if (!(err instanceof TsicornError)) throw err;
      // What the CLI prints for an error that ends the command (an unreadable file).
      lines = [`tsicorn: ${err.message} (${err.code})`];
    }
    golden(join(ROOT, 'invalid', `${name}.expected`), `${lines.join('\n')}\n`);
  });
}

test('there are at least 9 valid and 32 invalid golden configs', () => {
  assert.ok(fixtures('valid').length >= 9);
  assert.ok(fixtures('invalid').length >= 32);
});

test('every expected file belongs to a fixture', () => {
  for (const dir of ['valid', 'invalid']) {
    const names = new Set(fixtures(dir));
    const suffix = dir === 'valid' ? '.expected.json' : '.expected';
    const orphans = readdirSync(join(ROOT, dir)).filter((f) => f.endsWith(suffix) && !names.has(f.slice(0, -suffix.length)));
    assert.deepEqual(orphans, [], `${dir}/: expected files without their config`);
  }
});
