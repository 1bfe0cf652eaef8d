import { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ProxyRules } from './proxy-trust.js';
import type { HeadScan } from './request-head.js';
import { RequestIds } from './request-ids.js';

/** Who sent a request, as the app and the access log are told. */
export interface RequestIdentity {
  requestId: string;
  /** The id was made here (none came, or it was unsafe): req.headers has it, rawHeaders must learn it too. */
  madeId: boolean;
  remoteAddr: string;
  /** CN of the verified client certificate (mTLS), for the access log's %(u)s. */
  certUser: string | undefined;
}

/**
 * A connection's peers, kept on its socket: the real one (remoteAddress may already show an
 * earlier request's client; with a PROXY header, the client the header declared) and the one
 * remoteAddress shows now, so a request does not call the remoteAddress getter to compare.
 */
const PEERS = Symbol('tsicorn.peers');
interface Peers {
  real: string | undefined;
  shown: string | undefined;
}

/** The ids made for requests that came without one (UUIDs). */
const madeIds = new RequestIds();

/** An incoming id is kept if it is short and printable; anything else is replaced. */
const SAFE_ID = /^[\x21-\x7e]{1,200}$/;

/**
 * Served over HTTP/2 (not an HTTP/1 request line that claims `HTTP/2.0`, which is refused). Node's
 * Http2ServerRequest is not an IncomingMessage; testing for that keeps node:http2 (~15 ms of a
 * worker's boot) unloaded in a worker that serves HTTP/1 only.
 */
export function isHttp2(req: IncomingMessage): boolean {
  return !(req instanceof IncomingMessage);
}

/**
 * The connection a request came on, to read the peer from. For HTTP/2, `req.socket` is a
 * per-stream proxy whose property definitions land on the stream; the session's socket (itself a
 * proxy, stable per session) reads and writes the connection.
 */
export function transportOf(req: IncomingMessage): Socket {
  if (isHttp2(req)) return (req as unknown as Http2ServerRequest).stream.session?.socket as Socket;
  return req.socket;
}

/**
 * The app reads the client from `req.socket.remoteAddress`. HTTP/1 requests on a connection come
 * one after another, so the socket can carry it; HTTP/2 streams share one, so the request gets its
 * own view of the socket instead.
 */
function showClient(req: IncomingMessage, http2: boolean, transport: Socket, peers: Peers, address: string): void {
  if (!http2) {
    if (peers.shown !== address) {
      Object.defineProperty(transport, 'remoteAddress', { value: address, configurable: true, enumerable: true });
      peers.shown = address;
    }
    return;
  }
  if (address === peers.real) return;
  const shared = req.socket;
  const own = new Proxy(shared, { get: (target, prop) => (prop === 'remoteAddress' ? address : Reflect.get(target, prop)) });
  Object.defineProperty(req, 'socket', { value: own, configurable: true, enumerable: true });
}

/**
 * The verified client certificate's CN. The app gets the whole certificate the same way:
 * `req.socket.authorized` (true only when it verified against tls.ca_certs) and
 * `req.socket.getPeerCertificate()` (for HTTP/2 too: the stream's socket proxy reads the TLSSocket).
 */
function certUser(transport: Socket): string | undefined {
  const tls = transport as Partial<TLSSocket>;
  if (tls.authorized !== true || typeof tls.getPeerCertificate !== 'function') return undefined;
  const cn = tls.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' ? cn : Array.isArray(cn) ? cn.join(',') : undefined;
}

/**
 * Gives a request its id (the client's or proxy's if safe, else a new one; the app reads it from
 * req.headers) and its client address after the proxy rules. Forwarding headers are trusted only
 * from forwarded_allow_ips; the address the app (req.socket.remoteAddress) and the access log see
 * is the resolved one. Read at once: a socket whose client has gone no longer knows its address.
 * `head`: an HTTP/1 request's fields as HeadScanner read them (absent for HTTP/2 and upgrades).
 * `needAddress`: the caller uses `remoteAddr` and `certUser` (the access log); without it, a request
 * with no forwarding field may get `-` and undefined (see below).
 */
export function identify(
  req: IncomingMessage,
  requestIdHeader: string,
  proxyRules: ProxyRules,
  head?: HeadScan,
  needAddress = true,
): RequestIdentity {
  let requestId: string;
  let madeId: boolean;
  if (head) {
    // HTTP/1, its fields already read once: no lookup in req.headers unless a field is set.
    madeId = head.requestIds !== 1 || !SAFE_ID.test(head.requestId as string);
    requestId = madeId ? madeIds.next() : (head.requestId as string);
    if (madeId) req.headers[requestIdHeader] = requestId;
  } else {
    const incoming = req.headers[requestIdHeader];
    madeId = typeof incoming !== 'string' || !SAFE_ID.test(incoming);
    requestId = madeId ? madeIds.next() : (incoming as string);
    req.headers[requestIdHeader] = requestId;
  }
  const forwarding = head ? head.forwarding : proxyRules.forwardedBy(req.headers);
  const http2 = head ? false : isHttp2(req);
  const transport = http2 ? transportOf(req) : req.socket;
  // (Read, not tested with `in`: an HTTP/2 session's socket proxy stores the symbol but does not report it.)
  const held = transport as Socket & { [PEERS]?: Peers };
  // Nothing to decide (no forwarding field) and nobody asking (the access log): the peer is not
  // read. Reading it (getpeername(2), an object, a property on the socket) was ~12,500 of the
  // ~217,000 CPU instructions a request on its own connection cost (callgrind); for HTTP/2 each
  // read goes through the session socket's proxy. The app's req.socket.remoteAddress is then
  // Node's own. An HTTP/1 connection that showed an earlier request a forwarded client is read:
  // it must show the real one again (HTTP/2 gives each request its own view instead).
  if (!forwarding && !needAddress && (http2 || held[PEERS] === undefined)) {
    return { requestId, madeId, remoteAddr: '-', certUser: undefined };
  }
  let peers = held[PEERS];
  if (peers === undefined) {
    const real = transport.remoteAddress;
    peers = { real, shown: real };
    held[PEERS] = peers;
  }
  const peer = peers.real;
  const client = proxyRules.apply(req, peer, (transport as { encrypted?: boolean }).encrypted === true, forwarding);
  // Shown even when it is the peer: an earlier request on this connection may have been forwarded.
  if (peer !== undefined) showClient(req, http2, transport, peers, client.address === '-' ? peer : client.address);
  return { requestId, madeId, remoteAddr: client.address, certUser: certUser(transport) };
}
