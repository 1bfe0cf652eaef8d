import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { Logger, pino as Pino } from 'pino';
import type { Settings } from '../config/settings.js';
import { LineWriter, type StaleReason, WATCH_MS } from './line-writer.js';

export type { Logger };

/** The fields every line of a process carries: `component` is master or worker. */
export interface LogBindings {
  component: 'master' | 'worker';
  worker?: number;
  generation?: number;
}

type LogSettings = Settings['log'];

/** Lines lost since the last report, and the failed writes that lost them. */
export interface LossReport {
  dropped: number;
  errors: number;
}

const FAILED = 'server log write failed; lines are dropped until it is reopened (USR1)';

/**
 * The stream pino writes to, whose target can be swapped (a reload changing `log.errorlog` or
 * `log.format`) or reopened (logrotate's USR1, or the file was removed) while every logger that
 * holds it carries on. Lines are written synchronously, one write each (LineWriter): the server
 * log is low-volume and must not lose the line that explains a crash. `text` is pretty-printed
 * here, in-process and synchronously, one line per record.
 */
class SwitchableDestination {
  private writer: LineWriter | null = null;
  /** The file written, or null for the inherited descriptor. */
  private path: string | null = null;
  private pretty: ((line: string) => string) | null = null;
  private key = '';
  private watch: NodeJS.Timeout | undefined;
  private loss: LossReport = { dropped: 0, errors: 0 };
  private reported = false;
  /** The file the first configure() could not open (the inherited descriptor is written instead). */
  openFailure: { path: string; err: Error } | null = null;

  constructor(
    private readonly fd: number,
    private readonly bindings: LogBindings,
    private readonly onStale: (reason: StaleReason, path: string, loss: LossReport | null) => void,
  ) {}

  async configure(log: LogSettings, baseDir: string): Promise<void> {
    let dest = log.errorlog === '-' ? null : resolve(baseDir, log.errorlog);
    const key = `${dest}|${log.format}`;
    if (key === this.key) return;
    let pretty: ((line: string) => string) | null = null;
    if (log.format === 'text') {
      const { prettyFactory } = await import('pino-pretty');
      pretty = prettyFactory({
        colorize: dest === null && process.stderr.isTTY === true,
        singleLine: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'hostname',
        // An `err` is printed like any field, as JSON on the record's line; pino-pretty would
        // otherwise put its stack on lines of its own, which no line-based reader can group.
        errorLikeObjectKeys: [],
      });
    }
    const onError = (err: NodeJS.ErrnoException, lost: number) => this.failed(err, lost);
    let writer: LineWriter;
    this.openFailure = null;
    try {
      writer = new LineWriter({ target: dest ?? this.fd, gather: false, onError });
    } catch (err) {
      // At a reload the file in use is kept (the caller says why). A process starting writes to
      // the inherited descriptor instead: a worker that cannot open its log must not crash-loop.
      if (this.writer || dest === null) throw err;
      writer = new LineWriter({ target: this.fd, gather: false, onError });
      this.openFailure = { path: dest, err: err as Error };
      dest = null;
    }
    const old = this.writer;
    this.writer = writer;
    this.path = dest;
    this.pretty = pretty;
    // After a fallback, the next reload tries the file again, even with the same settings.
    this.key = this.openFailure ? '' : key;
    old?.close();
    clearInterval(this.watch);
    this.watch = dest === null ? undefined : setInterval(() => this.check(), WATCH_MS).unref();
  }

  write(line: string): void {
    this.writer?.write(this.pretty ? this.pretty(line) : line);
  }

  /**
   * A write failed (disk full, file gone): counted, and said once on the inherited stderr — the
   * server log itself is where it cannot be said.
   */
  private failed(err: NodeJS.ErrnoException, lost: number): void {
    this.loss.errors++;
    this.loss.dropped += lost;
    if (this.reported) return;
    this.reported = true;
    const line = JSON.stringify({
      level: 'error',
      time: new Date().toISOString(),
      pid: process.pid,
      ...this.bindings,
      path: this.path ?? 'stderr',
      code: err.code ?? 'UNKNOWN',
      error: err.message,
      msg: FAILED,
    });
    try {
      writeSync(this.fd, `${this.pretty ? this.pretty(line).trimEnd() : line}\n`);
    } catch {
      // stderr fails too: nowhere left to say it; the counts are reported at the next reopen.
    }
  }

