import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';

/** Node's http.Server keeps the response being written on the socket it serves (for decades). */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null; _parent?: Socket };

interface SocketState {
  /** The socket Node's HTTP parser serves on: the accepted one, or the TLSSocket over it. */
  http: HttpSocket;
  /** When a drain first saw the connection idle; undefined until then and whenever it is busy. */
  idleSince: number | undefined;
  /** bytesRead at the drain's last look (-1: not looked yet): bytes since mean a request is coming. */
  readAt: number;
}

/** The response a connection is writing now, unless it is done. */
function current(state: SocketState): ServerResponse | undefined {
  const res = state.http._httpMessage;
  return res && !res.writableFinished ? res : undefined;
}

/**
 * The worker's HTTP/1 connections, and which are busy: read from Node's own state when asked (a
 * heartbeat, a status, a drain's sweep), so a request pays nothing for it. Tracking each request
 * (a 'close' listener, a counter on its socket, an entry in a list) cost 1,900–3,400 CPU
 * instructions of the ~59,000 a hello-world request took (bench/request-instructions.mjs).
 *
 * Why not `http.Server.close()` or `closeIdleConnections()` for the drain: on Node 20 they close
 * every "idle" keep-alive socket at once, including those whose next request is already on the
 * wire, and the client sees a reset (DESIGN.md 4.7 measured 32 resets out of 32 connections per
 * reload). The drain here stops accepting, answers every further request with
 * `Connection: close`, and only closes a connection it has seen idle, reading nothing, for a grace.
 */
export class ConnectionTracker {
  private readonly sockets = new Map<Socket, SocketState>();

  watch(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, { http: socket, idleSince: undefined, readAt: -1 });
      socket.once('close', () => this.sockets.delete(socket));
    });
    // A TLS server's 'connection' gives the raw socket; its requests come on the TLSSocket over
    // it. Without this a busy TLS connection looked idle and a drain cut its request.
    server.on('secureConnection', (tls: HttpSocket) => {
      const state = tls._parent && this.sockets.get(tls._parent);
      if (state) state.http = tls;
    });
  }

  /** The connection is no longer HTTP/1 (an upgrade, an HTTP/2 session): its own tracker drains it. */
  forget(socket: Socket): void {
    if (!this.sockets.delete(socket)) this.sockets.delete((socket as HttpSocket)._parent as Socket);
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /**
   * HTTP/1 requests being answered: one per connection writing a response. (A pipelining
   * client's queued requests are not counted until their turn; browsers do not pipeline.)
   */
  inflight(): number {
    let busy = 0;
    for (const state of this.sockets.values()) if (current(state)) busy++;
    return busy;
  }

  /** A request in flight, from the longest-open connection that has one. */
  oldestRequest(): IncomingMessage | undefined {
    for (const state of this.sockets.values()) {
      const res = current(state);
      if (res) return res.req;
    }
    return undefined;
  }

  /** A drain began: each response still to write its head says `Connection: close`. */
  closeAfterResponses(): void {
    for (const state of this.sockets.values()) {
      const res = current(state);
      if (res && !res.headersSent) res.setHeader('connection', 'close');
    }
  }

  /**
   * One sweep of a drain: destroys connections seen idle for at least `graceMs` (neither writing a
   * response nor reading anything since the last sweep); returns how many remain open. The grace
   * counts from the first sweep that saw a connection idle, never from before the drain.
   */
  closeIdle(graceMs: number, now: number): number {
    for (const [socket, state] of this.sockets) {
      const read = socket.bytesRead;
      const readSince = state.readAt !== -1 && read !== state.readAt;
      state.readAt = read;
      if (readSince || current(state)) {
        state.idleSince = undefined;
        continue;
      }
      state.idleSince ??= now;
      if (now - state.idleSince >= graceMs) socket.destroy();
    }
    return this.sockets.size;
  }

  destroyAll(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
  }
}
