/**
 * A worker's signals, caught before anything else loads: this module is the first import of
 * main.ts, and ES modules evaluate in import order, so these handlers exist before pino, the
 * fetch adapter and the rest of the worker load. With no handler SIGUSR1 would open an inspector
 * on 127.0.0.1:9229, and SIGTERM or a terminal's SIGINT would end the process mid-boot instead
 * of letting it stop as the master asked. What remains is Node's own bootstrap, before any of
 * our code runs.
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

const pending: NodeJS.Signals[] = [];
const queue = (signal: NodeJS.Signals) => pending.push(signal);
for (const signal of WORKER_SIGNALS) process.on(signal, queue);

/** The worker is ready to act: hand over the queued signals and every later one to `handler`. */
export function takeSignals(handler: (signal: NodeJS.Signals) => void): void {
  for (const signal of WORKER_SIGNALS) {
    process.off(signal, queue);
    process.on(signal, handler);
  }
  for (const signal of pending.splice(0)) handler(signal);
}
