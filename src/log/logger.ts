import { resolve } from 'node:path';
import { type Logger, pino } from 'pino';
import type { Settings } from '../config/settings.js';

/** pino's own destination (a sonic-boom stream). */
type Destination = ReturnType<typeof pino.destination>;

export type { Logger };

/** The fields every line of a process carries: `component` is master or worker. */
export interface LogBindings {
  component: 'master' | 'worker';
  worker?: number;
  generation?: number;
}

type LogSettings = Settings['log'];
interface Writable {
  write(chunk: string): unknown;
}

/**
 * The stream pino writes to, whose target can be swapped (a reload changing `log.errorlog` or
 * `log.format`) or reopened (logrotate's USR1) while every logger that holds it carries on.
 */
class SwitchableDestination {
  private file: Destination | null = null;
  /** The file written, or null for the inherited descriptor. */
  private path: string | null = null;
  private target: Writable | null = null;
  private key = '';

  constructor(private readonly fd: number) {}

  async configure(log: LogSettings, baseDir: string): Promise<void> {
    const dest = log.errorlog === '-' ? null : resolve(baseDir, log.errorlog);
    const key = `${dest}|${log.format}`;
    if (key === this.key) return;
    const old = this.file;
    // Synchronous writes: the server log is low-volume and must not lose the line that explains a crash.
    const file = pino.destination({ ...(dest === null ? { fd: this.fd } : { dest, mkdir: true, append: true }), sync: true });
    file.on('error', () => {
      // A failing server log (disk full) must not crash the process; nothing better to do here.
    });
    let target: Writable = file;
    if (log.format === 'text') {
      const { default: pretty } = await import('pino-pretty');
      target = pretty({
        destination: file,
        colorize: dest === null && process.stderr.isTTY === true,
        singleLine: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'hostname',
      });
    }
    const oldPath = this.path;
    this.file = file;
    this.path = dest;
    this.target = target;
    this.key = key;
    if (old && oldPath !== null) old.end();
  }

  write(line: string): void {
    this.target?.write(line);
  }

  /** logrotate moved the file: open the path again (a no-op for stderr). */
  reopen(): void {
    if (this.file && this.path !== null) this.file.reopen();
  }
}

export interface ServerLog {
  logger: Logger;
  /** Applies changed `log.*` settings without a restart. */
  configure(log: LogSettings, baseDir: string): Promise<void>;
  reopen(): void;
}

/**
 * The server log of one process, through pino with a destination owned by this process (a pino
 * transport would cost a thread and ~11 MiB per worker). `text` pretty-prints in-process for a
 * terminal; `json` is one object a line for log shippers. `fd` is where `-` writes (stderr, or
 * the master's stderr handed to a worker whose own stderr is captured).
 */
export async function createServerLog(log: LogSettings, baseDir: string, bindings: LogBindings, fd = 2): Promise<ServerLog> {
  const destination = new SwitchableDestination(fd);
  await destination.configure(log, baseDir);
  const logger = pino(
    {
      level: log.level,
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label: string) => ({ level: label }) },
    },
    destination,
  );
  return {
    logger,
    configure: async (next, dir) => {
      logger.level = next.level;
      await destination.configure(next, dir);
    },
    reopen: () => destination.reopen(),
  };
}

/** The logger alone, for callers that never reconfigure it. */
export async function createServerLogger(log: LogSettings, baseDir: string, bindings: LogBindings): Promise<Logger> {
  return (await createServerLog(log, baseDir, bindings)).logger;
}
