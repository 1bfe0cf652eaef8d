import { readFileSync } from 'node:fs';
import { constructFromEvents, EVENT_ID, type Event, getScalarValue, parseEvents, SCALAR_STYLE, YAMLException } from 'js-yaml';
import { TsicornError } from '../errors.js';
import type { ConfigIssue } from './issue.js';
import { LineIndex, type Position, pointerSegment } from './position.js';

/**
 * A config file parsed once into its value plus a map from JSON pointers to source positions,
 * so that every later error (ajv's instancePath, a bad ${VAR}) can name FILE:LINE:COL.
 */
export interface ParsedSource {
  file: string;
  format: 'yaml' | 'json';
  value: unknown;
  /** Position of each value, by JSON pointer ('' is the document). */
  valueAt: Map<string, Position>;
  /** Position of each mapping key, by the pointer of the value it names. */
  keyAt: Map<string, Position>;
}

export type ParseResult = { ok: true; source: ParsedSource } | { ok: false; issues: ConfigIssue[] };

export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT'
        ? 'no such file'
        : e.code === 'EISDIR'
          ? 'it is a directory'
          : e.code === 'EACCES'
            ? 'permission denied'
            : e.message;
    throw new TsicornError('TSI_ERR_CONFIG_READ', `cannot read config file ${file}: ${why}`);
  }
}

/** JSON is told apart from YAML by content, not by name: Ansible's `validate:` passes a temp file with no extension. */
export function detectFormat(text: string): 'yaml' | 'json' {
  const first = text.replace(/^\uFEFF/, '').trimStart()[0];
  return first === '{' || first === '[' ? 'json' : 'yaml';
}

/** What most often causes JSON.parse's `message` when the text from the error on is `rest`. */
function jsonHint(message: string, rest: string): string | undefined {
  if (/^\s*(\/\/|\/\*)/.test(rest)) return 'JSON has no comments; remove it, or write the file as YAML, where # starts a comment';
  if (/^\s*[\]}]/.test(rest)) return 'JSON allows no comma after the last item';
  if (/property name/.test(message)) return 'JSON puts every key in double quotes: "workers": 2';
  return undefined;
}

