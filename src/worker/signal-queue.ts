/**
 * A worker's signals, caught before anything else loads: this module is the first import of
 * entry.ts, and ES modules evaluate in import order, so these handlers exist before Node's
 * built-ins, pino, the fetch adapter and the rest of the worker (main.ts, imported after) load.
 * With no handler SIGUSR1 would open an inspector on 127.0.0.1:9229, and SIGTERM or a terminal's
 * SIGINT would end the process mid-boot instead of letting it stop as the master asked. What
 * remains is Node's own bootstrap, before any of our code runs.
 */
export const WORKER_SIGNALS: NodeJS.Signals[] = [
  'SIGTERM',
  'SIGINT',
  'SIGQUIT',
  'SIGHUP',
  'SIGUSR1',
  'SIGUSR2',
  'SIGTTIN',
  'SIGTTOU',
  'SIGWINCH',
];

/** Signals that stop a worker; one that comes before the boot message ends the process. */
const STOP_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGTERM', 'SIGINT', 'SIGQUIT']);

const pending: NodeJS.Signals[] = [];
let waitingForBoot = false;
const queue = (signal: NodeJS.Signals) => {
  if (waitingForBoot && STOP_SIGNALS.has(signal)) process.exit(0);
  pending.push(signal);
};
for (const signal of WORKER_SIGNALS) process.on(signal, queue);

/**
 * The worker's modules are loaded and it waits for its boot message, which a standby
 * (standby_workers) may do for hours: a stop signal now ends it at once, as one replayed after
 * the boot would (with nothing served yet), instead of lying in the queue until the master
 * makes a worker of it and the worker exits then. Call the function it returns when the boot
 * message has come: signals queue again until takeSignals().
 */
export function awaitingBoot(): () => void {
  waitingForBoot = true;
  if (pending.some((signal) => STOP_SIGNALS.has(signal))) process.exit(0);
  return () => {
    waitingForBoot = false;
  };
}

/** The worker is ready to act: hand over the queued signals and every later one to `handler`. */
export function takeSignals(handler: (signal: NodeJS.Signals) => void): void {
  for (const signal of WORKER_SIGNALS) {
    process.off(signal, queue);
    process.on(signal, handler);
  }
  for (const signal of pending.splice(0)) handler(signal);
}
