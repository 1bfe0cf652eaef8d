import { resolve } from 'node:path';
import type { Settings } from '../config/settings.js';
import type { ByteFormatter } from './access-bytes.js';
import type { AccessFormatter, AccessRecord } from './access-format.js';
import { LineWriter, WATCH_MS } from './line-writer.js';
import type { Logger } from './logger.js';

/**
 * A worker's access log: the format compiled once, lines through a LineWriter (whole lines per
 * write, so several workers never tear each other's lines; within PIPE_BUF to a pipe).
 *
 * A write that fails (disk full, permissions) is reported once and never crashes the worker:
 * the lines of the failed write and every later one are counted in `dropped`, each failure in
 * `errors`, and both are reported when the log is reopened (USR1, or the file was removed or
 * replaced: checked every WATCH_MS) or the worker exits. A pipe whose reader stalls for more than
 * a second loses the lines of that write only: the log stays open.
 */
export class AccessLog {
  private stream: LineWriter | null = null;
  private format: AccessFormatter | null = null;
  /** The same format written straight into the writer's buffer: see access-bytes.ts. */
  private bytes: ByteFormatter | null = null;
  /** The file path, `-` for stdout, or null when off. */
  private target: string | null = null;
  private broken = false;
  /** A slow pipe reader was reported (once until the next reopen). */
  private stalled = false;
  private watch: NodeJS.Timeout | undefined;
  /** configure() calls so far: one that waited for the formatters must not undo a later one. */
  private configureCalls = 0;
  /** Lines lost since the log broke, and failed writes (or opens): for the report at reopen. */
  dropped = 0;
  errors = 0;

  constructor(
    private readonly log: Logger,
    /** Where `-` writes: 1, or the master's stdout handed to a worker whose own stdout is captured. */
    private readonly stdoutFd = 1,
  ) {}

  get enabled(): boolean {
    return this.target !== null;
  }

  private get where(): string {
    return this.target === '-' ? 'stdout' : (this.target ?? '');
  }

  /** (Re)applies `log.accesslog` and `log.access_format`: at start and at a live reload. */
  async configure(settings: Settings['log'], baseDir: string): Promise<void> {
    const call = ++this.configureCalls;
    const target = settings.accesslog === null ? null : settings.accesslog === '-' ? '-' : resolve(baseDir, settings.accesslog);
    if (target === null) {
      this.format = null;
      this.bytes = null;
    } else {
      // The formatters load only with a log that is on (off by default): five modules that took
      // ~6 ms to import in a fresh process, on every worker's boot before.
      const [{ compileAccessFormat }, { compileAccessBytes }] = await Promise.all([
        import('./access-format.js'),
        import('./access-bytes.js'),
      ]);
      // Two live reloads in a row: the later settings stand, even if they were applied first.
      if (call !== this.configureCalls) return;
      this.format = compileAccessFormat(settings.access_format);
      this.bytes = compileAccessBytes(settings.access_format);
    }
    if (target === this.target) return;
    this.close();
    this.target = target;
    if (target !== null) this.open();
  }

  private open(): void {
    const target = this.target;
    if (target === null) return;
    try {
      this.stream = new LineWriter({
        target: target === '-' ? this.stdoutFd : target,
        gather: true,
        onError: (err, lost) => this.failed(err, lost),
      });
    } catch (err) {
      // The file cannot be opened (permissions, missing mount): report, serve on without it.
      this.failed(err as NodeJS.ErrnoException, 0);
    }
    if (target !== '-') this.watch ??= setInterval(() => this.checkFile(), WATCH_MS).unref();
  }

  private failed(err: NodeJS.ErrnoException, lost: number): void {
    this.errors++;
    this.dropped += lost;
    if (err.code === 'EAGAIN') {
      // A pipe whose reader stalled past the writer's wait: those lines are lost, the next may pass.
      if (!this.stalled) this.log.warn({ path: this.where, dropped: this.dropped }, 'access log reader too slow; lines dropped');
      this.stalled = true;
      return;
    }
    if (this.broken) return;
    this.broken = true;
    this.log.error(
      { err, path: this.where, dropped: this.dropped },
      'access log write failed; lines are dropped until the log is reopened (USR1)',
    );
  }

  write(record: AccessRecord): void {
    if (!this.format || this.target === null) return;
    if (this.broken || !this.stream) {
      this.dropped++;
      return;
    }
    // A line that does not fit the writer's buffer (a pipe's PIPE_BUF) is made as a string, whose
    // fields the formatter shortens so that it fits with its newline; to a file maxLine is unbounded.
    if (this.bytes !== null && this.stream.writeWith(this.bytes, record)) return;
    this.stream.write(`${this.format(record, this.stream.maxLine - 1)}\n`);
  }

  /** The file at the path is not the one open (rm, or mv and a new file): write to the path again. */
  private checkFile(): void {
    const reason = this.stream?.stale();
    if (!reason) return;
    // A replaced file is what logrotate leaves just before its USR1; a removed one is a surprise.
    const level = reason === 'removed' ? 'warn' : 'info';
    this.reopen();
    this.log[level]({ path: this.where, reason }, 'access log file removed or replaced; reopened');
  }

  /**
   * logrotate moved the file: write to a fresh one at the same path. Also the way back from
   * write errors (for stdout too: a reader that was stuck may have caught up).
   */
  reopen(): void {
    if (this.target === null) return;
    const { dropped, errors } = this;
    this.broken = false;
    this.stalled = false;
    this.dropped = 0;
    this.errors = 0;
    try {
      if (!this.stream) this.open();
      else this.stream.reopen();
    } catch (err) {
      this.failed(err as NodeJS.ErrnoException, 0);
    }
    if (errors > 0) this.log.warn({ path: this.where, dropped, errors }, 'access log reopened after write errors');
  }

  /** Writes what is gathered, synchronously, and reports lines lost: before the worker exits. */
  flush(): void {
    this.stream?.flush();
    if (this.errors > 0) this.log.warn({ path: this.where, dropped: this.dropped, errors: this.errors }, 'access log lines lost');
    this.errors = 0;
    this.dropped = 0;
  }

  close(): void {
    clearInterval(this.watch);
    this.watch = undefined;
    const stream = this.stream;
    this.stream = null;
    this.broken = false;
    stream?.close();
  }
}
