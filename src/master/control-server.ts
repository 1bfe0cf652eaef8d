import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { type ControlReply, type ControlRequest, isControlRequest } from '../control/protocol.js';
import type { Logger } from '../log/logger.js';

/** A request line longer than this is not one of ours. */
const MAX_REQUEST_BYTES = 64 * 1024;

/** Called with each request; `reply` writes the answer (a stop keeps the connection open until exit). */
export type ControlHandler = (request: ControlRequest, reply: (answer: ControlReply, end?: boolean) => void) => void;

/** Is a server answering on this unix socket path? */
function answers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      done(true);
    });
    probe.once('error', () => done(false));
  });
}

/**
 * The master's control socket: a unix socket only its user can open (mode 0600), one JSON
 * request line in, one JSON reply line out. It parses and answers; what a command does is the
 * master's (the handler enqueues it). The counterpart is src/cli/control-client.ts.
 */
export class ControlServer {
  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  /**
   * Listens on `path`. A socket file nobody answers on is removed; one a live server answers on
   * is taken over only by a successor master (USR2), else this master runs without one.
   */
  static async open(path: string, takeOver: boolean, log: Logger, handler: ControlHandler): Promise<ControlServer | null> {
    let exists = false;
    try {
      exists = lstatSync(path).isSocket();
    } catch {
      // Nothing there.
    }
    if (exists && (await answers(path)) && !takeOver) {
      log.warn({ path }, 'control socket in use by another server; this one runs without one');
      return null;
    }
    if (exists) unlinkSync(path);
    const server = createServer((socket) => serveConnection(socket, handler, log));
    await new Promise<void>((resolvePromise, reject) => {
      server.once('error', reject);
      // listen() binds, and so creates the file, before it returns: a umask of 077 meanwhile makes
      // it 0600 from its first moment (the chmod after is for platforms that bind later).
      const umask = process.umask(0o077);
      try {
        server.listen(path, () => {
          server.off('error', reject);
          resolvePromise();
        });
      } finally {
        process.umask(umask);
      }
    });
    chmodSync(path, 0o600);
    return new ControlServer(server, path);
  }

  /**
   * Stops listening. `unlink` false after USR2: the path is the successor's socket now, and
   * closing a bound unix socket makes libuv unlink its file; the descriptor goes at exit instead.
   */
  close(unlink: boolean): void {
    if (unlink) this.server.close();
    else this.server.unref();
  }
}

function serveConnection(socket: Socket, handler: ControlHandler, log: Logger): void {
  socket.setEncoding('utf8');
  socket.on('error', () => {});
  let buffer = '';
  let handled = false;
  const reply = (answer: ControlReply, end = true) => {
    if (socket.destroyed) return;
    socket.write(`${JSON.stringify(answer)}\n`);
    if (end) socket.end();
  };
  socket.on('data', (chunk: string) => {
    if (handled) return;
    buffer += chunk;
    const nl = buffer.indexOf('\n');
    if (nl < 0) {
      if (buffer.length > MAX_REQUEST_BYTES) reply({ ok: false, error: 'request too long' });
      return;
    }
    handled = true;
    let request: unknown;
    try {
      request = JSON.parse(buffer.slice(0, nl));
    } catch {
      reply({ ok: false, error: 'not a JSON request' });
      return;
    }
    if (!isControlRequest(request)) {
      reply({ ok: false, error: 'unknown command' });
      return;
    }
    log.info({ command: request.command }, 'control command');
    handler(request, reply);
  });
}
