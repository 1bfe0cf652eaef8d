import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';

/** Node's http.Server keeps the response being written on the socket it serves (for decades). */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null; _parent?: Socket };

/**
 * Node's own list of an http.Server's HTTP/1 connections, one parser each (what
 * `closeAllConnections()` and the headers_timeout checks read). Armed on 'listening'.
 */
interface NodeConnections {
  all(): { socket?: HttpSocket | null }[];
}
const NODE_LIST = 'http.server.connections';

/** Found by its symbol's description: Node does not export the symbol. */
function nodeConnections(server: Server): NodeConnections | undefined {
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === NODE_LIST);
  const list = key && (server as unknown as Record<symbol, unknown>)[key];
  return list && typeof (list as NodeConnections).all === 'function' ? (list as NodeConnections) : undefined;
}

/** What a drain remembers of a connection between its sweeps. */
interface DrainLook {
  /** When a drain first saw the connection idle; undefined until then and whenever it is busy. */
  idleSince: number | undefined;
  /** bytesRead at the drain's last look: bytes since mean a request is coming. */
  readAt: number;
}

/** The response a connection is writing now, unless it is done. */
function current(socket: HttpSocket): ServerResponse | undefined {
  const res = socket._httpMessage;
  return res && !res.writableFinished ? res : undefined;
}

/**
 * The worker's HTTP/1 connections, and which are busy: read from Node's own state when asked (a
 * heartbeat, a status, a drain's sweep), so neither a request nor a connection pays for it.
 * Node's http.Server already lists its connections; a Map of our own (a set and a delete per
 * connection, and a 'close' listener) cost ~8,000 of the ~217,000 CPU instructions a request on
 * its own connection took (bench/request-instructions.mjs, Connection: close). A Node without the
 * list gets that Map back. Each connection's socket is the one its parser reads: for TLS, the
 * TLSSocket. Upgraded sockets leave the list with their parser; HTTP/2 sessions never join it.
 *
 * Sockets not yet in front of a parser (a TLS handshake, a PROXY header, the h2c sniff) are held
 * here until they reach it, so a drain neither misses them nor waits on them when they read nothing.
 *
 * Why not `http.Server.close()` or `closeIdleConnections()` for the drain: on Node 20 they close
 * every "idle" keep-alive socket at once, including those whose next request is already on the
 * wire, and the client sees a reset (DESIGN.md 4.7 measured 32 resets out of 32 connections per
 * reload). The drain here stops accepting, answers every further request with
 * `Connection: close`, and only closes a connection it has seen idle, reading nothing, for a grace.
 */
export class ConnectionTracker {
  /** Node's lists, one per watched server. */
  private readonly lists: NodeConnections[] = [];
  /** Servers whose connections Node does not list: tracked here instead. */
  private readonly own = new Map<Socket, HttpSocket>();
  private readonly front = new Set<Socket>();
  /** Connections handed over by the master (round-robin) and still open: worker_connections counts them. */
  private handed = 0;
  private readonly looks = new WeakMap<Socket, DrainLook>();

  /**
   * `secure`: a TLS server, whose parser (and Node's listing) comes only after the handshake: the
   * socket is held until then, or a drain would not wait for it and cut the handshake. Watch before
   * installFront(), so that the hold starts once the front has passed the socket on.
   */
  watch(server: Server, secure: boolean): void {
    server.once('listening', () => {
      const list = nodeConnections(server);
      if (list) this.lists.push(list);
      else this.trackOwn(server);
    });
    if (!secure) return;
    server.on('connection', (socket: Socket) => {
      this.enterFront(socket);
    });
    // Now an HTTP/1 connection in Node's list, or an HTTP/2 session drained with the sessions.
    server.on('secureConnection', (tls: HttpSocket) => {
      if (tls._parent) this.front.delete(tls._parent);
    });
  }

