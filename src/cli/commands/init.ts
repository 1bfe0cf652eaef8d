import { existsSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { dump } from 'js-yaml';
import { type JsonSchema, SCHEMA_PATH, serverSchema } from '../../config/schema.js';
import { TsicornError } from '../../errors.js';
import { makeDirectory } from '../../make-directory.js';

/** Settings written uncommented: what a first server needs; everything else is shown with its default. */
const ACTIVE = new Set(['app', 'bind', 'workers']);

function wrapComment(text: string, indent: string): string[] {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + w.length + 1 > 96) {
      lines.push(`${indent}# ${line}`);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(`${indent}# ${line}`);
  return lines;
}

function yamlEntry(key: string, value: unknown, indent: string, commented: boolean): string[] {
  const text = dump({ [key]: value }, { lineWidth: -1, flowLevel: Array.isArray(value) && value.length <= 2 ? 1 : -1 }).trimEnd();
  return text.split('\n').map((l) => `${indent}${commented ? '# ' : ''}${l}`);
}

/** The commented server.yaml `tsicorn init` writes, generated from the schema so it lists every setting. */
export function renderInitFile(app: string, schemaRef: string): string {
  const out = [
    `# yaml-language-server: $schema=${schemaRef}`,
    '# tsicorn server configuration. Every setting is listed with its default; uncomment to change.',
    '# Check it with `tsicorn check-config`. A running server reloads when this file is saved',
    '# (reload.config), on `tsicorn reload` or on SIGHUP; `tsicorn status` shows its workers.',
    '',
  ];
  const props = serverSchema().properties ?? {};
  for (const [key, s] of Object.entries(props)) {
    if (key === '$schema') continue;
    out.push(...wrapComment(s.description ?? '', ''));
    if (s.type === 'object' && s.properties) {
      out.push(`# ${key}:`);
      for (const [child, cs] of Object.entries(s.properties as Record<string, JsonSchema>)) {
        out.push(...wrapComment(cs.description ?? '', '#   '));
        out.push(...yamlEntry(child, cs.default, '#   ', false));
      }
    } else {
      const value = key === 'app' ? app : s.default;
      out.push(...yamlEntry(key, value, '', !ACTIVE.has(key)));
    }
    out.push('');
  }
  return out.join('\n');
}

export function init(opts: { file: string; app: string; force: boolean }): number {
  const target = resolve(opts.file);
  if (existsSync(target) && !opts.force) {
    throw new TsicornError('TSI_ERR_INIT_EXISTS', `${opts.file} already exists; use --force to overwrite it`);
  }
  let schemaRef = relative(dirname(target), SCHEMA_PATH);
  if (!schemaRef.startsWith('.')) schemaRef = `./${schemaRef}`;
  makeDirectory(dirname(target));
  writeFileSync(target, renderInitFile(opts.app, schemaRef));
  process.stdout.write(`wrote ${opts.file}; check it with: tsicorn check-config ${opts.file}\n`);
  return 0;
}
