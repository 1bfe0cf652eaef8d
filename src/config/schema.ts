import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pointerSegment } from './position.js';

/** The subset of JSON Schema (draft-07) that schemas/server.schema.json uses, plus our annotations. */
export interface JsonSchema {
  $schema?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  required?: string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  minItems?: number;
  pattern?: string;
  format?: string;
  default?: unknown;
  description?: string;
  examples?: unknown[];
  /** Commander flag spec, e.g. `-w, --workers <int>`. */
  'x-cli'?: string;
  /** What a change of this setting needs at reload. */
  'x-reload'?: 'live' | 'rotate' | 'restart';
  /** Other tools' names for this setting (Gunicorn, PM2), for "did you mean" hints. */
  'x-aliases'?: string[];
  /** How to describe a valid value in an error, where the schema alone says it badly (patterns). */
  'x-expect'?: string;
  /**
   * Validated but not acted on yet: `true` for the whole setting, or text naming the part that is
   * planned. The generated docs say so, so they never promise what the code does not do.
   */
  'x-planned'?: true | string;
}

/** Path of the schema file shipped in the package (dist/src/config → ../../../schemas). */
export const SCHEMA_PATH = fileURLToPath(new URL('../../../schemas/server.schema.json', import.meta.url));

let cached: JsonSchema | null = null;
export function serverSchema(): JsonSchema {
  cached ??= JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as JsonSchema;
  return cached;
}

/** One setting, as every consumer (CLI flags, env vars, docs, hints) sees it. */
export interface Setting {
  /** Dotted name: `workers`, `log.level`. */
  name: string;
  pointer: string;
  path: string[];
  schema: JsonSchema;
  /** `TSICORN_LOG_LEVEL` for `log.level`. */
  envVar: string;
}

const isGroup = (s: JsonSchema) => s.type === 'object' && s.properties !== undefined;

let settingsCache: Setting[] | null = null;
/** Every leaf setting in schema order; groups (`log`, `tls`) are walked, not listed. */
export function allSettings(): Setting[] {
  if (settingsCache) return settingsCache;
  const out: Setting[] = [];
  const walk = (props: Record<string, JsonSchema>, path: string[]) => {
    for (const [key, schema] of Object.entries(props)) {
      if (key === '$schema') continue;
      const here = [...path, key];
      if (isGroup(schema)) walk(schema.properties ?? {}, here);
      else
        out.push({
          name: here.join('.'),
          pointer: here.map(pointerSegment).join(''),
          path: here,
          schema,
          envVar: `TSICORN_${here.join('_').toUpperCase()}`,
        });
    }
  };
  walk(serverSchema().properties ?? {}, []);
  settingsCache = out;
  return out;
}

/**
 * The schema that governs the value at `segments`, following properties, items and
 * additionalProperties, and into the branch of a oneOf/anyOf that can hold children.
 */
export function schemaAt(root: JsonSchema, segments: readonly string[]): JsonSchema | undefined {
  let node: JsonSchema | undefined = root;
  for (const seg of segments) {
    if (!node) return undefined;
    node = childSchema(node, seg);
  }
  return node;
}

function childSchema(node: JsonSchema, seg: string): JsonSchema | undefined {
  if (node.properties?.[seg]) return node.properties[seg];
  if (typeof node.additionalProperties === 'object') return node.additionalProperties;
  if (node.items && /^\d+$/.test(seg)) return node.items;
  for (const branch of node.anyOf ?? node.oneOf ?? []) {
    const found = childSchema(branch, seg);
    if (found) return found;
  }
  return undefined;
}
