import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const COVERAGE_HELPER = fileURLToPath(new URL('../helpers/coverage.js', import.meta.url));

// A test file's process, reduced to what matters: it loads the helper, then a process it starts
// exits normally and another is killed while it writes its coverage (the file is cut short).
const TEST_FILE = `
  await import(${JSON.stringify(COVERAGE_HELPER)});
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  spawnSync(process.execPath, ['-e', '0'], { stdio: 'inherit' });
  writeFileSync(join(process.env.NODE_V8_COVERAGE, 'coverage-1-2-0.json'), '{"result":[{"scriptId":"1","url":"');
`;

test('a coverage file cut short by a kill is dropped; the complete ones reach the runner', (t) => {
  const runnerDir = mkdtempSync(join(tmpdir(), 'tsicorn-runner-coverage-'));
  t.after(() => rmSync(runnerDir, { recursive: true, force: true }));
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', TEST_FILE], {
    env: { ...process.env, NODE_V8_COVERAGE: runnerDir },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /coverage: dropped coverage-1-2-0\.json, a process was killed while writing it/);
  const files = readdirSync(runnerDir);
  // The test file's own and its child's: two complete files, each parses.
  assert.equal(files.length, 2, files.join(', '));
  for (const name of files) assert.ok(Array.isArray(JSON.parse(readFileSync(join(runnerDir, name), 'utf8')).result));
  assert.ok(!files.includes('coverage-1-2-0.json'));
});
