import type { WorkerMessage } from './messages.js';

/** Sends to the master if the channel is still open (it is gone once the master died). */
export function sendToMaster(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

/** process.send is asynchronous: exiting right after it could lose the message that says why. */
export function sendThenExit(message: WorkerMessage, code: number, beforeExit: () => void = () => {}): never {
  const exit = () => {
    beforeExit();
    process.exit(code);
  };
  if (process.connected && process.send) process.send(message, exit);
  else exit();
  return undefined as never;
}
