import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { TsicornError } from '../errors.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes our pid; a pidfile naming another live process means a second server on the same config. */
export function writePidfile(path: string, predecessor: number | null = null): void {
  let existing = Number.NaN;
  try {
    existing = Number.parseInt(readFileSync(path, 'utf8'), 10);
  } catch {
    // No pidfile yet.
  }
  // After USR2 the pidfile names the previous master, which is alive and about to leave: take it over.
  if (Number.isInteger(existing) && existing !== process.pid && existing !== predecessor && isAlive(existing)) {
    throw new TsicornError('TSI_ERR_PIDFILE', `pidfile ${path} names process ${existing}, which is running: is tsicorn already serving?`);
  }
  writeFileSync(path, `${process.pid}\n`);
}

/** Removes the pidfile only if it is still ours (a newer master may have taken it over). */
export function removePidfile(path: string): void {
  try {
    if (Number.parseInt(readFileSync(path, 'utf8'), 10) === process.pid) unlinkSync(path);
  } catch {
    // Already gone.
  }
}
