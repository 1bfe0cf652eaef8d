import { execFileSync } from 'node:child_process';
import { chownSync } from 'node:fs';
import type { Settings } from '../config/settings.js';
import { TsicornError } from '../errors.js';
import type { Listener } from './listeners.js';

/** A user or group name or number as a numeric id, looked up through NSS (`getent`), as Gunicorn's pwd/grp do. */
function numericId(value: string | number, database: 'passwd' | 'group'): number {
  if (typeof value === 'number' || /^\d+$/.test(value)) return Number(value);
  try {
    const entry = execFileSync('getent', [database, value], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const id = Number(entry.split(':')[2]);
    if (Number.isInteger(id)) return id;
  } catch {
    // Not found: the error below says so.
  }
  throw new TsicornError('TSI_ERR_USER', `${database === 'passwd' ? 'user' : 'group'} ${JSON.stringify(value)} does not exist`);
}

/**
 * With `user`/`group` set, the unix sockets the master created belong to them (as Gunicorn does),
 * so a proxy running as that user or group can connect and the workers' user owns its socket.
 */
export function chownUnixSockets(listeners: readonly Listener[], settings: Settings): void {
  if (settings.user === null && settings.group === null) return;
  const uid = settings.user === null ? -1 : numericId(settings.user, 'passwd');
  const gid = settings.group === null ? -1 : numericId(settings.group, 'group');
  for (const listener of listeners) {
    if (!listener.address.startsWith('unix:')) continue;
    chownSync(listener.bound.slice('unix:'.length), uid, gid);
  }
}
