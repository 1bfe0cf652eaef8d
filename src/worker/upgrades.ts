import { type IncomingMessage, type RequestListener, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/logger.js';
import type { UpgradeHandler } from './app-loader.js';
import type { ConnectionTracker } from './connections.js';
import type { DrainPart } from './drain.js';

/**
 * A WebSocket close frame as a server sends it (RFC 6455 5.5.1): FIN + opcode 0x8, an unmasked
 * two-byte payload (servers never mask, 5.1), status 1001 Going Away (7.4.1).
 */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9]);
/** After the close frames, how long the clients have to answer before the sockets are destroyed (the master kills at graceful_timeout + 1 s). */
const CLOSE_WAIT_MS = 500;

export interface UpgradeOptions {
  /** The app's handlers: its `upgrade`, or the 'upgrade' listeners of the http.Server it owns. */
  handlers: UpgradeHandler[];
  /** What every request gets before the app sees it (request id, client address). */
  prepare: (req: IncomingMessage) => void;
  /** The request pipeline, for `Upgrade: h2c` requests served as HTTP/1.1. */
  serve: RequestListener;
}

function thenable(value: unknown): value is Promise<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as Promise<unknown>).then === 'function';
}

/**
 * The worker's upgraded connections (WebSockets and other `Upgrade` protocols): no longer HTTP,
 * so the HTTP/1 tracker forgets them and a drain gives them graceful_timeout to end on their own.
 * Then each WebSocket gets a close frame 1001 and a FIN (so the client reconnects, to the new
 * generation), any other upgraded protocol a FIN; whatever is still open 500 ms later is destroyed.
 */
export class UpgradedSockets implements DrainPart {
  private readonly sockets = new Map<Duplex, { websocket: boolean }>();

  constructor(
    private readonly tracker: ConnectionTracker,
    private readonly log: Logger,
  ) {}

  /** The 'upgrade' listener for one server. */
  listener(opts: UpgradeOptions): (this: Server, req: IncomingMessage, socket: Duplex, head: Buffer) => void {
    const upgraded = this;
    return function onUpgrade(req, socket, head) {
      // h2c's upgrade (RFC 7540 3.2) was dropped by RFC 9113; ignoring an Upgrade is allowed
      // (RFC 9110 7.8), so `curl --http2 http://` gets HTTP/1.1 instead of the app's 400.
      if (req.headers.upgrade?.trim().toLowerCase() === 'h2c') return servePlain(req, socket as Socket, opts.serve);
      upgraded.tracker.forget(socket as Socket);
      upgraded.sockets.set(socket, { websocket: /\bwebsocket\b/i.test(req.headers.upgrade ?? '') });
      socket.once('close', () => upgraded.sockets.delete(socket));
      opts.prepare(req);
      for (const handler of opts.handlers) {
        try {
          const out = handler.call(this, req, socket, head);
          if (thenable(out)) out.then(undefined, (err: unknown) => upgraded.failed(err, req, socket));
        } catch (err) {
          upgraded.failed(err, req, socket);
          return;
        }
      }
    };
  }

  private failed(err: unknown, req: IncomingMessage, socket: Duplex): void {
    this.log.error({ err, url: req.url }, 'upgrade handler failed');
    socket.destroy();
  }

  get open(): number {
    return this.sockets.size;
  }

  /** Upgraded connections keep going through the drain: they end on their own, or at cut(). */
  start(): void {}

  async cut(): Promise<void> {
    if (this.sockets.size === 0) return;
    let websockets = 0;
    for (const [socket, { websocket }] of this.sockets) {
      // The app may still write after our FIN (ws answers the client's close frame): not an error.
      socket.on('error', () => {});
      if (websocket && socket.writable) {
        socket.write(GOING_AWAY);
        websockets++;
      }
      socket.end();
    }
    this.log.info({ websockets, others: this.sockets.size - websockets }, 'upgraded connections closed at graceful_timeout');
    await new Promise<void>((resolvePromise) => {
      const timer = setTimeout(done, CLOSE_WAIT_MS);
      const poll = setInterval(() => this.sockets.size === 0 && done(), 20);
      function done() {
        clearTimeout(timer);
        clearInterval(poll);
        resolvePromise();
      }
    });
    for (const socket of this.sockets.keys()) socket.destroy();
  }
}

/** Answers an `Upgrade: h2c` request as a plain HTTP/1.1 one, then closes the connection. */
function servePlain(req: IncomingMessage, socket: Socket, serve: RequestListener): void {
  // Node stopped parsing at the upgrade: a body would be left unread, so only bodiless requests.
  if (!req.complete) {
    socket.destroy();
    return;
  }
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  // The socket's 'close' becomes the response's (the pipeline's access log waits on it), and the
  // connection tracker sees the socket busy until the response finishes.
  res.assignSocket(socket);
  res.once('finish', () => socket.end());
  serve(req, res);
}
