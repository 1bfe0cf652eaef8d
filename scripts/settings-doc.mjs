// Renders docs/settings.md from schemas/server.schema.json (called by scripts/generate.mjs).
// Everything per setting comes from the schema: type, default, description, example, x-cli,
// x-reload, x-aliases, x-planned. The prose around it states the rules the code applies to every
// setting alike (src/config/schema.ts names the variables, src/config/coerce.ts reads their text).
import { dump } from 'js-yaml';

const FORMATS = {
  bind: 'an address: `host:port`, `:port`, `[ipv6]:port`, `unix:PATH` or `fd://N`',
  'ip-or-cidr': 'an IP address or CIDR range (`10.0.0.0/8`), or `*`',
  'host-port': '`host:port`',
};

const RELOAD = {
  live: '**live**: a reload applies it without replacing any worker',
  rotate: '**rotate**: a reload replaces every worker with one started with the new value (zero downtime)',
  restart:
    '**restart**: a reload keeps the running value and logs that the change needs a master restart; it takes effect when a new master starts (`tsicorn upgrade` / USR2, or a stop and start)',
};

const isGroup = (s) => s.type === 'object' && s.properties !== undefined;
const isMap = (s) => s.type === 'object' && typeof s.additionalProperties === 'object';
const code = (text) => (String(text).includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``);
const cell = (text) => String(text).replaceAll('|', '\\|');

function range(s) {
  const { minimum: min, maximum: max, exclusiveMinimum: xmin } = s;
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (xmin !== undefined) return ` greater than ${xmin}`;
  if (min !== undefined) return ` of at least ${min}`;
  if (max !== undefined) return ` of at most ${max}`;
  return '';
}

function typeOf(s) {
  if (s['x-expect']) return s['x-expect'];
  if (s.enum) return `one of ${s.enum.map((v) => code(v)).join(', ')}`;
  if ('const' in s) return code(JSON.stringify(s.const));
  const branches = s.oneOf ?? s.anyOf;
  // `bind`: one address, or a list of them.
  const [one, many] = branches ?? [];
  if (branches?.length === 2 && many.type === 'array' && JSON.stringify(many.items) === JSON.stringify(one)) {
    return `${typeOf(one)}; or a list${many.minItems ? ' (not empty)' : ''} of them`;
  }
  if (branches) return alternatives(branches.map(typeOf));
  const types = Array.isArray(s.type) ? s.type : [s.type];
  return alternatives(
    types.map((t) => {
      switch (t) {
        case 'null':
          return '`null`';
        case 'boolean':
          return types.length > 1 ? 'a boolean' : '`true` or `false`';
        case 'integer':
        case 'number':
          return `${t === 'integer' ? 'an integer' : 'a number'}${range(s)}`;
        case 'string':
          if (s.format && FORMATS[s.format]) return FORMATS[s.format];
          if (s.pattern) return `a string matching ${code(`/${s.pattern}/`)}`;
          return s.minLength ? 'a non-empty string' : 'a string';
        case 'array':
          return `a list${s.minItems ? ' (not empty)' : ''}, each item ${typeOf(s.items)}`;
        case 'object':
          return `a mapping of names to ${typeOf(s.additionalProperties)}`;
        default:
          return t;
      }
    }),
  );
}

/** `a, b or c`, with null last (it reads as "or nothing"). */
function alternatives(parts) {
  const list = parts.filter((p) => p !== '`null`');
  if (parts.includes('`null`')) list.push('`null`');
  return list.length <= 1 ? (list[0] ?? 'a value') : `${list.slice(0, -1).join(', ')} or ${list.at(-1)}`;
}

function showValue(v) {
  if (typeof v === 'string') return v === '' ? '`""`' : code(v);
  return code(JSON.stringify(v));
}

/** The example as the user writes it in server.yaml, nested under its group. */
function yamlExample(path, value) {
  let doc = value;
  for (const key of [...path].reverse()) doc = { [key]: doc };
  return dump(doc, { lineWidth: -1 }).trimEnd();
}

function envNote(s) {
  if (isMap(s)) return ' (`KEY=VALUE` pairs, comma-separated)';
  const types = [s, ...(s.oneOf ?? []), ...(s.anyOf ?? [])].map((b) => b.type);
  if (types.includes('array')) return ' (comma-separated)';
  return '';
}

function flagNote(s) {
  if (!s['x-cli'].includes('<')) return ' (no value: sets `true`)';
  const types = [s, ...(s.oneOf ?? []), ...(s.anyOf ?? [])].map((b) => b.type);
  if (types.includes('array') || isMap(s)) return ' (repeat it for more than one)';
  return '';
}

/** Leaves and groups in schema order: what the document walks. */
function entries(schema) {
  return Object.entries(schema.properties).filter(([key]) => key !== '$schema');
}

/** True when some setting is validated but not acted on yet (`x-planned`). */
function anyPlanned(schema) {
  return entries(schema).some(([, s]) => (isGroup(s) ? anyPlanned(s) : s['x-planned'] !== undefined));
}

function plannedNote(s) {
  if (s['x-planned'] === true) return '> **Planned**: accepted and validated, but not acted on yet.\n';
  if (typeof s['x-planned'] === 'string') return `> **Partly planned**: ${s['x-planned']}.\n`;
  return null;
}

