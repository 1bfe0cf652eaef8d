import type { JsonSchema } from './schema.js';

/**
 * Turns text from an environment variable, a flag or a whole-value `${VAR}` into the type the
 * setting wants (`"4"` → 4 for `workers`, `"auto"` stays), guided by the schema, so that
 * `workers: ${WEB_CONCURRENCY:-4}` is an integer while `app: ${APP}` stays a string even if APP=123.
 * Text that fits no type is returned unchanged and validation reports it.
 */
export function coerceText(text: string, schema: JsonSchema | undefined): unknown {
  if (!schema) return text;
  const types = acceptedTypes(schema);
  // A list setting that also takes one string (`bind`) is split only when there is a comma to split on.
  if (types.has('array') && (!types.has('string') || text.includes(','))) {
    return text === '' ? [] : text.split(',').map((part) => coerceText(part.trim(), itemsOf(schema)));
  }
  if (types.has('null') && (text === 'null' || text === '')) return null;
  if ((types.has('integer') || types.has('number')) && /^[+-]?\d+(\.\d+)?$/.test(text)) {
    const n = Number(text);
    if (types.has('number') || Number.isInteger(n)) return n;
  }
  if (types.has('boolean') && !types.has('string')) {
    if (/^(true|yes|on|1)$/i.test(text)) return true;
    if (/^(false|no|off|0)$/i.test(text)) return false;
  }
  return text;
}

function acceptedTypes(s: JsonSchema): Set<string> {
  const out = new Set<string>();
  const visit = (n: JsonSchema) => {
    for (const t of Array.isArray(n.type) ? n.type : n.type ? [n.type] : []) out.add(t);
    if ('const' in n || n.enum) out.add('string');
    for (const b of n.oneOf ?? n.anyOf ?? []) visit(b);
  };
  visit(s);
  return out;
}

function itemsOf(s: JsonSchema): JsonSchema | undefined {
  if (s.items) return s.items;
  for (const b of s.oneOf ?? s.anyOf ?? []) if (b.items) return b.items;
  return undefined;
}
