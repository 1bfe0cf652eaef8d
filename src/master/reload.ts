import { describeChange, diffSettings, type SettingChange } from '../config/diff.js';
import { type ConfigIssue, formatIssue } from '../config/issue.js';
import type { LoadedConfig, LoadOutcome } from '../config/load.js';
import { TsicornError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { bindListeners, type Listener } from './listeners.js';

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

/** The listeners a new `bind` needs: those kept, and new ones bound now (a bind failure rejects). */
export async function nextListeners(current: Listener[], bind: readonly string[]): Promise<{ listeners: Listener[]; remove: Listener[] }> {
  const { keep, add, remove } = diffListeners(current, bind);
  const all = [...keep, ...(add.length > 0 ? await bindListeners(add) : [])];
  return { listeners: bind.map((b) => all.find((l) => l.address === b) as Listener), remove };
}

/**
 * The listeners a rotation to `bind` runs on: new ones are bound now, before the rotation (a bind
 * failure fails the reload), removed ones closed after it. Under socket activation or round-robin
 * (`fixed` says which) the listeners cannot change, and a changed `bind` says so.
 */
export function listenersForReload(
  current: Listener[],
  bind: readonly string[],
  changes: readonly SettingChange[],
  fixed: string | null,
  log: Logger,
): Promise<{ listeners: Listener[]; remove: Listener[] }> {
  if (fixed === null) return nextListeners(current, bind);
  if (changes.some((c) => c.name === 'bind')) {
    log.warn({ reason: fixed }, 'bind changed but the listeners are fixed; restart the server to change them');
  }
  return Promise.resolve({ listeners: current, remove: [] });
}

/** Logs what a reload plan found; returns the plan when there is something to apply. */
export function reportPlan(log: Logger, plan: ReloadPlan, trigger: ReloadTrigger): Extract<ReloadPlan, { kind: 'apply' }> | null {
  if (plan.kind === 'failed') {
    log.error(
      { trigger: trigger.source, path: trigger.path, errors: plan.errors },
      'reload failed: config invalid; keeping the running config and workers',
    );
    for (const line of plan.errors) log.error({ trigger: trigger.source }, line);
    return null;
  }
  if (plan.kind === 'unchanged') {
    log.info({ path: trigger.path }, 'config file saved without changes; nothing to do');
    return null;
  }
  log.info({ trigger: trigger.source, path: trigger.path, changes: plan.changes.map(describeChange) }, 'config reloaded');
  for (const change of plan.needRestart) {
    log.warn({ setting: change.name, change: describeChange(change) }, 'this change needs a master restart (USR2) to take effect');
  }
  return plan;
}
