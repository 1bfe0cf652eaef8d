import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { allSettings } from '../../src/config/schema.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const GENERATED = ['src/config/settings.generated.ts', 'docs/settings.md', 'src/config/validator.generated.ts'];

const check = (cwd: string) => spawnSync(process.execPath, ['scripts/generate.mjs', '--check'], { cwd, encoding: 'utf8' });

test('files generated from the schema are up to date (else: npm run generate)', { timeout: 60_000 }, () => {
  const run = check(root);
  assert.equal(run.status, 0, run.stderr);
});

test('a schema edit without `npm run generate` makes the check fail, naming each stale file', { timeout: 60_000 }, (t) => {
  // A copy of the generator, the schema and the committed outputs, with the schema edited.
  const dir = mkdtempSync(join(tmpdir(), 'tsicorn-generate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const path of ['scripts', 'schemas', ...GENERATED]) cpSync(join(root, path), join(dir, path), { recursive: true });
  // The generator imports json-schema-to-typescript, js-yaml and ajv, and runs Biome, from the checkout's packages.
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const fresh = check(dir);
  assert.equal(fresh.status, 0, `the untouched copy is fresh: ${fresh.stderr}`);

  const schemaPath = join(dir, 'schemas', 'server.schema.json');
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
  schema.properties.log.properties.level['x-reload'] = 'rotate';
  writeFileSync(schemaPath, JSON.stringify(schema, null, 2));
  const annotation = check(dir);
  assert.equal(annotation.status, 1);
  assert.match(annotation.stderr, /docs\/settings\.md is stale/);
  assert.doesNotMatch(annotation.stderr, /settings\.generated\.ts/, 'what a reload needs is not part of the types');
  // ajv's error params point into the schema, so the generated validator embeds it whole.
  assert.match(annotation.stderr, /validator\.generated\.ts is stale/);

  writeFileSync(join(dir, 'docs', 'settings.md'), '# edited by hand\n');
  assert.match(check(dir).stderr, /docs\/settings\.md is stale/, 'a hand edit of the generated page is caught too');

  // A changed bound alone (the original schema and outputs otherwise) changes what validates: caught too.
  for (const path of GENERATED) cpSync(join(root, path), join(dir, path));
  const bound = JSON.parse(readFileSync(join(root, 'schemas', 'server.schema.json'), 'utf8'));
  bound.properties.workers.oneOf[0].maximum = 2048;
  writeFileSync(schemaPath, JSON.stringify(bound, null, 2));
  assert.match(check(dir).stderr, /src\/config\/validator\.generated\.ts is stale/);
});

test('docs/settings.md has a section for every setting with its environment variable, flag and reload class', () => {
  const doc = readFileSync(join(root, 'docs', 'settings.md'), 'utf8');
  const sections = doc.split(/^#{2,3} /m);
  for (const s of allSettings()) {
    const section = sections.find((text) => text.startsWith(`\`${s.name}\`\n`));
    assert.ok(section, `no section for ${s.name}`);
    assert.ok(section.includes(`\`${s.envVar}\``), `${s.name}: ${s.envVar}`);
    if (s.schema['x-cli']) assert.ok(section.includes(s.schema['x-cli']), `${s.name}: its flag`);
    assert.ok(section.includes(`**${s.schema['x-reload']}**`), `${s.name}: its reload class`);
    if (s.schema['x-planned']) assert.match(section, /planned\*\*/i, `${s.name}: marked planned`);
  }
});
