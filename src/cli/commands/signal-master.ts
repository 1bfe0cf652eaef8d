import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Override } from '../../config/layers.js';
import { loadConfig } from '../../config/load.js';
import { TsicornError } from '../../errors.js';
import { printIssues } from '../report.js';

export interface SignalMasterOptions {
  file: string;
  flags: Override[];
  /** What to send, and what to call it in messages. */
  signal: NodeJS.Signals;
  action: string;
}

function masterPid(pidfile: string): number {
  let text: string;
  try {
    text = readFileSync(pidfile, 'utf8');
  } catch {
    throw new TsicornError('TSI_ERR_NOT_RUNNING', `no server is running for this config: ${pidfile} does not exist`);
  }
  const pid = Number.parseInt(text, 10);
  try {
    process.kill(pid, 0);
  } catch {
    throw new TsicornError('TSI_ERR_NOT_RUNNING', `no server is running for this config: ${pidfile} names process ${pid}, which is gone`);
  }
  return pid;
}

/**
 * `tsicorn reload` (and friends until the control socket exists): find the master through the
 * config's pidfile and signal it. The config is validated first: a reload of an invalid file would
 * be refused by the master anyway, so the errors are shown here, where the operator is looking.
 */
export function signalMaster(opts: SignalMasterOptions): number {
  const outcome = loadConfig({ file: opts.file, flags: opts.flags });
  if (!outcome.ok) {
    printIssues(outcome, opts.file);
    process.stderr.write(`tsicorn: not sent: the running server would refuse this config and keep its current one\n`);
    return 1;
  }
  const { settings, baseDir } = outcome.config;
  if (settings.pidfile === null) {
    throw new TsicornError(
      'TSI_ERR_NOT_RUNNING',
      `cannot find the server: set \`pidfile\` in ${opts.file}, or send ${opts.signal} to the master yourself`,
    );
  }
  const pid = masterPid(resolve(baseDir, settings.pidfile));
  process.kill(pid, opts.signal);
  process.stdout.write(`${opts.action} requested: sent ${opts.signal} to the master (pid ${pid})\n`);
  return 0;
}
