import { describeChange, diffSettings, type SettingChange } from '../config/diff.js';
import { type ConfigIssue, formatIssue } from '../config/issue.js';
import type { LoadedConfig, LoadOutcome } from '../config/load.js';
import { TsicornError } from '../errors.js';
import type { Listener } from './listeners.js';

/**
 * What asked for a reload: a signal (HUP), the config file watcher, the code watcher
 * (`reload.code`), or `tsicorn reload`; `path` is the file that changed.
 */
export interface ReloadTrigger {
  source: 'signal' | 'watch' | 'code' | 'control';
  path?: string;
}

export type ReloadPlan =
  | { kind: 'failed'; errors: string[] }
  | { kind: 'unchanged' }
  | { kind: 'apply'; config: LoadedConfig; changes: SettingChange[]; rotate: boolean; needRestart: SettingChange[] };

/**
 * Step 1 of a reload (DESIGN.md 4): the file is read and validated by the very function
 * check-config uses. Invalid → every error as check-config prints it, and nothing changes. A
 * watcher event whose file text did not change does nothing; HUP and `tsicorn reload` always
 * rotate (that is how a code deploy is picked up).
 */
export function planReload(current: LoadedConfig, load: () => LoadOutcome, trigger: ReloadTrigger): ReloadPlan {
  let outcome: LoadOutcome;
  try {
    outcome = load();
  } catch (err) {
    if (err instanceof TsicornError) return { kind: 'failed', errors: [`${err.message} (${err.code})`] };
    throw err;
  }
  if (!outcome.ok) return { kind: 'failed', errors: outcome.issues.map((i: ConfigIssue) => formatIssue(i)) };
  const config = outcome.config;
  if (trigger.source === 'watch' && config.text === current.text) return { kind: 'unchanged' };
  const changes = diffSettings(current.settings, config.settings);
  const rotate = trigger.source !== 'watch' || changes.some((c) => c.reload === 'rotate');
  return { kind: 'apply', config, changes, rotate, needRestart: changes.filter((c) => c.reload === 'restart') };
}

export { describeChange };

/** Which listeners a new `bind` keeps, which it adds (to bind now) and which it drops (to close after the rotation). */
export function diffListeners(current: Listener[], bind: readonly string[]): { keep: Listener[]; add: string[]; remove: Listener[] } {
  const keep = current.filter((l) => bind.includes(l.address));
  const add = bind.filter((b) => !current.some((l) => l.address === b));
  const remove = current.filter((l) => !bind.includes(l.address));
  return { keep, add, remove };
}