function settingSection(path, s, required, level) {
  const name = path.join('.');
  const out = [`${'#'.repeat(level)} \`${name}\``, ''];
  const planned = plannedNote(s);
  if (planned) out.push(planned);
  out.push(s.description, '');
  out.push(`- **Type**: ${typeOf(s)}`);
  out.push(`- **Default**: ${'default' in s ? showValue(s.default) : required ? 'none: required' : 'none'}`);
  out.push(`- **Flag**: ${s['x-cli'] ? `${code(s['x-cli'])}${flagNote(s)}` : 'none (set it in the file or the environment)'}`);
  out.push(`- **Environment**: \`TSICORN_${path.join('_').toUpperCase()}\`${envNote(s)}`);
  out.push(`- **At reload**: ${RELOAD[s['x-reload']]}`);
  if (s['x-aliases']?.length) {
    // Gunicorn's flat `certfile` is our `tls.certfile`: the same word, one level up.
    const names = s['x-aliases'].map((a) => (a === path.at(-1) ? `${code(a)} at the top level` : code(a)));
    out.push(`- **Other servers' names**: ${names.join(', ')} (\`check-config\` points them here)`);
  }
  if (s.examples?.length) out.push('', '```yaml', yamlExample(path, s.examples[0]), '```');
  out.push('');
  return out;
}

function summaryRows(schema) {
  const rows = [];
  const visit = (props, path) => {
    for (const [key, s] of props) {
      const here = [...path, key];
      if (isGroup(s)) visit(entries(s), here);
      else {
        const name = here.join('.');
        // GitHub's heading anchors drop the backticks and dots: `tls.certfile` → #tlscertfile.
        const anchor = name.replaceAll('.', '');
        const shown = 'default' in s ? showValue(s.default) : '(required)';
        const def = shown.length > 40 ? '(long; see below)' : shown;
        const planned = s['x-planned'] === true ? ' (planned)' : '';
        rows.push(
          `| [\`${name}\`](#${anchor})${planned} | ${cell(def)} | ${s['x-cli'] ? cell(code(s['x-cli'])) : ''} | \`TSICORN_${here.join('_').toUpperCase()}\` | ${s['x-reload']} |`,
        );
      }
    }
  };
  visit(entries(schema), []);
  return rows;
}

export function renderSettingsDoc(schema) {
  const required = new Set(schema.required ?? []);
  const out = [
    '<!-- GENERATED by scripts/generate.mjs from schemas/server.schema.json. Do not edit: edit the schema and run `npm run generate`. -->',
    '',
    '# Settings',
    '',
    `${schema.description} This page is generated from [the schema](../schemas/server.schema.json), in its order and groups; a test fails when it is stale.`,
    '',
    '## Where a setting comes from',
    '',
    'Precedence, lowest first: the default < the config file < a `TSICORN_*` environment variable < a command-line flag. `tsicorn print-config` shows the result.',
    '',
    '- **File**: a setting in a group is nested under it: `log.level` is `level:` under `log:`. `${VAR}` and `${VAR:-default}` are filled from the environment first.',
    '- **Environment**: `TSICORN_` and the dotted name upper-cased with `_` for `.`: `log.level` is `TSICORN_LOG_LEVEL`. Lists are comma-separated (`TSICORN_BIND=127.0.0.1:8000,unix:/run/app.sock`), mappings are `KEY=VALUE` pairs, added to those in the file (`TSICORN_ENV=NODE_ENV=production,TZ=UTC`), `true`/`false` may be written `yes`/`no`, `on`/`off`, `1`/`0`, and `null` (or an empty value) sets a setting that may be `null` to `null`. A `TSICORN_*` variable that names no setting is a warning.',
    "- **Flags**: `tsicorn` and every other command that reads the config (`check-config`, `print-config`, `status`, `scale`, `reload`, `stop`, `reopen-logs`, `upgrade`) take them (`tsicorn check-config --help` lists them). A list flag given more than once makes a list; given once it replaces the file's list.",
    '',
    '## What a change needs at a reload',
    '',
    'A reload (SIGHUP, `tsicorn reload`, or saving the config file) validates the file first; an invalid file changes nothing. See [reload.md](reload.md).',
    '',
    ...Object.values(RELOAD).map((text) => `- ${text}.`),
    '',
    ...(anyPlanned(schema)
      ? [
          'Settings marked **planned** are validated, so a file written for a later version already checks, but nothing acts on them yet.',
          '',
        ]
      : []),
    '## Summary',
    '',
    '| setting | default | flag | environment | at reload |',
    '| --- | --- | --- | --- | --- |',
    ...summaryRows(schema),
    '',
  ];
  for (const [key, s] of entries(schema)) {
    if (!isGroup(s)) {
      out.push(...settingSection([key], s, required.has(key), 2));
      continue;
    }
    out.push(`## \`${key}\``, '');
    const leaves = entries(s);
    if (leaves.every(([, child]) => child['x-planned'] === true))
      out.push('> **Planned**: every setting of this group is validated, but not acted on yet.\n');
    out.push(`${s.description} A mapping; each setting below is nested under \`${key}:\`.`, '');
    for (const [child, cs] of leaves) out.push(...settingSection([key, child], cs, false, 3));
  }
  return `${out.join('\n').trimEnd()}\n`;
}
