import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { describeChange, diffSettings, keepRunningValues } from '../../src/config/diff.js';
import { type LoadedConfig, loadConfig } from '../../src/config/load.js';
import { planReload } from '../../src/master/reload.js';

const dir = mkdtempSync(join(tmpdir(), 'tsicorn-plan-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, 'server.yaml');

function load(text: string): LoadedConfig {
  writeFileSync(path, text);
  const outcome = loadConfig({ file: path, env: {} });
  assert.ok(outcome.ok, outcome.ok ? '' : JSON.stringify(outcome.issues));
  return outcome.config;
}
const reloadFrom = (text: string) => () => {
  writeFileSync(path, text);
  return loadConfig({ file: path, env: {} });
};

test('a change is classed by the schema: live settings apply without a rotation, others rotate', () => {
  const running = load('app: app.js\nworkers: 2\n');
  const live = planReload(running, reloadFrom('app: app.js\nworkers: 3\nlog: {level: debug}\n'), { source: 'watch' });
  assert.equal(live.kind, 'apply');
  assert.ok(live.kind === 'apply' && !live.rotate);
  assert.deepEqual(live.kind === 'apply' && live.changes.map(describeChange), ['workers: 2 → 3', 'log.level: "info" → "debug"']);
  const rotate = planReload(running, reloadFrom('app: app.js\nworkers: 2\nkeepalive: 2\n'), { source: 'watch' });
  assert.ok(rotate.kind === 'apply' && rotate.rotate);
});

test('a saved file with the same text is unchanged; a HUP with the same text still rotates', () => {
  const text = 'app: app.js\nworkers: 2\n';
  const running = load(text);
  assert.equal(planReload(running, reloadFrom(text), { source: 'watch' }).kind, 'unchanged');
  const hup = planReload(running, reloadFrom(text), { source: 'signal' });
  assert.ok(hup.kind === 'apply' && hup.rotate && hup.changes.length === 0);
});

test('an invalid file fails with check-config’s own lines, and a file that cannot be read too', () => {
  const running = load('app: app.js\n');
  const failed = planReload(running, reloadFrom('app: app.js\nworkers: many\n'), { source: 'signal' });
  assert.equal(failed.kind, 'failed');
  assert.match(failed.kind === 'failed' ? (failed.errors[0] ?? '') : '', /server\.yaml:2:10: workers: expected/);
  const unreadable = planReload(running, () => loadConfig({ file: join(dir, 'gone.yaml'), env: {} }), { source: 'signal' });
  assert.ok(unreadable.kind === 'failed' && /TSI_ERR_CONFIG_READ/.test(unreadable.errors[0] ?? ''));
});

test('settings that need a restart are listed, and keepRunningValues puts their running values back', () => {
  const running = load('app: app.js\nbacklog: 2048\nworkers: 2\n');
  const plan = planReload(running, reloadFrom('app: app.js\nbacklog: 100\nworkers: 4\n'), { source: 'watch' });
  assert.ok(plan.kind === 'apply');
  if (plan.kind !== 'apply') return;
  assert.deepEqual(
    plan.needRestart.map((c) => c.name),
    ['backlog'],
  );
  const kept = keepRunningValues(plan.config.settings, running.settings, plan.needRestart);
  assert.equal(kept.backlog, 2048, 'the running value');
  assert.equal(kept.workers, 4, 'other changes stay');
  assert.ok(Object.isFrozen(kept));
  assert.deepEqual(
    diffSettings(running.settings, kept).map((c) => c.name),
    ['workers'],
  );
});
