import { allSettings } from './schema.js';
import type { Settings } from './settings.js';

export type ReloadClass = 'live' | 'rotate' | 'restart';

/** One setting whose value differs between two resolved configs. */
export interface SettingChange {
  name: string;
  from: unknown;
  to: unknown;
  /** What the change needs, from the schema's `x-reload`. */
  reload: ReloadClass;
}

function valueAt(settings: Settings, path: readonly string[]): unknown {
  let node: unknown = settings;
  for (const key of path) node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  return node;
}

/** The settings that changed, in schema order; each says what its change needs. */
export function diffSettings(before: Settings, after: Settings): SettingChange[] {
  const changes: SettingChange[] = [];
  for (const setting of allSettings()) {
    const from = valueAt(before, setting.path);
    const to = valueAt(after, setting.path);
    if (JSON.stringify(from) === JSON.stringify(to)) continue;
    const reload = (setting.schema['x-reload'] as ReloadClass | undefined) ?? 'rotate';
    changes.push({ name: setting.name, from, to, reload });
  }
  return changes;
}

/** `workers: 2 → 3` — how a change reads in the log. */
export function describeChange(change: SettingChange): string {
  const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
  return `${change.name}: ${show(change.from)} → ${show(change.to)}`;
}
