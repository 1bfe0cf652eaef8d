import { allSettings } from './schema.js';
import { deepFreeze, type Settings } from './settings.js';

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

/**
 * `next` with the settings named in `keep` set back to their values in `running`: a setting whose
 * change needs a master restart (pidfile, user, backlog) keeps the value the master actually runs
 * with until that restart, so everything that reads it (`tsicorn reload` finding the pidfile) still
 * finds the truth.
 */
export function keepRunningValues(next: Settings, running: Settings, keep: readonly SettingChange[]): Settings {
  if (keep.length === 0) return next;
  const copy = structuredClone(next) as Record<string, unknown>;
  for (const change of keep) {
    const path = change.name.split('.');
    const last = path.pop() as string;
    let node = copy;
    for (const key of path) node = node[key] as Record<string, unknown>;
    node[last] = structuredClone(valueAt(running, [...path, last]));
  }
  return deepFreeze(copy as unknown as Settings);
}
