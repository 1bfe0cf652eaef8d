import { isIP } from 'node:net';

/** The 16 bytes of an IPv6 address (or an IPv4 one as 4). */
function ipBytes(address: string): number[] {
  if (isIP(address) === 4) return address.split('.').map(Number);
  // A dotted IPv4 tail (::ffff:192.0.2.9) is two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    address = `${address.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

export interface V2Options {
  command?: 'LOCAL' | 'PROXY';
  /** Address family: derived from `source` unless given. */
  family?: 'UNSPEC' | 'INET' | 'INET6' | 'UNIX';
  source?: string;
  destination?: string;
  sourcePort?: number;
  destinationPort?: number;
  /** TLVs (or anything) after the addresses, counted in the length. */
  extra?: Buffer;
  /** The version nibble; 2 is the only valid one. */
  version?: number;
}

/** A PROXY protocol v2 header, written byte by byte from the spec (not by the library under test). */
export function proxyV2(opts: V2Options = {}): Buffer {
  const source = opts.source ?? '203.0.113.7';
  const family = opts.family ?? (isIP(source) === 6 ? 'INET6' : 'INET');
  const destination = opts.destination ?? (family === 'INET6' ? '2001:db8::1' : '10.0.0.1');
  const familyCode = { UNSPEC: 0, INET: 1, INET6: 2, UNIX: 3 }[family];
  let addresses = Buffer.alloc(0);
  if (family === 'INET' || family === 'INET6') {
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(opts.sourcePort ?? 40000, 0);
    ports.writeUInt16BE(opts.destinationPort ?? 443, 2);
    addresses = Buffer.concat([Buffer.from(ipBytes(source)), Buffer.from(ipBytes(destination)), ports]);
  } else if (family === 'UNIX') {
    addresses = Buffer.alloc(216);
  }
  const body = Buffer.concat([addresses, opts.extra ?? Buffer.alloc(0)]);
  const head = Buffer.alloc(16);
  Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1').copy(head);
  head[12] = ((opts.version ?? 2) << 4) | (opts.command === 'LOCAL' ? 0 : 1);
  head[13] = (familyCode << 4) | 1;
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}
