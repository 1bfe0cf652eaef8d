import { dirname, resolve } from 'node:path';
import { coerceText } from './coerce.js';
import { findConflicts } from './conflicts.js';
import { interpolate } from './interpolate.js';
import { type ConfigIssue, compareIssues, type Origin } from './issue.js';
import { applyOverrides, environmentOverrides, type Override } from './layers.js';
import { type Position, pointerToSegments } from './position.js';
import { type JsonSchema, schemaAt, serverSchema } from './schema.js';
import { deepFreeze, type Settings } from './settings.js';
import { type ParsedSource, parseConfigText, readConfigText } from './source.js';
import { validateSettings, valueAt } from './validate.js';

export interface LoadRequest {
  /** The config file as the user named it (errors repeat this name), or null to run on flags alone. */
  file: string | null;
  /** The environment read for `${VAR}` and `TSICORN_*`; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Settings from command-line flags: the highest precedence. */
  flags?: Override[];
}

export interface LoadedConfig {
  settings: Settings;
  /** Absolute path of the config file, or null. */
  file: string | null;
  /** Directory relative paths in the config are resolved against: the config file's, or the cwd. */
  baseDir: string;
  /** The file's text as read, so a reload can tell an unchanged file from a changed one. */
  text: string | null;
  warnings: ConfigIssue[];
}

export type LoadOutcome = { ok: true; config: LoadedConfig } | { ok: false; issues: ConfigIssue[]; warnings: ConfigIssue[] };

/**
 * The one way a configuration is loaded: `check-config`, `print-config`, start-up and every reload
 * call this, so what check-config accepts, a reload accepts. Precedence: defaults < file <
 * TSICORN_* environment < flags. Throws TsicornError(TSI_ERR_CONFIG_READ) when the file cannot be read.
 */
export function loadConfig(request: LoadRequest): LoadOutcome {
  const env = request.env ?? process.env;
  const text = request.file === null ? null : readConfigText(request.file);
  let source: ParsedSource | null = null;
  if (text !== null && request.file !== null) {
    const parsed = parseConfigText(text, request.file);
    if (!parsed.ok) return { ok: false, issues: parsed.issues, warnings: [] };
    source = parsed.source;
  }
  const overrideOrigins = new Map<string, Origin>();
  const originOf = (pointer: string, key = false): Origin => originFor(pointer, key, source, overrideOrigins);

  const interpolated = interpolate(source?.value ?? {}, env, originOf);
  const data = interpolated.value as Record<string, unknown>;
  const root = serverSchema();
  for (const pointer of interpolated.whole) {
    const segments = pointerToSegments(pointer);
    const text = valueAt(data, pointer);
    if (typeof text === 'string') replaceAt(data, segments, coerceText(text, schemaAt(root, segments)));
  }

  const fromEnv = environmentOverrides(env);
  const issues = [...interpolated.issues, ...applyOverrides(data, [...fromEnv.overrides, ...(request.flags ?? [])], overrideOrigins)];
  // A `${VAR}` that could not be filled already has its issue; its empty value's type error would only repeat it.
  const unfilled = new Set(interpolated.issues.map((i) => i.setting));
  issues.push(...validateSettings(data, originOf).filter((i) => !unfilled.has(i.setting)));
  let warnings = fromEnv.warnings;
  if (issues.length === 0) {
    if (typeof data.bind === 'string') data.bind = [data.bind];
    const found = findConflicts(data as unknown as Settings, originOf);
    issues.push(...found.filter((i) => i.severity === 'error'));
    warnings = [...warnings, ...found.filter((i) => i.severity === 'warning')];
  }
  warnings.sort(compareIssues);
  if (issues.length > 0) return { ok: false, issues: issues.sort(compareIssues), warnings };
  delete data.$schema;
  const settings = inSchemaOrder(data, root) as Settings;
  const file = request.file === null ? null : resolve(request.file);
  return {
    ok: true,
    config: { settings: deepFreeze(settings), file, baseDir: file ? dirname(file) : process.cwd(), text, warnings },
  };
}

/** Where a pointer's value came from: an override, else its place in the file (or its nearest ancestor's). */
function originFor(pointer: string, key: boolean, source: ParsedSource | null, overrides: Map<string, Origin>): Origin {
  for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
    const o = overrides.get(p);
    if (o) return o;
    if (p === '') break;
  }
  if (!source) return { kind: 'default' };
  const exact: Position | undefined = (key ? source.keyAt.get(pointer) : undefined) ?? source.valueAt.get(pointer);
  if (exact) return { kind: 'file', file: source.file, ...exact };
  for (let p = pointer; p !== ''; ) {
    p = p.slice(0, p.lastIndexOf('/'));
    const at = source.keyAt.get(p) ?? source.valueAt.get(p);
    if (at) return { kind: 'file', file: source.file, ...at };
  }
  return { kind: 'file', file: source.file, line: 1, column: 1 };
}

function replaceAt(data: Record<string, unknown>, segments: string[], value: unknown): void {
  let node: unknown = data;
  for (const s of segments.slice(0, -1)) node = (node as Record<string, unknown>)[s];
  (node as Record<string, unknown>)[segments[segments.length - 1] as string] = value;
}

/** A copy with keys in the schema's order, so print-config and docs read the same way every time. */
function inSchemaOrder(value: unknown, schema: JsonSchema | undefined): unknown {
  if (!schema?.properties || !value || typeof value !== 'object' || Array.isArray(value)) return value;
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) if (key in record) out[key] = inSchemaOrder(record[key], schema.properties[key]);
  return out;
}
