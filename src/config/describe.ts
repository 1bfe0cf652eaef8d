import type { JsonSchema } from './schema.js';

const FORMAT_TEXT: Record<string, string> = {
  bind: 'an address (host:port, :port, [ipv6]:port, unix:PATH or fd://N)',
  'ip-or-cidr': 'an IP address or CIDR range (10.0.0.0/8), or *',
  'host-port': 'host:port',
};

/**
 * What a schema accepts, in words, for error messages: `an integer from 1 to 1024 or "auto"`.
 * Generated from the schema so a message can never disagree with what is validated.
 */
export function describeSchema(s: JsonSchema): string {
  if (s['x-expect']) return s['x-expect'];
  if (s.enum) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if ('const' in s) return JSON.stringify(s.const);
  const branches = s.oneOf ?? s.anyOf;
  if (branches)
    return joinAlternatives(
      branches.map(describeSchema),
      branches.some((b) => b.type === 'null'),
    );
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  return joinAlternatives(
    types.map((t) => describeType(t, s)),
    types.includes('null'),
  );
}

function joinAlternatives(parts: string[], hasNull: boolean): string {
  const list = parts.filter((p) => p !== 'null');
  if (hasNull) list.push('null');
  if (list.length <= 1) return list[0] ?? 'a value';
  return `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
}

function describeType(t: string, s: JsonSchema): string {
  switch (t) {
    case 'null':
      return 'null';
    case 'boolean':
      return 'true or false';
    case 'integer':
    case 'number':
      return `${t === 'integer' ? 'an integer' : 'a number'}${describeRange(s)}`;
    case 'string':
      if (s.format && FORMAT_TEXT[s.format]) return FORMAT_TEXT[s.format] as string;
      if (s.pattern) return `a string matching /${s.pattern}/`;
      return s.minLength ? 'a non-empty string' : 'a string';
    case 'array':
      return `a list${s.minItems ? ' (not empty)' : ''}${s.items ? `, each item ${describeSchema(s.items)}` : ''}`;
    case 'object':
      return s.properties ? 'a mapping of settings' : 'a mapping';
    default:
      return t;
  }
}

function describeRange(s: JsonSchema): string {
  const { minimum: min, maximum: max, exclusiveMinimum: xmin } = s;
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (xmin !== undefined) return ` > ${xmin}`;
  if (min !== undefined) return ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

/** A short rendering of a value the user wrote, for `got …` in messages. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length ? 'a list' : 'an empty list';
  if (typeof v === 'object') return Object.keys(v).length ? 'a mapping' : 'an empty mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return String(v);
}