  /** The old way, for a Node whose http.Server keeps no list. */
  private trackOwn(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.own.set(socket, socket);
      socket.once('close', () => this.own.delete(socket));
    });
    // A TLS server's 'connection' gives the raw socket; its requests come on the TLSSocket over it.
    server.on('secureConnection', (tls: HttpSocket) => {
      if (tls._parent && this.own.has(tls._parent)) this.own.set(tls._parent, tls);
    });
  }

  /** A connection the master accepted (round-robin), about to be served. */
  handedOver(socket: Socket): void {
    this.handed++;
    socket.once('close', () => this.handed--);
  }

  /** The socket is read by a front step (connection-front.ts) until `leave` is called. */
  enterFront(socket: Socket): () => void {
    this.front.add(socket);
    const leave = () => {
      this.front.delete(socket);
      socket.off('close', leave);
    };
    socket.once('close', leave);
    return leave;
  }

  /** The connection is no longer HTTP/1 (an upgrade, an HTTP/2 session): its own tracker drains it. */
  forget(socket: Socket): void {
    this.front.delete(socket);
    if (!this.own.delete(socket)) this.own.delete((socket as HttpSocket)._parent as Socket);
  }

  /** Every HTTP/1 connection: the socket its parser reads. */
  private sockets(): HttpSocket[] {
    const out: HttpSocket[] = [];
    for (const list of this.lists) for (const { socket } of list.all()) if (socket) out.push(socket);
    for (const socket of this.own.values()) out.push(socket);
    return out;
  }

  /** Open connections: every HTTP/1 one, and those still in front of the parser. */
  get openConnections(): number {
    return this.sockets().length + this.front.size;
  }

  /** Open connections the master handed over (round-robin): what worker_connections bounds there. */
  get handedOverOpen(): number {
    return this.handed;
  }

  /**
   * HTTP/1 requests being answered: one per connection writing a response. (A pipelining
   * client's queued requests are not counted until their turn; browsers do not pipeline.)
   */
  inflight(): number {
    let busy = 0;
    for (const socket of this.sockets()) if (current(socket)) busy++;
    return busy;
  }

  /**
   * A request in flight, for the timeout log. Node's list puts a connection still reading its
   * request by that request's start, oldest first, after those reading nothing (a hung GET is among
   * those), which come in no particular order: with one request in flight it is that one.
   */
  oldestRequest(): IncomingMessage | undefined {
    for (const socket of this.sockets()) {
      const res = current(socket);
      if (res) return res.req;
    }
    return undefined;
  }

  /** A drain began: each response still to write its head says `Connection: close`. */
  closeAfterResponses(): void {
    for (const socket of this.sockets()) {
      const res = current(socket);
      if (res && !res.headersSent) res.setHeader('connection', 'close');
    }
  }

  /**
   * One sweep of a drain: destroys connections seen idle for at least `graceMs` (neither writing a
   * response nor reading anything since the last sweep); returns how many remain open. The grace
   * counts from the first sweep that saw a connection idle, never from before the drain. A socket
   * still in front of the parser (a TLS handshake, a PROXY header) that reads nothing is idle too.
   */
  closeIdle(graceMs: number, now: number): number {
    let open = 0;
    for (const socket of [...this.sockets(), ...this.front]) {
      if (socket.destroyed) continue;
      open++;
      const read = socket.bytesRead;
      let look = this.looks.get(socket);
      if (look === undefined) {
        look = { idleSince: undefined, readAt: read };
        this.looks.set(socket, look);
      } else if (read !== look.readAt) {
        look.readAt = read;
        look.idleSince = undefined;
        continue;
      }
      if (current(socket)) {
        look.idleSince = undefined;
        continue;
      }
      look.idleSince ??= now;
      if (now - look.idleSince >= graceMs) socket.destroy();
    }
    return open;
  }

  destroyAll(): void {
    for (const socket of this.sockets()) socket.destroy();
    for (const socket of this.front) socket.destroy();
  }
}
