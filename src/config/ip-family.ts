import { isIPv4, SocketAddress } from 'node:net';

/** The zone of a link-local IPv6 address (`fe80::1%eth0`), as net.isIPv6 accepts it. */
const ZONE = /^%[0-9a-zA-Z.:-]+$/;

/**
 * net.isIP() without its IPv6 regular expression: V8 takes ~23 ms to compile that expression on
 * its first use, once in every process, and the default `proxy.forwarded_allow_ips` (`::1`) put it
 * on the path of every config load and every worker's boot. An IPv6 address is checked by libuv's
 * inet_pton instead (a SocketAddress); the answers are net.isIP's (test/unit/ip-family.test.ts).
 */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (isIPv4(text)) return 4;
  if (!text.includes(':')) return 0;
  const zone = text.indexOf('%');
  if (zone !== -1 && !ZONE.test(text.slice(zone))) return 0;
  try {
    new SocketAddress({ address: text, family: 'ipv6' });
    return 6;
  } catch {
    return 0;
  }
}
