import './coverage.js';
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn until the process exited and every holder of its stdout/stderr closed them. */
  ms: number;
  /** It was still going (or something it started still held its pipes) at `limitMs` and was killed. */
  timedOut: boolean;
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  limitMs: number;
}

/**
 * Runs a command in its own process group and collects its output. Resolves on 'close', so a
 * grandchild still holding the pipes shows up as a slow run; at `limitMs` the whole group is
 * killed, so a hang fails the test's assertions instead of stalling the suite.
 */
export function runBounded(command: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const killer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is already gone.
      }
    }, opts.limitMs);
    child.on('error', (err) => {
      clearTimeout(killer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      if (timedOut) stderr += `\n(killed after ${opts.limitMs} ms)`;
      resolvePromise({ code, signal, stdout, stderr, ms: Math.round(performance.now() - started), timedOut });
    });
  });
}
