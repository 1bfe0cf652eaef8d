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
/** A fixed environment: the machine's TSICORN_* variables must not change results. */
const ENV: NodeJS.ProcessEnv = { WEB_CONCURRENCY: '6', PORT: '9001' };

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
    assert.ok(Object.isFrozen(outcome.config.settings) && Object.isFrozen(outcome.config.settings.log), 'the settings are frozen');
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
      lines = [`${err.message} (${err.code})`];
    }
    golden(join(ROOT, 'invalid', `${name}.expected`), `${lines.join('\n')}\n`);
  });
}

test('there are at least 8 valid and 30 invalid golden configs', () => {
  assert.ok(fixtures('valid').length >= 8);
  assert.ok(fixtures('invalid').length >= 30);
});
