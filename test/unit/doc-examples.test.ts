/**
 * The config files the docs show are configs tsicorn accepts: every ```yaml block in README.md,
 * docs/ and examples/ that sets `app:` is loaded with the function check-config runs (with an
 * empty environment, so `${VAR:-default}` takes its default). A doc edit that renames a setting
 * or invents one fails here, not in a newcomer's terminal.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatIssue } from '../../src/config/issue.js';
import { loadConfig } from '../../src/config/load.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

const markdown = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...readdirSync(join(root, 'examples')).flatMap((d) =>
    readdirSync(join(root, 'examples', d)).includes('README.md') ? [`examples/${d}/README.md`] : [],
  ),
];

/** ```yaml blocks that set `app:`; a block indented under a list item is dedented by its fence's indent. */
function configBlocks(path: string): string[] {
  const text = readFileSync(join(root, path), 'utf8');
  return [...text.matchAll(/^([ \t]*)```yaml\n([\s\S]*?)^\1```$/gm)]
    .map(([, indent = '', body = '']) => body.replace(new RegExp(`^${indent}`, 'gm'), ''))
    .filter((block) => /^app:/m.test(block));
}

test('the docs show config files (README, docs/migrating-*, docs/editors)', () => {
  const found = markdown.filter((path) => configBlocks(path).length > 0);
  for (const path of ['README.md', 'docs/migrating-from-gunicorn.md', 'docs/migrating-from-pm2.md', 'docs/editors.md']) {
    assert.ok(found.includes(path), `${path} has a config example`);
  }
});

for (const path of markdown) {
  const blocks = configBlocks(path);
  if (blocks.length === 0) continue;
  test(`every config file shown in ${path} is valid`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsicorn-doc-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    blocks.forEach((block, i) => {
      const file = join(dir, `example-${i + 1}.yaml`);
      writeFileSync(file, block);
      const outcome = loadConfig({ file, env: {} });
      assert.ok(
        outcome.ok,
        `${path}, example ${i + 1}:\n${outcome.ok ? '' : outcome.issues.map((issue) => formatIssue(issue)).join('\n')}`,
      );
    });
  });
}
