import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** A pipe write of at most this many bytes is atomic (POSIX PIPE_BUF on Linux). */
const PIPE_BUF = 4096;
/** Bytes gathered before a write to a file, and the longest a line waits. */
const FILE_CHUNK = 64 * 1024;
const FLUSH_MS = 200;
/** For a short synchronous pause when a pipe is full. */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * Appends whole lines to a file (O_APPEND) or to stdout, for the access log of one worker.
 *
 * Lines are gathered in memory and written synchronously in large chunks: at 20 000 lines/s per
 * worker, sonic-boom's per-line asynchronous writes through the thread pool cost this machine
 * more than half its throughput, where a 64 KiB write(2) every few hundred lines costs ~20 µs.
 * Every write holds whole lines — to a file opened O_APPEND, which the kernel appends
 * atomically, and to a pipe in chunks of at most PIPE_BUF bytes — so lines from several workers
 * never tear. A failed write throws to the caller, which counts it; the chunk is dropped.
 */
export class LineWriter {
  private fd: number;
  private readonly ownsFd: boolean;
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly chunk: number;

  constructor(
    private readonly target: string | '-',
    private readonly onError: (err: NodeJS.ErrnoException) => void,
  ) {
    this.ownsFd = target !== '-';
    this.fd = this.open();
    this.chunk = target === '-' ? PIPE_BUF : FILE_CHUNK;
  }

  private open(): number {
    if (this.target === '-') return 1;
    mkdirSync(dirname(this.target), { recursive: true });
    return openSync(this.target, 'a');
  }

  /** `line` ends with a newline. */
  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.pendingBytes + bytes > this.chunk && this.pending.length > 0) this.flush();
    this.pending.push(line);
    this.pendingBytes += bytes;
    if (this.pendingBytes >= this.chunk) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const data = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
    try {
      let written = 0;
      let retries = 0;
      while (written < data.length) {
        try {
          written += writeSync(this.fd, data, written);
        } catch (err) {
          // stdout may be a non-blocking pipe whose reader is slow: wait a little, then retry.
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++retries > 200) throw err;
          Atomics.wait(PAUSE, 0, 0, 5);
        }
      }
    } catch (err) {
      this.onError(err as NodeJS.ErrnoException);
    }
  }

  /** logrotate moved the file: write on to a new one at the same path. */
  reopen(): void {
    this.flush();
    if (!this.ownsFd) return;
    const old = this.fd;
    this.fd = this.open();
    closeSync(old);
  }

  close(): void {
    this.flush();
    if (this.ownsFd) closeSync(this.fd);
  }
}
