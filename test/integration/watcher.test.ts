import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, serverYaml, startServer, tempDir } from '../helpers/server.js';

/** What the file watcher reacts to, and what it lets pass (src/master/watcher.ts). */

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('an editor-style save (truncate, a partial write, the full text) is one reload, never an invalid-config one', {
  timeout: 30_000,
}, async (t) => {
  const server = await startServer(t, { waitWatching: true, files: { 'server.yaml': serverYaml(APP, { workers: 2 }) } });
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
    waitWatching: true,
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

test('reload.code with a directory the server cannot read: a warning, and the rest is still watched', { timeout: 30_000 }, async (t) => {
  // As root, run the server as nobody (setpriv, from util-linux): root reads any directory.
  const asRoot = process.getuid?.() === 0;
  if (asRoot && !existsSync('/usr/bin/setpriv')) {
    t.skip('running as root without setpriv to drop to an unprivileged user');
    return;
  }
  const dir = tempDir(t, {
    'server.yaml': serverYaml('app.mjs', { workers: 1, reload: { code: true } }),
    'app.mjs': "export default (req, res) => res.end('v1');\n",
    'private/secret.js': '// 1\n',
  });
  // The server writes its control socket beside the config; nobody reads nothing under private/.
  chmodSync(dir, 0o777);
  chmodSync(join(dir, 'private'), 0o700);
  if (!asRoot) chmodSync(join(dir, 'private'), 0o000);
  t.after(() => {
    // Hooks run in order: the directory may be gone already; a throw would skip the server's kill.
    try {
      chmodSync(join(dir, 'private'), 0o700);
    } catch {}
  });
  const server = await startServer(t, {
    cwd: dir,
    // (Without the coverage directory, which nobody could not write to.)
    ...(asRoot
      ? { wrapper: ['/usr/bin/env', '-u', 'NODE_V8_COVERAGE', '/usr/bin/setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] }
      : {}),
  });
  // chokidar's 'error' for the directory once crashed the master (an EventEmitter error with no listener).
  const warned = await server.waitForLog('cannot watch a path; its changes are not seen (reload with SIGHUP)');
  assert.equal(warned.code, 'EACCES');
  assert.match(String(warned.error), /private/);
  await server.waitForLog('watching for changes');
  writeFileSync(join(dir, 'app.mjs'), "export default (req, res) => res.end('v2');\n");
  await server.waitForLog('config reloaded', { trigger: 'code' });
  await server.waitForLog('rotation finished');
  assert.equal(await (await fetch(`${server.url()}/`)).text(), 'v2');
  assert.equal(server.exitCode, null, 'the master is still running');
});
