import { resolve } from 'node:path';
import { pino } from 'pino';
import type { Settings } from '../config/settings.js';
import { type AccessFormatter, type AccessRecord, compileAccessFormat } from './access-format.js';
import type { Logger } from './logger.js';

/** A pipe write of at most this many bytes is atomic (POSIX PIPE_BUF on Linux). */
const PIPE_BUF = 4096;
/** Bytes gathered before a write to a file, and the longest a line waits. */
const BUFFER = 8192;
const FLUSH_MS = 1000;

/**
 * A worker's access log. Each worker appends to the same file or stdout; lines never tear or
 * interleave because sonic-boom writes whole lines per write(2) — to a file opened O_APPEND,
 * which the kernel appends atomically, and to stdout in writes of at most PIPE_BUF bytes. A write
 * that fails (disk full, file gone, permissions) is counted and reported, never a crash (an
 * unhandled ENOSPC on a write stream kills a Node process); lines are dropped until the next
 * reopen (USR1).
 */
/** pino's own destination (a sonic-boom stream). */
type Destination = ReturnType<typeof pino.destination>;

export class AccessLog {
  private stream: Destination | null = null;
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
    const stream =
      target === '-' ? pino.destination({ fd: 1, maxWrite: PIPE_BUF }) : pino.destination({ dest: target, append: true, mkdir: true });
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.errors++;
      if (this.broken) return;
      this.broken = true;
      this.log.error({ err, path: target }, 'access log write failed; lines are dropped until the log is reopened (USR1)');
    });
    this.stream = stream;
    this.broken = false;
  }

  write(record: AccessRecord): void {
    if (!this.stream || !this.format) return;
    if (this.broken) {
      this.dropped++;
      return;
    }
    // Typed for strings, but in buffer mode sonic-boom takes Buffers.
    this.stream.write(Buffer.from(`${this.format(record)}\n`) as unknown as string);
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
    try {
      this.stream?.flushSync();
    } catch {
      // Nothing more can be done with a failing log at exit.
    }
  }

  close(): void {
    const stream = this.stream;
    this.stream = null;
    if (!stream) return;
    this.flush();
    if (this.target !== '-') stream.end();
  }
}
