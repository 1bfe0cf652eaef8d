import type { SchemaResolvedConfig } from './settings.generated.js';

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/**
 * The resolved settings every part of tsicorn reads: the schema's type with defaults filled in,
 * frozen, with the few shorthand forms normalized (`bind: ":8000"` becomes a one-item list).
 */
export type Settings = DeepReadonly<Omit<SchemaResolvedConfig, 'bind'> & { bind: string[] }>;

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
