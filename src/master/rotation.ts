import type { LoadedConfig } from '../config/load.js';
import type { Listener } from './listeners.js';
import type { Generation } from './worker-pool.js';

/**
 * A rotation in progress: generation N+1 is booting and replaces generation N worker by worker.
 * Nothing of the new config takes effect before the rotation finishes (the worker count excepted,
 * which the new generation is booted with), so an abandoned rotation leaves the master exactly as
 * it was: `previousTarget` is the count to go back to.
 */
export interface Rotation {
  next: Generation;
  /** Listeners the new config dropped: closed once the old workers are gone. */
  remove: Listener[];
  startedAt: number;
  previousTarget: number;
}

/** Listeners a generation opened that the running one does not use: closed when it is given up. */
export function closeUnshared(generation: Generation, running: Generation): void {
  for (const listener of generation.listeners) if (!running.listeners.includes(listener)) listener.close();
}

/** True when `log.*` differs: the master's and the workers' loggers are reconfigured live. */
export function logSettingsChanged(before: LoadedConfig, after: LoadedConfig): boolean {
  return JSON.stringify(before.settings.log) !== JSON.stringify(after.settings.log) || before.baseDir !== after.baseDir;
}
