import type { ControlReply, ControlRequest } from '../control/protocol.js';
import type { WorkerMessage } from '../ipc/messages.js';
import type { Listener } from './listeners.js';
import type { ReloadTrigger } from './reload.js';
import type { SuccessorEvent } from './upgrade.js';
import type { WorkerHandle } from './worker-handle.js';
import type { Generation } from './worker-pool.js';

/**
 * What the master's queue carries (src/master/master.ts): the modules that feed it or read its
 * state import these from here, not from the master, so none of them depends on master.ts.
 */
export type MasterEvent =
  | { type: 'signal'; signal: NodeJS.Signals }
  | { type: 'worker-message'; worker: WorkerHandle; message: WorkerMessage }
  | { type: 'worker-exit'; worker: WorkerHandle; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'reload'; trigger: ReloadTrigger }
  | { type: 'rotate'; next: Generation; remove: Listener[]; startedAt: number }
  | SuccessorEvent
  | { type: 'control'; request: ControlRequest; reply: (answer: ControlReply, end?: boolean) => void }
  | { type: 'tick' };

/** booting → running ⇄ rotating → stopping → halted. */
export type MasterState = 'booting' | 'running' | 'rotating' | 'stopping' | 'halted';
