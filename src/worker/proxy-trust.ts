import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { BlockList } from 'node:net';
import { ipFamily } from '../config/ip-family.js';
import type { Settings } from '../config/settings.js';
import { removeRawHeaders, setRawHeader } from './raw-headers.js';

/** Headers only a trusted proxy may set: from anyone else they are removed before the app runs. */
const FORWARDED_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip'];

function family(address: string): 'ipv4' | 'ipv6' {
  return ipFamily(address) === 6 ? 'ipv6' : 'ipv4';
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) is `10.0.0.1`. */
export function plainAddress(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') && ipFamily(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** Addresses whose answer a TrustList keeps: a client set larger than this starts over. */
const VERDICTS_KEPT = 4096;

/**
 * A trust list (`proxy.forwarded_allow_ips`): addresses, CIDR ranges, or `*`. Answers are kept
 * per address string: BlockList.check() builds a SocketAddress for each string it is given, which
 * cost the request path more than everything else the proxy rules do.
 */
export class TrustList {
  private readonly all: boolean;
  private readonly list = new BlockList();
  private readonly verdicts = new Map<string, boolean>();

  constructor(entries: readonly string[]) {
    this.all = entries.includes('*');
    for (const entry of entries) {
      if (entry === '*') continue;
      const [ip = '', prefix] = entry.split('/');
      if (prefix === undefined) this.list.addAddress(ip, family(ip));
      else this.list.addSubnet(ip, Number(prefix), family(ip));
    }
  }

  has(address: string | undefined): boolean {
    if (address === undefined) return false;
    if (this.all) return true;
    let verdict = this.verdicts.get(address);
    if (verdict === undefined) {
      const plain = plainAddress(address) ?? address;
      const kind = ipFamily(plain);
      verdict = kind !== 0 && this.list.check(plain, kind === 6 ? 'ipv6' : 'ipv4');
      if (this.verdicts.size >= VERDICTS_KEPT) this.verdicts.clear();
      this.verdicts.set(address, verdict);
    }
    return verdict;
  }
}

/** The `for=` addresses of an RFC 7239 Forwarded header, in order. */
function forwardedFor(header: string): string[] {
  const out: string[] = [];
  for (const element of header.split(',')) {
    for (const pair of element.split(';')) {
      const [key, raw] = pair.split('=');
      if (key?.trim().toLowerCase() !== 'for' || raw === undefined) continue;
      let value = raw.trim().replace(/^"|"$/g, '');
      if (value.startsWith('[')) value = value.slice(1, value.indexOf(']'));
      else if (ipFamily(value) === 0 && value.includes(':')) value = value.slice(0, value.lastIndexOf(':'));
      out.push(value);
    }
  }
  return out;
}

/** What a request's client is, after the proxy rules. */
export interface ClientInfo {
  address: string;
  secure: boolean;
}

/**
 * Applies `proxy.forwarded_allow_ips` to one request, as Gunicorn does with its setting of the
 * same name. From an untrusted peer every forwarding header is removed, so it cannot be spoofed.
 * From a trusted one, the client is the right-most address of X-Forwarded-For (or Forwarded)
 * that is not itself a trusted proxy, and the scheme is https when a secure_scheme_header says so.
 * The app sees the result as `req.socket.remoteAddress` and, when any forwarding field came, a
 * normalized `x-forwarded-proto`, in req.headers and req.rawHeaders alike. A request with no
 * forwarding field is left as sent, from a trusted peer too: there is nothing to normalize.
 */
export class ProxyRules {
  private readonly trusted: TrustList;
  private readonly secureHeaders: [string, string][];
  /** Every header an untrusted peer may not set, lower-case. */
  private readonly stripped: Set<string>;

  constructor(proxy: Settings['proxy']) {
    this.trusted = new TrustList(proxy.forwarded_allow_ips);
    this.secureHeaders = Object.entries(proxy.secure_scheme_headers).map(([name, value]) => [
      name.toLowerCase(),
      String(value).toLowerCase(),
    ]);
    this.stripped = new Set([...FORWARDED_HEADERS, ...this.secureHeaders.map(([name]) => name)]);
  }

  /** The fields only a trusted proxy may set (lower-case): HeadScanner tells whether any came. */
  get forwardingNames(): ReadonlySet<string> {
    return this.stripped;
  }

  /** Whether any of forwardingNames is among `headers` (HTTP/2, upgrades; for HTTP/1 HeadScanner tells). */
  forwardedBy(headers: IncomingHttpHeaders): boolean {
    for (const name of this.stripped) if (headers[name] !== undefined) return true;
    return false;
  }

  /**
   * `forwarding`: whether any of forwardingNames is among the request's fields (HeadScanner
   * knows for HTTP/1 without a lookup per name in req.headers; true when not known).
   */
  apply(req: IncomingMessage, peer: string | undefined, encrypted: boolean, forwarding = true): ClientInfo {
    // Nothing to strip, follow or normalize: the request reaches the app as it was sent.
    if (!forwarding) return { address: plainAddress(peer) ?? '-', secure: encrypted };
    const headers = req.headers;
    if (!this.trusted.has(peer)) {
      let removed = false;
      for (const name of this.stripped) {
        if (name in headers) {
          delete headers[name];
          removed = true;
        }
      }
      // From rawHeaders too: a fetch handler's Request is built from them.
      if (removed) removeRawHeaders(req, this.stripped);
      return { address: plainAddress(peer) ?? '-', secure: encrypted };
    }
    const xff = headers['x-forwarded-for'];
    const forwarded = headers.forwarded;
    const chain =
      typeof xff === 'string' ? xff.split(',').map((s) => s.trim()) : typeof forwarded === 'string' ? forwardedFor(forwarded) : [];
    let address = plainAddress(peer) ?? '-';
    for (let i = chain.length - 1; i >= 0; i--) {
      const hop = chain[i] ?? '';
      if (ipFamily(hop) === 0) break;
      address = hop;
      if (!this.trusted.has(hop)) break;
    }
    let secure = encrypted;
    for (const [name, value] of this.secureHeaders) {
      const got = headers[name];
      if (typeof got === 'string' && got.toLowerCase() === value) secure = true;
    }
    if (typeof forwarded === 'string' && /(^|[;,\s])proto=("?)https\2/i.test(forwarded)) secure = true;
    const proto = secure ? 'https' : 'http';
    if (headers['x-forwarded-proto'] !== proto) {
      headers['x-forwarded-proto'] = proto;
      setRawHeader(req, 'x-forwarded-proto', proto);
    }
    return { address, secure };
  }
}