export function parseConfigText(text: string, file: string): ParseResult {
  const lines = new LineIndex(text);
  const fail = (offset: number, code: ConfigIssue['code'], message: string, hint?: string): ParseResult => ({
    ok: false,
    issues: [
      { code, severity: 'error', origin: { kind: 'file', file, ...lines.at(offset) }, setting: null, message, ...(hint ? { hint } : {}) },
    ],
  });
  const format = detectFormat(text);
  if (format === 'json') {
    // JSON.parse gives JSON's own error messages; the YAML parser below still supplies positions
    // and rejects duplicate keys, which JSON.parse silently accepts.
    try {
      JSON.parse(text);
    } catch (err) {
      const message = (err as Error).message.replace(/, (\.\.\.)?".*$/s, '').replace(/ in JSON at position \d+.*$/s, '');
      const offset = jsonErrorOffset(text);
      return fail(offset, 'TSI_ERR_CONFIG_SYNTAX', `invalid JSON: ${message}`, jsonHint(message, text.slice(offset)));
    }
  }
  let events: Event[];
  let docs: unknown[];
  try {
    events = parseEvents(text, { filename: file });
    docs = constructFromEvents(events, { source: text, filename: file });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    const offset = err.mark?.position ?? 0;
    if (/duplicated mapping key/.test(err.reason)) {
      const { key, firstLine } = duplicateKey(text, offset, lines);
      const first = firstLine ? ` (first on line ${firstLine})` : '';
      return fail(offset, 'TSI_ERR_CONFIG_DUPLICATE_KEY', `\`${key}\` is given twice in the same mapping${first}`, 'keep one of them');
    }
    return fail(offset, 'TSI_ERR_CONFIG_SYNTAX', `invalid YAML: ${err.reason}`, yamlHint(err.reason));
  }
  if (docs.length > 1) {
    const second = events.filter((e) => e.type === EVENT_ID.DOCUMENT)[1];
    const offset = second ? firstOffsetAfter(events, second) : 0;
    return fail(offset, 'TSI_ERR_CONFIG_SYNTAX', `expected one YAML document, found ${docs.length} (remove the extra \`---\`)`);
  }
  const value = docs[0];
  if (value === undefined || value === null) {
    return fail(0, 'TSI_ERR_CONFIG_EMPTY', 'the file has no settings; expected a mapping such as `app: app.js`');
  }
  const { valueAt, keyAt } = mapPositions(text, events, lines);
  if (typeof value !== 'object' || Array.isArray(value)) {
    const at = valueAt.get('') ?? { line: 1, column: 1 };
    return {
      ok: false,
      issues: [
        {
          code: 'TSI_ERR_CONFIG_NOT_MAPPING',
          severity: 'error',
          origin: { kind: 'file', file, ...at },
          setting: null,
          message: `expected a mapping of settings (such as \`app: app.js\`), found ${Array.isArray(value) ? 'a list' : `the ${typeof value} ${JSON.stringify(value)}`}`,
        },
      ],
    };
  }
  return { ok: true, source: { file, format, value, valueAt, keyAt } };
}

/** Explains the YAML errors people meet most, whose cause is often elsewhere than the mark. */
function yamlHint(reason: string): string | undefined {
  if (/deficient indentation|end of the stream within a (double|single) quoted scalar|missed comma between flow collection/.test(reason)) {
    return 'often a quote or bracket left open on a line above';
  }
  if (/tab characters/.test(reason)) return 'indent with spaces; YAML forbids tabs there';
  if (/bad indentation/.test(reason)) return 'keys of one mapping must start in the same column';
  return undefined;
}

/** The key at a duplicate-key mark, and the line where the same key first appears at that indentation. */
function duplicateKey(text: string, offset: number, lines: LineIndex): { key: string; firstLine: number | null } {
  const key = /^("[^"]*"|'[^']*'|[^\s:#]+)/.exec(text.slice(offset))?.[1] ?? '?';
  const { line, column } = lines.at(offset);
  const indent = ' '.repeat(column - 1);
  const all = text.split('\n');
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const same = new RegExp(`^${indent}${escaped}\\s*:`);
  for (let i = 0; i < line - 1; i++) if (same.test(all[i] ?? '')) return { key: key.replace(/^["']|["']$/g, ''), firstLine: i + 1 };
  return { key: key.replace(/^["']|["']$/g, ''), firstLine: null };
}

function firstOffsetAfter(events: Event[], doc: Event): number {
  for (let i = events.indexOf(doc) + 1; i < events.length; i++) {
    const offset = nodeOffset(events[i] as Event);
    if (offset >= 0) return offset;
  }
  return 0;
}

function nodeOffset(e: Event): number {
  switch (e.type) {
    case EVENT_ID.SCALAR: {
      const quoted = e.style === SCALAR_STYLE.SINGLE_QUOTED || e.style === SCALAR_STYLE.DOUBLE_QUOTED;
      return quoted ? e.valueStart - 1 : e.valueStart;
    }
    case EVENT_ID.MAPPING:
    case EVENT_ID.SEQUENCE:
      return e.start;
    case EVENT_ID.ALIAS:
      return e.anchorStart - 1;
    default:
      return -1;
  }
}

type Frame =
  | { kind: 'map'; pointer: string; key: string | null }
  | { kind: 'seq'; pointer: string; index: number }
  | { kind: 'doc'; pointer: string };

/** Walks the flat event stream with a stack, naming every node by its JSON pointer. */
function mapPositions(text: string, events: Event[], lines: LineIndex) {
  const valueAt = new Map<string, Position>();
  const keyAt = new Map<string, Position>();
  const stack: Frame[] = [];
  // A complex key (a mapping used as a key) is skipped whole: settings never have one.
  let skipDepth = 0;
  for (const e of events) {
    if (e.type === EVENT_ID.DOCUMENT) {
      stack.push({ kind: 'doc', pointer: '' });
      continue;
    }
    if (skipDepth > 0) {
      if (e.type === EVENT_ID.MAPPING || e.type === EVENT_ID.SEQUENCE) skipDepth++;
      else if (e.type === EVENT_ID.POP) skipDepth--;
      continue;
    }
    if (e.type === EVENT_ID.POP) {
      stack.pop();
      continue;
    }
    const top = stack[stack.length - 1];
    if (!top) continue;
    const offset = nodeOffset(e);
    if (top.kind === 'map' && top.key === null) {
      if (e.type === EVENT_ID.SCALAR) {
        top.key = getScalarValue(text, e);
        keyAt.set(top.pointer + pointerSegment(top.key), lines.at(offset));
      } else if (e.type === EVENT_ID.ALIAS) {
        top.key = '*alias';
      } else {
        top.key = '?complex';
        skipDepth = 1;
      }
      continue;
    }
    let pointer: string;
    if (top.kind === 'map') {
      pointer = top.pointer + pointerSegment(top.key ?? '');
      top.key = null;
    } else if (top.kind === 'seq') {
      pointer = top.pointer + pointerSegment(top.index++);
    } else {
      pointer = '';
    }
    if (offset >= 0) valueAt.set(pointer, lines.at(offset));
    if (e.type === EVENT_ID.MAPPING) stack.push({ kind: 'map', pointer, key: null });
    else if (e.type === EVENT_ID.SEQUENCE) stack.push({ kind: 'seq', pointer, index: 0 });
  }
  return { valueAt, keyAt };
}

/**
 * Where JSON.parse gave up. V8 names a position for some errors only ("Unexpected token" has
 * none), so search for the shortest prefix that is no longer the start of some valid JSON.
 */
function jsonErrorOffset(text: string): number {
  const isValidStart = (prefix: string) => {
    try {
      JSON.parse(prefix);
      return true;
    } catch (err) {
      const m = (err as Error).message;
      const at = /at position (\d+)/.exec(m);
      return /Unexpected end of JSON input/.test(m) || (at !== null && Number(at[1]) >= prefix.length);
    }
  };
  let [lo, hi] = [0, text.length];
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (isValidStart(text.slice(0, mid))) lo = mid;
    else hi = mid - 1;
  }
  return Math.min(lo, Math.max(0, text.length - 1));
}
