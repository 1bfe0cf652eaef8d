import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { workerEntry } from '../../src/master/worker-entry.js';

/** A dist/ with tsc's worker entry written at `modulesAt` and, unless null, the bundle's at `bundleAt` (seconds). */
function dist(modulesAt: number, bundleAt: number | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsicorn-dist-'));
  const write = (file: string, at: number) => {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), '');
    utimesSync(join(dir, file), at, at);
  };
  write('src/worker/entry.js', modulesAt);
  if (bundleAt !== null) write('worker/entry.js', bundleAt);
  return dir;
}

test('the bundle is forked when it is as new as tsc’s output; else the modules, with one warning', (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => warnings.push(`${w.code}: ${w.message}`);
  process.on('warning', onWarning);
  const dirs: string[] = [];
  t.after(() => {
    process.off('warning', onWarning);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const made = (modulesAt: number, bundleAt: number | null) => {
    const dir = dist(modulesAt, bundleAt);
    dirs.push(dir);
    return dir;
  };
  const now = Math.floor(Date.now() / 1000);

  const built = made(now - 60, now - 30);
  assert.equal(workerEntry(built), join(built, 'worker/entry.js'), 'npm run build: the bundle');
  const packed = made(now, now);
  assert.equal(workerEntry(packed), join(packed, 'worker/entry.js'), 'one date for every file (npm): the bundle');
  const copied = made(now, now - 1);
  assert.equal(workerEntry(copied), join(copied, 'worker/entry.js'), 'a copy that wrote the bundle a moment before');

  const stale = made(now, now - 600);
  assert.equal(workerEntry(stale), join(stale, 'src/worker/entry.js'), 'tsc alone after a build: the modules');
  assert.equal(workerEntry(stale), join(stale, 'src/worker/entry.js'));
  const missing = made(now, null);
  assert.equal(workerEntry(missing), join(missing, 'src/worker/entry.js'), 'no bundle: the modules');
  // process.emitWarning is delivered on the next tick.
  return new Promise<void>((resolve) =>
    setImmediate(() => {
      assert.deepEqual(warnings, [
        `TSICORN_WORKER_BUNDLE: ${join(stale, 'worker/entry.js')} is older than dist/src/: workers load dist/src/ instead (npm run build makes both)`,
        `TSICORN_WORKER_BUNDLE: ${join(missing, 'worker/entry.js')} is missing: workers load dist/src/ instead (npm run build makes both)`,
      ]);
      resolve();
    }),
  );
});
