import { SignalInbox } from '../master/signals.js';

/**
 * The master's signals, caught while the CLI's own modules are still loading: this module is the
 * first import of main.ts, and ES modules evaluate in import order, so its handlers exist before
 * commander, pino or the config code load (tens of milliseconds in which SIGUSR1 would open an
 * inspector on 127.0.0.1:9229 and SIGHUP would kill the process). What remains is Node's own
 * bootstrap, before any of our code runs. `tsicorn serve` adopts the inbox; every other command
 * gives the signals back (`releaseSignals`).
 */
export const earlySignals = new SignalInbox();

/** For commands that are not a server: a signal that came early takes its default action now. */
export function releaseSignals(): void {
  const pending = [...earlySignals.pending()];
  earlySignals.dispose();
  for (const signal of pending) if (signal !== 'SIGUSR1' && signal !== 'SIGWINCH') process.kill(process.pid, signal);
}
