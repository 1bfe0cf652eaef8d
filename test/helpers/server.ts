import './coverage.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'tsicorn');
export const FIXTURE_APPS = join(ROOT, 'test', 'fixtures', 'apps');

export type LogLine = Record<string, unknown> & { msg: string; pid: number; component?: string };

/** The environment a test's server runs with: the machine's, minus anything that would change settings. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('TSICORN_') && !k.startsWith('LISTEN_') && k !== 'WEB_CONCURRENCY') env[k] = v;
  return { ...env, ...extra };
}

/**
 * Removes a test's directory, never throwing: a server still running (it is killed by a hook
 * that may run after this one) can re-create its log files there while it is being removed, and
 * a throwing hook would skip the hooks after it — among them the one that kills the server.
 */
function removeQuietly(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  } catch {
    // Left for the system's temp cleanup.
  }
}

/** A temporary directory removed when the test ends. */
export function tempDir(t: TestContext, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsicorn-test-'));
  t.after(() => removeQuietly(dir));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

export interface StartOptions {
  /** Files written into the temp dir first (server.yaml, apps). */
  files?: Record<string, string>;
  /** Arguments after `bin/tsicorn`; default `-c server.yaml`. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Wait for "server ready" (default true). */
  waitReady?: boolean;
  /** Also wait for "watching for changes": a file saved before it may go unseen. */
  waitWatching?: boolean;
  /** Run in this directory instead of a fresh temp dir. */
  cwd?: string;
  /** Extra stdio entries (fds passed to the master, e.g. a socket for fd://3). */
  stdio?: ('pipe' | 'ignore' | 'inherit' | number)[];
  /** Command to run instead of node bin/tsicorn (e.g. systemd-socket-activate); BIN args follow. */
  wrapper?: string[];
}

/** A running `bin/tsicorn` whose JSON log lines (stderr) are parsed as they come. */
export class RunningServer {
  readonly logs: LogLine[] = [];
  readonly stdout: string[] = [];
  readonly stderrText: string[] = [];
  private readonly waiters = new Set<() => void>();
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    readonly dir: string,
  ) {
    let buffer = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        this.stderrText.push(line);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // Not a log line (a config error, the app's own output).
        }
      }
      this.wake();
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout.push(chunk);
      this.wake();
    });
    this.exited = new Promise((done) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        this.wake();
        done();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  /** Resolves when `check` returns a truthy value (checked on every log line and exit), or rejects after `ms`. */
  waitFor<T>(what: string, check: () => T | undefined | null | false, ms = 15_000): Promise<T> {
    return new Promise((resolvePromise, reject) => {
      const attempt = () => {
        const value = check();
        if (value) {
          cleanup();
          resolvePromise(value);
          return true;
        }
        if (this.exitCode !== null || this.exitSignal !== null) {
          cleanup();
          reject(
            new Error(
              `the server exited (${this.exitSignal ?? this.exitCode}) while waiting for ${what}\n${this.stderrText.slice(-40).join('\n')}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}\n--- server output ---\n${this.stderrText.slice(-40).join('\n')}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(onWake);
      };
      const onWake = () => void attempt();
      if (!attempt()) this.waiters.add(onWake);
    });
  }

  /** The first log line (after index `from`) matching msg and fields. */
  waitForLog(msg: string, fields: Record<string, unknown> = {}, ms = 15_000, from = 0): Promise<LogLine> {
    return this.waitFor(`log "${msg}" ${JSON.stringify(fields)}`, () => this.findLog(msg, fields, from), ms);
  }

  findLog(msg: string, fields: Record<string, unknown> = {}, from = 0): LogLine | undefined {
    return this.logs.slice(from).find((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v));
  }

  countLogs(msg: string, fields: Record<string, unknown> = {}): number {
    return this.logs.filter((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v)).length;
  }

  /** Resolves with the exit code, or rejects after `ms`. */
  waitForExit(ms = 15_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the server did not exit within ${ms} ms`)), ms);
    });
    return Promise.race([this.exited.then(() => this.exitCode), timeout]).finally(() => clearTimeout(timer));
  }

  /** Sends SIGTERM; resolves with the exit code and the milliseconds the stop took. */
  async terminate(ms = 15_000): Promise<{ code: number | null; tookMs: number }> {
    const started = Date.now();
    process.kill(this.pid, 'SIGTERM');
    const code = await this.waitForExit(ms);
    return { code, tookMs: Date.now() - started };
  }

  /** The worker pids currently ready, per the master's log. */
  workerPids(): number[] {
    const alive = new Map<number, number>();
    for (const l of this.logs) {
      if (l.component !== 'master') continue;
      if (l.msg === 'worker ready') alive.set(l.worker as number, l.workerPid as number);
      if (/^(worker exited|worker died|new worker exited)/.test(l.msg)) alive.delete(l.worker as number);
    }
    return [...alive.values()];
  }

  /** Base URL of the first listener from the "server ready" line. */
  url(index = 0): string {
    const ready = this.findLog('server ready');
    const listeners = ready?.listeners as string[] | undefined;
    const bound = listeners?.[index];
    if (!bound) throw new Error('server not ready');
    return `http://${bound}`;
  }
}

/** How long a test's cleanup waits for a quick stop before it kills the server's process group. */
const QUICK_STOP_WAIT_MS = 3_000;

/** Starts `bin/tsicorn` in a temp dir; the process is killed (with its workers) when the test ends. */
export async function startServer(t: TestContext, opts: StartOptions = {}): Promise<RunningServer> {
  const dir = opts.cwd ?? tempDir(t, opts.files);
  const args = opts.args ?? ['-c', 'server.yaml'];
  const command = opts.wrapper ? (opts.wrapper[0] ?? '') : process.execPath;
  const argv = opts.wrapper ? [...opts.wrapper.slice(1), process.execPath, BIN, ...args] : [BIN, ...args];
  const child = spawn(command, argv, {
    cwd: dir,
    env: cleanEnv({ TSICORN_LOG_FORMAT: 'json', ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe', ...(opts.stdio ?? [])],
    detached: true,
  });
  const server = new RunningServer(child, dir);
  t.after(async () => {
    if (server.exitCode === null && server.exitSignal === null) {
      // A quick stop first (SIGINT, as a terminal's ^C): the master and its workers exit as
      // they do for users and write their coverage; a SIGKILLed process leaves none, and the
      // report would call code the tests run untested.
      try {
        process.kill(server.pid, 'SIGINT');
        await server.waitForExit(QUICK_STOP_WAIT_MS);
      } catch {
        // Gone already, or stuck (a stopped or hung test server): the group is killed below.
      }
    }
    // Kill the whole process group: the master if it is still there, and any worker or USR2
    // successor it left (they are forked into its group).
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    // Its files may have come back after the directory's own hook ran: the server is gone now.
    if (opts.cwd === undefined) removeQuietly(dir);
  });
  if (opts.waitReady !== false) await server.waitForLog('server ready');
  if (opts.waitWatching === true) await server.waitForLog('watching for changes');
  return server;
}

/** Is a process alive? (signal 0 probes without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every 25 ms until true or `ms` passes; for facts with no event (a pid gone). */
export async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A small config (JSON, which is YAML too): the app, one loopback listener on a free port, 2 workers, and `extra`. */
export function serverYaml(app: string, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ app, bind: '127.0.0.1:0', workers: 2, ...extra }, null, 2)}\n`;
}
