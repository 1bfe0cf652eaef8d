import { resolve } from 'node:path';
import { type DestinationStream, type Logger, pino } from 'pino';
import type { Settings } from '../config/settings.js';

export type { Logger };

/** The fields every line of a process carries: `component` is master or worker. */
export interface LogBindings {
  component: 'master' | 'worker';
  worker?: number;
  generation?: number;
}

/**
 * The server log of one process, through pino with a destination owned by this process (a pino
 * transport would cost a thread and ~11 MiB per worker). Writes are synchronous: the server log
 * is low-volume and must not lose the line that explains a crash. `text` pretty-prints in-process
 * for a terminal; `json` is one object a line for log shippers.
 */
export async function createServerLogger(log: Settings['log'], baseDir: string, bindings: LogBindings): Promise<Logger> {
  const dest = log.errorlog === '-' ? 2 : resolve(baseDir, log.errorlog);
  const options = {
    level: log.level,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  let stream: DestinationStream;
  if (log.format === 'text') {
    const { default: pretty } = await import('pino-pretty');
    stream = pretty({
      destination: dest,
      sync: true,
      mkdir: true,
      colorize: dest === 2 && process.stderr.isTTY === true,
      singleLine: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'hostname',
    });
  } else {
    stream = pino.destination({ dest, sync: true, mkdir: true });
  }
  return pino(options, stream);
}
