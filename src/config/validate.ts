import type { ErrorObject } from 'ajv';
import { bindHint } from './bind-address.js';
import { describeSchema, describeValue } from './describe.js';
import { unknownKeyHint } from './hints.js';
import type { ConfigIssue, Origin } from './issue.js';
import { pointerSegment, pointerToSegments, settingName } from './position.js';
import { type JsonSchema, schemaAt, serverSchema } from './schema.js';
import { validate as generated } from './validator.generated.js';

/**
 * The schema compiled by ajv at build time (scripts/validator-code.mjs, run by `npm run generate`),
 * so check-config neither imports ajv's compiler nor compiles the schema on each start. Like a
 * compiled ajv validator it fills every default into the data and leaves its errors on itself.
 */
const validate: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null } = generated;

/**
 * Validates `data` in place (defaults are filled in) and turns ajv's errors into issues that name
 * the setting, what it expects in words, what was found, where, and a hint. ajv reports a failed
 * `oneOf` as one error per branch; those are folded into one issue per value.
 */
export function validateSettings(data: Record<string, unknown>, originOf: (pointer: string, key?: boolean) => Origin): ConfigIssue[] {
  if (validate(data)) return [];
  const root = serverSchema();
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  const add = (key: string, issue: ConfigIssue) => {
    if (seen.has(key)) return;
    seen.add(key);
    issues.push(issue);
  };
  // Errors about unknown or missing keys are specific; report them before any generic
  // "wrong value" for the same place, which ajv also emits for the parent's oneOf.
  const errors = [...(validate.errors ?? [])].sort((a, b) => keywordRank(a) - keywordRank(b));
  for (const err of errors) {
    if (err.keyword === 'additionalProperties') {
      const key = String(err.params.additionalProperty);
      const pointer = err.instancePath + pointerSegment(key);
      const parentPath = pointerToSegments(err.instancePath);
      add(`unknown ${pointer}`, {
        code: 'TSI_ERR_CONFIG_UNKNOWN_SETTING',
        severity: 'error',
        origin: originOf(pointer, true),
        setting: settingName(pointer),
        message: 'unknown setting',
        hint: unknownKeyHint(key, parentPath, schemaAt(root, parentPath)),
      });
    } else if (err.keyword === 'required') {
      const pointer = err.instancePath + pointerSegment(String(err.params.missingProperty));
      add(`missing ${pointer}`, {
        code: 'TSI_ERR_CONFIG_MISSING_SETTING',
        severity: 'error',
        origin: originOf(err.instancePath),
        setting: settingName(pointer),
        message: 'is required but not set',
        hint: requiredHint(pointer),
      });
    } else if (err.keyword === 'propertyNames') {
      const name = String(err.params.propertyName);
      const pointer = err.instancePath + pointerSegment(name);
      add(`name ${pointer}`, {
        code: 'TSI_ERR_CONFIG_INVALID_VALUE',
        severity: 'error',
        origin: originOf(pointer, true),
        setting: settingName(pointer),
        message: `${JSON.stringify(name)} is not a valid name here`,
        hint: 'use letters, digits and underscores, not starting with a digit',
      });
    } else {
      const pointer = err.instancePath;
      if (seen.has(`name ${pointer}`)) continue;
      const schema = schemaAt(root, pointerToSegments(pointer));
      const value = valueAt(data, pointer);
      const isBind = pointer === '/bind' || /^\/bind\/\d+$/.test(pointer);
      const expected = isBind
        ? `an address (host:port, :port, [ipv6]:port, unix:PATH or fd://N)${pointer === '/bind' ? ' or a list of them' : ''}`
        : schema
          ? describeSchema(schema)
          : 'a different value';
      const hint = isBind && typeof value === 'string' ? bindHint(value) : quotedNumberHint(schema, value);
      add(`value ${pointer}`, {
        code: 'TSI_ERR_CONFIG_INVALID_VALUE',
        severity: 'error',
        origin: originOf(pointer),
        setting: settingName(pointer),
        message: `expected ${expected}, got ${describeValue(value)}`,
        ...(hint ? { hint } : {}),
      });
    }
  }
  // A value inside a list or mapping that failed makes its parent's anyOf/oneOf fail too; the
  // deeper issue says more, so the parent's is dropped.
  const deeper = (p: string) => issues.some((i) => i.setting?.startsWith(`${p}.`) || i.setting?.startsWith(`${p}[`));
  return issues.filter((i) => i.code !== 'TSI_ERR_CONFIG_INVALID_VALUE' || !i.setting || !deeper(i.setting));
}

const keywordRank = (e: ErrorObject) => (['additionalProperties', 'required', 'propertyNames'].includes(e.keyword) ? 0 : 1);

/** `workers: "4"`: YAML and JSON read a quoted number as a string. */
function quotedNumberHint(schema: JsonSchema | undefined, value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^-?\d+(\.\d+)?$/.test(value) || !schema || !acceptsNumber(schema)) return undefined;
  return `write the number without quotes: ${value}`;
}

function acceptsNumber(s: JsonSchema): boolean {
  const types = Array.isArray(s.type) ? s.type : [s.type];
  return types.includes('integer') || types.includes('number') || (s.oneOf ?? s.anyOf ?? []).some(acceptsNumber);
}

function requiredHint(pointer: string): string | undefined {
  if (pointer === '/app') return 'name the module to serve, e.g. `app: app.js` (or pass it: `tsicorn app.js`)';
  return undefined;
}

export function valueAt(data: unknown, pointer: string): unknown {
  let node = data;
  for (const seg of pointerToSegments(pointer)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[seg];
  }
  return node;
}