  private check(): void {
    const reason = this.writer?.stale();
    if (!reason || this.path === null) return;
    this.onStale(reason, this.path, this.reopen());
  }

  /** logrotate moved the file: open the path again. Returns what was lost since the last reopen. */
  reopen(): LossReport | null {
    const loss = this.loss;
    this.loss = { dropped: 0, errors: 0 };
    this.reported = false;
    if (this.writer && this.path !== null) {
      try {
        this.writer.reopen();
      } catch (err) {
        this.failed(err as NodeJS.ErrnoException, 0);
      }
    }
    return loss.errors > 0 ? loss : null;
  }
}

/**
 * pino, required when a process first writes a line: ~20 ms of CPU, a seventh of a worker's boot,
 * and a worker that serves without trouble writes nothing until it stops (the master says when it
 * is ready). Required, not imported: pino is CommonJS, and this keeps the load synchronous.
 */
let loaded: typeof Pino | undefined;
function loadPino(): typeof Pino {
  loaded ??= (createRequire(import.meta.url)('pino') as { pino: typeof Pino }).pino;
  return loaded;
}

/** pino's levels, for deciding without pino whether a line would be written. */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Number.POSITIVE_INFINITY };
const INFO = 30;
const ignore = () => {};

/**
 * A logger made on first use: a line at a level that is off is dropped without making it (as
 * pino's own no-op methods would), anything else makes the pino logger and goes to it.
 */
function lazyLogger(level: string, make: () => Logger): Logger {
  let real: Logger | undefined;
  let threshold = LEVELS[level] ?? INFO;
  const facade = {} as Logger;
  return new Proxy(facade, {
    get(_target, prop) {
      if (real === undefined) {
        const at = typeof prop === 'string' ? LEVELS[prop] : undefined;
        if (at !== undefined && at < threshold) return ignore;
        if (prop === 'level') return level;
        real ??= make();
      }
      const value: unknown = Reflect.get(real, prop, real);
      return typeof value === 'function' ? value.bind(real) : value;
    },
    set(_target, prop, value) {
      if (real === undefined && prop === 'level') {
        level = String(value);
        threshold = LEVELS[level] ?? INFO;
        return true;
      }
      real ??= make();
      return Reflect.set(real, prop, value, real);
    },
  });
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
  let logger: Logger | null = null;
  const destination = new SwitchableDestination(fd, bindings, (reason, path, loss) => {
    // Written to the new file: where whoever removed the old one will look. A replaced file is
    // what logrotate leaves just before its USR1; a removed one is a surprise.
    const level = reason === 'removed' || loss ? 'warn' : 'info';
    logger?.[level]({ path, reason, ...loss }, 'server log file removed or replaced; reopened');
  });
  await destination.configure(log, baseDir);
  const created = lazyLogger(log.level, () => {
    const pino = loadPino();
    return pino(
      {
        // The level now: a reload may have changed it before the first line.
        level: created.level,
        base: { pid: process.pid, ...bindings },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label: string) => ({ level: label }) },
      },
      destination,
    );
  });
  logger = created;
  if (destination.openFailure) {
    const { path, err } = destination.openFailure;
    created.error({ err, path }, 'server log file cannot be opened; writing to stderr');
  }
  return {
    logger: created,
    configure: async (next, dir) => {
      created.level = next.level;
      await destination.configure(next, dir);
    },
    reopen: () => {
      const loss = destination.reopen();
      if (loss) created.warn(loss, 'server log reopened after write errors');
    },
  };
}

/** The logger alone, for callers that never reconfigure it. */
export async function createServerLogger(log: LogSettings, baseDir: string, bindings: LogBindings): Promise<Logger> {
  return (await createServerLog(log, baseDir, bindings)).logger;
}
