import { coerceText } from './coerce.js';
import type { ConfigIssue, Origin } from './issue.js';
import { pointerToSegments } from './position.js';
import { allSettings, type Setting, schemaAt, serverSchema } from './schema.js';

/** A value set from outside the file: a `TSICORN_*` variable or a command-line flag. */
export interface Override {
  pointer: string;
  /** Raw text, or a list of texts for repeatable flags; coerced to the setting's type here. */
  text: string | string[];
  origin: Origin;
}

/** `TSICORN_WORKERS=4` → workers; every leaf setting has one variable, derived from its name. */
export function environmentOverrides(env: NodeJS.ProcessEnv): { overrides: Override[]; warnings: ConfigIssue[] } {
  const byVar = new Map<string, Setting>(allSettings().map((s) => [s.envVar, s]));
  const overrides: Override[] = [];
  const warnings: ConfigIssue[] = [];
  for (const [name, text] of Object.entries(env)) {
    // TSICORN__* (double underscore) is reserved for tsicorn's own use between processes.
    if (!name.startsWith('TSICORN_') || name.startsWith('TSICORN__') || text === undefined) continue;
    const setting = byVar.get(name);
    if (setting && isMap(setting)) {
      overrides.push({ pointer: setting.pointer, text: text.split(',').filter(Boolean), origin: { kind: 'env', name } });
    } else if (setting) {
      overrides.push({ pointer: setting.pointer, text, origin: { kind: 'env', name } });
    } else {
      warnings.push({
        code: 'TSI_WARN_CONFIG_UNKNOWN_ENV',
        severity: 'warning',
        origin: { kind: 'env', name },
        setting: null,
        message: 'names no setting and is ignored',
        hint: closestEnvVar(name, [...byVar.keys()]),
      });
    }
  }
  return { overrides, warnings };
}

/** Mappings (`env`, `proxy.secure_scheme_headers`) are set from `KEY=VALUE` texts. */
export function isMap(setting: Setting): boolean {
  return setting.schema.type === 'object' && typeof setting.schema.additionalProperties === 'object';
}

function closestEnvVar(name: string, known: string[]): string | undefined {
  const hit = known.find((k) => k.startsWith(name) || name.startsWith(k));
  return hit ? `did you mean ${hit}?` : undefined;
}

/**
 * Applies overrides on top of the file's value (precedence: file < env < flags, by the order
 * given), coercing each text to its setting's type. Returns the origin of every pointer set.
 */
export function applyOverrides(data: Record<string, unknown>, overrides: Override[], origins: Map<string, Origin>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const root = serverSchema();
  for (const o of overrides) {
    const segments = pointerToSegments(o.pointer);
    const schema = schemaAt(root, segments);
    let value: unknown;
    if (schema?.type === 'object') {
      const texts = Array.isArray(o.text) ? o.text : [o.text];
      const map: Record<string, unknown> = {};
      for (const t of texts) {
        const eq = t.indexOf('=');
        if (eq <= 0) {
          issues.push({
            code: 'TSI_ERR_CONFIG_INVALID_VALUE',
            severity: 'error',
            origin: o.origin,
            setting: segments.join('.'),
            message: `expected KEY=VALUE, got ${JSON.stringify(t)}`,
          });
          continue;
        }
        map[t.slice(0, eq)] = t.slice(eq + 1);
      }
      value = { ...(asRecord(getAt(data, segments)) ?? {}), ...map };
    } else if (Array.isArray(o.text)) {
      value = o.text.flatMap((t) => {
        const v = coerceText(t, schema);
        return Array.isArray(v) ? v : [v];
      });
    } else {
      value = coerceText(o.text, schema);
    }
    if (setAt(data, segments, value)) origins.set(o.pointer, o.origin);
  }
  return issues;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function getAt(data: Record<string, unknown>, segments: string[]): unknown {
  let node: unknown = data;
  for (const s of segments) node = asRecord(node)?.[s];
  return node;
}

/** Sets a nested value, creating groups as needed; refuses to replace a non-mapping the file wrote (validation reports that). */
function setAt(data: Record<string, unknown>, segments: string[], value: unknown): boolean {
  let node = data;
  for (const s of segments.slice(0, -1)) {
    if (node[s] === undefined) node[s] = {};
    const next = asRecord(node[s]);
    if (!next) return false;
    node = next;
  }
  node[segments[segments.length - 1] as string] = value;
  return true;
}
