import assert from 'node:assert/strict';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, serverYaml, startServer } from '../helpers/server.js';

/** What the file watcher reacts to, and what it lets pass (src/master/watcher.ts). */

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('an editor-style save (truncate, a partial write, the full text) is one reload, never an invalid-config one', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 2 }) } });
  const file = join(server.dir, 'server.yaml');
  // Each step alone is a file the reload would refuse (empty, cut short); the gaps are shorter
  // than the watcher's wait for the file to settle.
  truncateSync(file, 0);
  await pause(20);
  writeFileSync(file, '{"app": ');
  await pause(20);
  writeFileSync(file, serverYaml(APP, { workers: 3 }));
  await server.waitFor('3 workers', () => server.workerPids().length === 3);
  // A second, separate save: whatever the first burst left pending has been logged before it.
  writeFileSync(file, serverYaml(APP, { workers: 1 }));
  await server.waitFor('1 worker', () => server.workerPids().length === 1);
  const reloads = server.logs.filter((l) => l.msg === 'config reloaded').map((l) => l.changes);
  assert.deepEqual(reloads, [['workers: 2 → 3'], ['workers: 3 → 1']]);
  assert.equal(server.countLogs('reload failed: config invalid; keeping the running config and workers'), 0);
  assert.match(String(server.findLog('config reloaded')?.path), /server\.yaml$/, 'the log names the file that triggered');
});

test('reload.code: node_modules, .git and reload.ignore never rotate; a reload.extra_files glob does', { timeout: 45_000 }, async (t) => {
  const reload = { code: true, ignore: ['generated'], extra_files: ['templates/*.html'] };
  const server = await startServer(t, {
    files: {
      'server.yaml': serverYaml(APP, { workers: 1, reload }),
      'node_modules/dep/index.js': 'module.exports = 1;\n',
      '.git/hooks/post-commit.js': '// 1\n',
      'generated/bundle.js': '// 1\n',
      'templates/page.html': '<p>1</p>\n',
      'templates/notes.txt': '1\n',
    },
  });
  writeFileSync(join(server.dir, 'node_modules/dep/index.js'), 'module.exports = 2;\n');
  mkdirSync(join(server.dir, 'node_modules/fresh'));
  writeFileSync(join(server.dir, 'node_modules/fresh/index.js'), 'module.exports = 2;\n');
  writeFileSync(join(server.dir, '.git/hooks/post-commit.js'), '// 2\n');
  writeFileSync(join(server.dir, 'generated/bundle.js'), '// 2\n');
  writeFileSync(join(server.dir, 'templates/notes.txt'), '2\n');
  // A rotation lasts at least min_uptime (1 s), well past the code watcher's debounce (300 ms):
  // had any of those writes counted, its reload would be logged (or queued) by its end.
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation finished');
  assert.equal(server.countLogs('config reloaded', { trigger: 'code' }), 0, 'no ignored file triggered a code reload');
  assert.equal(server.countLogs('reload queued until the current one ends'), 0);

  writeFileSync(join(server.dir, 'templates/page.html'), '<p>2</p>\n');
  const code = await server.waitForLog('config reloaded', { trigger: 'code' });
  assert.match(String(code.path), /templates\/page\.html$/);
  await server.waitFor('the second rotation', () => server.countLogs('rotation finished') === 2);
  assert.equal(server.countLogs('config reloaded', { trigger: 'code' }), 1);
});
