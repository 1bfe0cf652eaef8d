import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProbeReport } from '../worker/probe-child.js';

const PROBE_CHILD = fileURLToPath(new URL('../worker/probe-child.js', import.meta.url));

export interface ProbeOptions {
  app: string;
  dir: string;
  iface: string;
  env: Readonly<Record<string, string | number | boolean | undefined>>;
  timeoutSeconds: number;
}

export interface ProbeResult {
  ok: boolean;
  interface: string;
  describe: string;
  message: string;
  stack?: string;
}

/**
 * Imports the app in a throw-away child process (the master never loads user code) and reports
 * its interface or its error. The app's own output goes to stderr so that `--json` stays parseable.
 */
export function probeApp(opts: ProbeOptions): Promise<ProbeResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(opts.env)) if (value !== undefined) env[key] = String(value);
  const child = fork(PROBE_CHILD, [opts.app, opts.dir, opts.iface], { env, stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv: [] });
  child.stdout?.pipe(process.stderr);
  return new Promise((resolvePromise) => {
    let report: ProbeReport | null = null;
    const timer = setTimeout(() => {
      report = { ok: false, message: `the app did not finish loading within ${opts.timeoutSeconds} s (boot_timeout)` };
      child.kill('SIGKILL');
    }, opts.timeoutSeconds * 1000);
    child.on('message', (message: ProbeReport) => {
      report ??= message;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const got = report ?? { ok: false, message: `the app process exited (${signal ?? `code ${code}`}) before it finished loading` };
      resolvePromise({
        ok: got.ok,
        interface: got.interface ?? '',
        describe: got.describe ?? '',
        message: got.message ?? '',
        ...(got.stack ? { stack: got.stack } : {}),
      });
    });
  });
}
