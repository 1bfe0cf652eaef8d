/** The signals the master acts on (Gunicorn's set, so ops muscle memory works). */
export const MASTER_SIGNALS: NodeJS.Signals[] = [
  'SIGHUP',
  'SIGTERM',
  'SIGINT',
  'SIGQUIT',
  'SIGTTIN',
  'SIGTTOU',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
];

/**
 * Catches the master's signals from the first moment of `tsicorn` (with no handler, SIGUSR1
 * would open an inspector and SIGHUP would kill the process) and only records them: the master
 * acts on them from its event queue. Signals that arrive before the master exists are replayed.
 */
export class SignalInbox {
  private readonly early: NodeJS.Signals[] = [];
  private deliver: ((signal: NodeJS.Signals) => void) | null = null;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.deliver) this.deliver(signal);
    else this.early.push(signal);
  };

  constructor() {
    for (const signal of MASTER_SIGNALS) process.on(signal, this.onSignal);
  }

  attach(deliver: (signal: NodeJS.Signals) => void): void {
    this.deliver = deliver;
    for (const signal of this.early.splice(0)) deliver(signal);
  }

  /** Signals that came before the master existed, for a start-up that ends early (TERM during boot). */
  pending(): readonly NodeJS.Signals[] {
    return this.early;
  }

  dispose(): void {
    for (const signal of MASTER_SIGNALS) process.off(signal, this.onSignal);
  }
}
