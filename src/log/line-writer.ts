import { closeSync, fstatSync, ftruncateSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { makeDirectory } from '../make-directory.js';

/** A pipe write of at most this many bytes is atomic (POSIX PIPE_BUF on Linux). */
export const PIPE_BUF = 4096;
/** Bytes gathered before a write to a file, and the longest a line waits. */
const FILE_CHUNK = 64 * 1024;
const FLUSH_MS = 200;
/** How often a log file's path is compared with the file open: an `rm` is otherwise unseen until USR1. */
export const WATCH_MS = 2000;
/** For a short synchronous pause when a pipe is full. */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

export interface LineWriterOptions {
  /** A file path (opened O_APPEND), or a descriptor this writer does not own (stdout, stderr). */
  target: string | number;
  /** Gather lines into large writes (the access log), or write each line at once (the server log). */
  gather: boolean;
  /** A write failed: `lost` whole lines were not written (none of them partly). */
  onError: (err: NodeJS.ErrnoException, lost: number) => void;
}

/** Why a file target no longer is the file at its path: removed (rm), or replaced (mv + create). */
export type StaleReason = 'removed' | 'replaced';

/**
 * Appends whole lines to a file (O_APPEND) or to an inherited descriptor, synchronously: the
 * access log of one worker (gathered) or the server log of one process (line by line).
 *
 * Gathering: at 20 000 lines/s per worker, sonic-boom's per-line asynchronous writes through the
 * thread pool cost this machine more than half its throughput, where a 64 KiB write(2) every few
 * hundred lines costs ~20 µs. Lines are gathered as bytes in one buffer, reused: a text access log
 * line is formatted straight into it (writeWith), others are encoded into it as they come.
 *
 * Whole lines, always. Several processes write to one file or one pipe, and a reader must never
 * see a torn line:
 * - a file is opened O_APPEND: the kernel appends each write at the end, whole;
 * - to a pipe, FIFO or socket, a write is atomic only up to PIPE_BUF bytes, so writes are cut at
 *   line boundaries to at most PIPE_BUF, and `maxLine` tells the formatter to keep each line within
 *   it (access-format.ts shortens the request's fields);
 * - a write that fails part way (disk full) leaves a fragment: it is cut off again (ftruncate)
 *   when the file still ends with exactly those bytes, and the lines not written whole are
 *   counted as lost, never half-written.
 */
export class LineWriter {
  private fd: number;
  private readonly path: string | null;
  /** Gathered lines, as bytes: up to a chunk's worth (empty when not gathering: each line is written at once). */
  private buf: Buffer = Buffer.alloc(0);
  private used = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The longest line (with its newline) the sink takes whole: PIPE_BUF for pipes, else unbounded. */
  maxLine = Number.POSITIVE_INFINITY;

  constructor(private readonly opts: LineWriterOptions) {
    this.path = typeof opts.target === 'string' ? opts.target : null;
    this.fd = this.open();
    this.sizeBuffer();
  }

  private open(): number {
    let fd: number;
    if (this.path === null) fd = this.opts.target as number;
    else {
      makeDirectory(dirname(this.path));
      // Read access too: a fragment left by a failed write is checked before it is cut off.
      fd = openSync(this.path, 'a+');
    }
    const pipe = isPipe(fd);
    this.maxLine = pipe ? PIPE_BUF : Number.POSITIVE_INFINITY;
    return fd;
  }

  /** Gathers into a chunk's worth: at most PIPE_BUF to a pipe (an atomic write), so the lines gathered for one are too. */
  private sizeBuffer(): void {
    const size = !this.opts.gather ? 0 : this.maxLine === PIPE_BUF ? PIPE_BUF : FILE_CHUNK;
    if (this.buf.length !== size) this.buf = Buffer.allocUnsafe(size);
  }

  /** `line` ends with a newline. */
  write(line: string): void {
    if (!this.opts.gather) {
      this.writeOut(Buffer.from(line));
      return;
    }
    const bytes = Buffer.byteLength(line);
    if (bytes > this.buf.length - this.used) {
      this.flush();
      // A line longer than a chunk (a file's: a pipe's lines fit PIPE_BUF) goes on its own.
      if (bytes > this.buf.length) {
        this.writeOut(Buffer.from(line));
        return;
      }
    }
    this.used += this.buf.write(line, this.used);
    this.gathered();
  }

  /**
   * Appends the line `format` writes into the buffer (see ByteFormatter: it returns where the line
   * ends, past the buffer's end when it did not fit). False when the line does not fit even an
   * empty buffer, or the formatter declines it (a negative end): the caller writes it as a string.
   */
  writeWith<T>(format: (record: T, buf: Buffer, at: number) => number, record: T): boolean {
    const buf = this.buf;
    let end = format(record, buf, this.used);
    // (A negative end: the formatter leaves this line to the string path.)
    if (end < 0) return false;
    if (end > buf.length) {
      if (this.used === 0) return false;
      this.flush();
      end = format(record, buf, 0);
      if (end > buf.length) return false;
    }
    this.used = end;
    this.gathered();
    return true;
  }

  /** A line was added: write when a chunk is full, else within FLUSH_MS. */
  private gathered(): void {
    if (this.used >= this.buf.length) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.used === 0) return;
    // The buffer is written before it is reused: a view of it is safe until this returns.
    const data = this.buf.subarray(0, this.used);
    this.used = 0;
    this.writeOut(data);
  }

  private writeOut(data: Buffer): void {
    let written = 0;
    try {
      let retries = 0;
      while (written < data.length) {
        try {
          written += writeSync(this.fd, data, written);
        } catch (err) {
          // A non-blocking pipe whose reader is slow: wait a little, then retry (at most ~1 s).
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++retries > 200) throw err;
          Atomics.wait(PAUSE, 0, 0, 5);
        }
      }
    } catch (err) {
      // The bytes up to the last newline written are whole lines; a negative offset would search from the end.
      const whole = written === 0 ? 0 : data.lastIndexOf(10, written - 1) + 1;
      if (whole < written) this.cutFragment(data.subarray(whole, written));
      this.opts.onError(err as NodeJS.ErrnoException, countLines(data.subarray(whole)));
    }
  }

  /**
   * Removes the bytes of a torn last line from the end of the file, if the file still ends with
   * them (another worker's append in between would make them not the last: then they stay).
   */
  private cutFragment(fragment: Buffer): void {
    if (this.path === null) return;
    try {
      const size = fstatSync(this.fd).size;
      if (size < fragment.length) return;
      const tail = Buffer.alloc(fragment.length);
      readSync(this.fd, tail, 0, tail.length, size - tail.length);
      if (tail.equals(fragment)) ftruncateSync(this.fd, size - fragment.length);
    } catch {
      // Best effort: the lines before it are whole, and the error is reported by the caller.
    }
  }

  /**
   * Is the open file still the one at the path? An `rm` leaves lines going to an unlinked inode;
   * a `mv` and a new file (logrotate without the signal) leaves them going to the old file.
   */
  stale(): StaleReason | null {
    if (this.path === null) return null;
    try {
      const open = fstatSync(this.fd);
      const now = statSync(this.path);
      return open.ino === now.ino && open.dev === now.dev ? null : 'replaced';
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'removed' : null;
    }
  }

  /**
   * Opens the path again (logrotate moved the file, or it was removed); lines still gathered go
   * to the new file. Throws when the path cannot be opened; the old file is kept then.
   */
  reopen(): void {
    if (this.path === null) {
      this.flush();
      return;
    }
    const old = this.fd;
    this.fd = this.open();
    closeSync(old);
    this.flush();
    this.sizeBuffer();
  }

  close(): void {
    this.flush();
    if (this.path !== null) closeSync(this.fd);
  }
}

/** A pipe, FIFO or socket: where a write is atomic only up to PIPE_BUF. (A descriptor that cannot be fstat'ed fails at its first write.) */
function isPipe(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

function countLines(data: Buffer): number {
  let lines = 0;
  for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, i + 1)) lines++;
  return lines;
}
