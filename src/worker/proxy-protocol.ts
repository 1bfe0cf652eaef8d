import type { Server, Socket } from 'node:net';
import { AddressFamilyType, Command, type IPv6ProxyAddress, V1ProxyProtocol, V2ProxyProtocol } from 'proxy-protocol-js';
import { ipFamily } from '../config/ip-family.js';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { type ConnectionStep, readPrefix } from './connection-front.js';
import { TrustList } from './proxy-trust.js';

/** The client a PROXY header declares. */
export interface DeclaredPeer {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** A PROXY header that is not one: the connection is closed. */
export class ProxyHeaderError extends Error {}

/** A parsed header: `peer` null means "use the real connection" (v1 UNKNOWN, v2 LOCAL or UNSPEC). */
export interface ProxyHeader {
  peer: DeclaredPeer | null;
  /** Bytes the header took; what follows is HTTP or a TLS ClientHello. */
  length: number;
}

// The spec's bounds (haproxy.org proxy-protocol.txt 2.1, 2.2): a v1 line is at most 107 bytes
// with its CRLF; a v2 header is 16 bytes and the length they announce.
const V1_MAX = 107;
const V1_START = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const V2_FIXED = 16;

function startsLike(buffered: Buffer, signature: Buffer): boolean {
  const n = Math.min(buffered.length, signature.length);
  return buffered.subarray(0, n).equals(signature.subarray(0, n));
}

function port(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ProxyHeaderError(`port ${text} out of range`);
  return n;
}

function parseV1(line: string): DeclaredPeer | null {
  // "PROXY UNKNOWN" may carry anything up to the CRLF; the receiver uses the real addresses.
  if (/^PROXY UNKNOWN[ \r]/.test(line)) return null;
  let parsed: V1ProxyProtocol;
  try {
    parsed = V1ProxyProtocol.parse(line);
  } catch (err) {
    throw new ProxyHeaderError(`v1: ${(err as { message?: string }).message ?? 'malformed'}`);
  }
  const family = parsed.inetProtocol === 'TCP4' ? 4 : 6;
  const { source, destination } = parsed;
  if (ipFamily(source.ipAddress) !== family || ipFamily(destination.ipAddress) !== family)
    throw new ProxyHeaderError(`v1: address is not ${parsed.inetProtocol}`);
  return { address: source.ipAddress, port: port(String(source.port)), family: family === 4 ? 'IPv4' : 'IPv6' };
}

function ipv6Text(bytes: readonly number[]): string {
  // An IPv4-mapped source (::ffff:a.b.c.d) is the IPv4 client it stands for.
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  // URL writes the canonical (RFC 5952) form, as HAProxy and the kernel do.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function parseV2(header: Buffer): DeclaredPeer | null {
  let parsed: V2ProxyProtocol;
  try {
    parsed = V2ProxyProtocol.parse(header);
  } catch (err) {
    throw new ProxyHeaderError(`v2: ${(err as { message?: string }).message ?? 'malformed'}`);
  }
  // LOCAL: the proxy's own health check; UNSPEC or UNIX: no IP to declare. Use the real peer.
  if (parsed.command === Command.LOCAL) return null;
  if (parsed.addressFamilyType === AddressFamilyType.INET) {
    const address = parsed.proxyAddress as unknown as { sourceAddress: { address: number[] }; sourcePort: number };
    return { address: address.sourceAddress.address.join('.'), port: address.sourcePort, family: 'IPv4' };
  }
  if (parsed.addressFamilyType === AddressFamilyType.INET6) {
    const address = parsed.proxyAddress as IPv6ProxyAddress;
    const text = ipv6Text(address.sourceAddress.address);
    return { address: text, port: address.sourcePort, family: ipFamily(text) === 4 ? 'IPv4' : 'IPv6' };
  }
  return null;
}

/**
 * Frames and parses the PROXY header at the start of `buffered`: undefined while more bytes are
 * needed, the header once complete; throws ProxyHeaderError when the bytes are not a valid one.
 */
export function parseProxyHeader(buffered: Buffer): ProxyHeader | undefined {
  if (buffered.length === 0) return undefined;
  if (buffered[0] === V1_START[0]) {
    if (!startsLike(buffered, V1_START)) throw new ProxyHeaderError('no PROXY header');
    const end = buffered.subarray(0, V1_MAX).indexOf('\r\n');
    if (end < 0) {
      if (buffered.length >= V1_MAX) throw new ProxyHeaderError(`v1 line longer than ${V1_MAX} bytes`);
      return undefined;
    }
    return { peer: parseV1(buffered.subarray(0, end + 2).toString('latin1')), length: end + 2 };
  }
  if (!startsLike(buffered, V2_SIGNATURE)) throw new ProxyHeaderError('no PROXY header');
  if (buffered.length < V2_FIXED) return undefined;
  const length = V2_FIXED + buffered.readUInt16BE(14);
  if (buffered.length < length) return undefined;
  return { peer: parseV2(buffered.subarray(0, length)), length };
}

const DECLARED = new WeakMap<Socket, DeclaredPeer>();

/** What the app (req.socket), proxy trust and the access log read is the declared client. */
function declare(socket: Socket, peer: DeclaredPeer): void {
  DECLARED.set(socket, peer);
  const fields = { remoteAddress: peer.address, remotePort: peer.port, remoteFamily: peer.family };
  for (const [name, value] of Object.entries(fields)) Object.defineProperty(socket, name, { value, configurable: true, enumerable: true });
}

/**
 * A TLS server wraps the raw socket in a TLSSocket that reads the peer from the kernel again:
 * carry the declared client over before http (or http2) sees the TLSSocket.
 */
export function carryDeclaredPeer(server: Server): void {
  server.prependListener('secureConnection', (tlsSocket: Socket) => {
    const raw = (tlsSocket as Socket & { _parent?: Socket | null })._parent;
    const peer = raw ? DECLARED.get(raw) : undefined;
    if (peer) declare(tlsSocket, peer);
  });
}

/**
 * `proxy.protocol`: every connection starts with a PROXY header (v1 or v2) from a peer in
 * `proxy.allow_ips`, read before HTTP and before TLS (the header precedes the ClientHello). A
 * peer not allowed, a missing or malformed header, or one not complete within headers_timeout
 * closes the connection. A Unix-socket peer has no address: the socket file's permissions are
 * the access control, so it is allowed.
 */
export function proxyHeaderStep(settings: Settings, log: Logger): ConnectionStep {
  const allowed = new TrustList(settings.proxy.allow_ips);
  const timeoutMs = settings.headers_timeout * 1000;
  return (socket, next) => {
    const peer = socket.remoteAddress;
    if (peer !== undefined && !allowed.has(peer)) {
      log.debug({ peer, reason: 'peer not in proxy.allow_ips' }, 'proxy header refused; connection closed');
      socket.destroy();
      return;
    }
    readPrefix(
      socket,
      timeoutMs,
      (buffered) => {
        const header = parseProxyHeader(buffered);
        return header && { verdict: header.peer, rest: buffered.subarray(header.length) };
      },
      (declared) => {
        if (declared) declare(socket, declared);
        next();
      },
      (reason) => log.debug({ peer, reason }, 'proxy header refused; connection closed'),
    );
  };
}
