import { lookup } from 'node:dns/promises';
import { closeSync, fstatSync, lstatSync, unlinkSync } from 'node:fs';
import * as net from 'node:net';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { type BindAddress, parseBindAddress } from '../config/bind-address.js';
import { TsicornError } from '../errors.js';

/** The bits of libuv's TCP/Pipe wrap the master uses. */
interface ServerHandle {
  fd: number;
  close(): void;
  getsockname?(out: Record<string, unknown>): number;
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => ServerHandle | number;
// Node's cluster binds through this internal helper; it binds without listening or accepting,
// which is what a master that hands the socket to its workers needs.
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

/** A socket the master owns and every worker inherits; it outlives all workers. */
export interface Listener {
  /** The `bind` entry as written. */
  address: string;
  /** What it is bound to, resolved (`127.0.0.1:41233` when port 0 was asked). */
  bound: string;
  fd: number;
  /** Stops listening and cleans up (a unix socket's file is removed). Closing twice does nothing. */
  close(): void;
  /**
   * The descriptor was closed by a server that listened on it in this process (round-robin's
   * accepting server): only the cleanup is left to do, never a second close of the number.
   */
  closedElsewhere(): void;
  /**
   * Lets go without touching the socket, which lives on in a successor master (USR2). It does
   * nothing: closing a bound unix socket's handle makes libuv unlink its file, which would cut the
   * successor off; the descriptor goes away when this master exits a moment later.
   */
  release(): void;
}

/** How one kind of listener closes its descriptor, and the socket file to remove after. */
interface Bound {
  address: string;
  bound: string;
  fd: number;
  closeFd: () => void;
  unixPath: string | null;
}

/**
 * A descriptor closed twice may close whatever the system gave its number to in between (a log
 * file, a worker's pipe): the master closes listeners from several paths (graceful stop, the end
 * of a rotation, halt), so each closes at most once.
 */
function listenerOf(b: Bound): Listener {
  let closed = false;
  const finish = (closeFd: boolean) => {
    if (closed) return;
    closed = true;
    if (closeFd) b.closeFd();
    // libuv unlinks the file when a handle it bound is closed; unlink again in case it did not.
    if (b.unixPath) unlinkQuietly(b.unixPath);
  };
  return {
    address: b.address,
    bound: b.bound,
    fd: b.fd,
    close: () => finish(true),
    closedElsewhere: () => finish(false),
    release: () => {
      closed = true;
    },
  };
}

/** A listener handed over by the master that started this one (USR2): address → fd and bound name. */
export type InheritedFds = ReadonlyMap<string, { fd: number; bound: string }>;

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone: nothing to clean.
  }
}

function bindError(address: string, reason: string): TsicornError {
  return new TsicornError('TSI_ERR_BIND', `cannot listen on ${address}: ${reason}`);
}

function errnoText(code: number): string {
  const name = getSystemErrorName(code);
  const explain: Record<string, string> = {
    EADDRINUSE: 'address already in use (another server holds it)',
    EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
    EADDRNOTAVAIL: 'address not available on this machine',
    ENOENT: 'no such directory',
  };
  return explain[name] ? `${name}, ${explain[name]}` : name;
}

async function bindTcp(address: string, host: string, port: number): Promise<Listener> {
  let ip: string | null = null;
  let family = 4;
  if (host !== '') {
    try {
      const found = await lookup(host);
      ip = found.address;
      family = found.family;
    } catch (err) {
      throw bindError(address, `cannot resolve ${host} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  const handle = createServerHandle(ip, port, family, undefined, 0);
  if (typeof handle === 'number') throw bindError(address, errnoText(handle));
  const name: Record<string, unknown> = {};
  handle.getsockname?.(name);
  // libuv defers EADDRINUSE from bind(2) to listen(2) (its "delayed error"), and a worker opening
  // the fd does not see it: its listen would bind an ephemeral port instead. A socket whose bind
  // failed has no port yet, so that is how a port in use shows here.
  if (!name.port) {
    handle.close();
    throw bindError(address, errnoText(-constants.errno.EADDRINUSE));
  }
  const boundHost = typeof name.address === 'string' ? name.address : (ip ?? '::');
  const bound = `${boundHost.includes(':') ? `[${boundHost}]` : boundHost}:${String(name.port ?? port)}`;
  return listenerOf({ address, bound, fd: handle.fd, closeFd: () => handle.close(), unixPath: null });
}

/** A socket file left by a dead server is removed; one a live server answers on is an error. */
async function removeStaleSocket(address: string, path: string): Promise<void> {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw bindError(address, `${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((done) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      done(true);
    });
    probe.once('error', () => done(false));
  });
  if (alive) throw bindError(address, `another server is listening on ${path}`);
  unlinkSync(path);
}

async function bindUnix(address: string, rawPath: string): Promise<Listener> {
  const path = resolve(rawPath);
  await removeStaleSocket(address, path);
  const handle = createServerHandle(path, -1, -1, undefined, 0);
  if (typeof handle === 'number') throw bindError(address, errnoText(handle));
  return listenerOf({ address, bound: `unix:${path}`, fd: handle.fd, closeFd: () => handle.close(), unixPath: path });
}

function adoptFd(address: string, fd: number, bound = `fd://${fd}`, owned = false): Listener {
  let isSocket = false;
  try {
    isSocket = fstatSync(fd).isSocket();
  } catch {
    throw bindError(address, `fd ${fd} is not open (run under systemd socket activation, or pass the socket as fd ${fd})`);
  }
  // Node itself holds low fds (epoll, pipes), so an fd nobody passed often exists and is not a socket.
  if (!isSocket)
    throw bindError(address, `fd ${fd} is not a socket (pass a listening socket as fd ${fd}, as systemd socket activation does)`);
  // A socket systemd passed stays systemd's; one inherited from the previous master is ours now:
  // close it (and its file) at the end.
  if (!owned) return listenerOf({ address, bound, fd, closeFd: () => {}, unixPath: null });
  const unixPath = address.startsWith('unix:') ? bound.slice(5) : null;
  return listenerOf({ address, bound, fd, closeFd: () => closeQuietly(fd), unixPath });
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}

/**
 * Binds every `bind` entry (or adopts the socket a previous master handed over), all or nothing: if one fails, those already bound are closed and the
 * error names the address and the system's reason.
 */
export async function bindListeners(bind: readonly string[], inherited: InheritedFds = new Map()): Promise<Listener[]> {
  const listeners: Listener[] = [];
  try {
    for (const address of bind) {
      const handed = inherited.get(address);
      if (handed) {
        listeners.push(adoptFd(address, handed.fd, handed.bound, true));
        continue;
      }
      const parsed: BindAddress | null = parseBindAddress(address);
      if (!parsed) throw bindError(address, 'not a bind address');
      if (parsed.kind === 'tcp') listeners.push(await bindTcp(address, parsed.host, parsed.port));
      else if (parsed.kind === 'unix') listeners.push(await bindUnix(address, parsed.path));
      else listeners.push(adoptFd(address, parsed.fd));
    }
  } catch (err) {
    for (const listener of listeners) listener.close();
    throw err;
  }
  return listeners;
}
