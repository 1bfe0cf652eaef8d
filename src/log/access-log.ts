import { resolve } from 'node:path';
import type { Settings } from '../config/settings.js';
import { type AccessFormatter, type AccessRecord, compileAccessFormat } from './access-format.js';
import { LineWriter } from './line-writer.js';
import type { Logger } from './logger.js';

/**
 * A worker's access log: the format compiled once, lines through a LineWriter (whole lines per
 * write, so several workers never tear each other's lines). A write that fails (disk full, file
 * gone, permissions) is counted and reported once, never a crash; lines are dropped until the
 * next reopen (USR1).
 */
export class AccessLog {
  private stream: LineWriter | null = null;
  private format: AccessFormatter | null = null;
  private target: string | null = null;
  private broken = false;
  /** Lines dropped since the log broke, and write errors seen: for logs and status. */
  dropped = 0;
  errors = 0;

  constructor(private readonly log: Logger) {}

  get enabled(): boolean {
    return this.stream !== null;
  }

  /** (Re)applies `log.accesslog` and `log.access_format`: at start and at a live reload. */
  configure(settings: Settings['log'], baseDir: string): void {
    this.format = compileAccessFormat(settings.access_format);
    const target = settings.accesslog === null ? null : settings.accesslog === '-' ? '-' : resolve(baseDir, settings.accesslog);
    if (target === this.target) return;
    this.close();
    this.target = target;
    if (target !== null) this.open();
  }

  private open(): void {
    const target = this.target;
    if (target === null) return;
    const onError = (err: NodeJS.ErrnoException) => {
      this.errors++;
      if (this.broken) return;
      this.broken = true;
      this.log.error({ err, path: target }, 'access log write failed; lines are dropped until the log is reopened (USR1)');
    };
    try {
      this.stream = new LineWriter(target, onError);
      this.broken = false;
    } catch (err) {
      // The file cannot be opened (permissions, missing mount): report, serve on without it.
      onError(err as NodeJS.ErrnoException);
    }
  }

  write(record: AccessRecord): void {
    if (!this.stream || !this.format) return;
    if (this.broken) {
      this.dropped++;
      return;
    }
    this.stream.write(`${this.format(record)}\n`);
  }

  /** logrotate moved the file: write to a fresh one at the same path; also recovers a broken log. */
  reopen(): void {
    if (this.target === null || this.target === '-') return;
    if (this.broken && this.dropped > 0)
      this.log.warn({ dropped: this.dropped, path: this.target }, 'access log reopened after write errors');
    this.close();
    this.open();
    this.dropped = 0;
  }

  /** Writes what is buffered, synchronously: before the worker exits. */
  flush(): void {
    this.stream?.flush();
  }

  close(): void {
    const stream = this.stream;
    this.stream = null;
    stream?.close();
  }
}
