import { ipFamily } from './ip-family.js';

/** A listener address as written in `bind`, parsed once; the master's listeners use the same parser. */
export type BindAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string } | { kind: 'fd'; fd: number };

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `host:port`, `:port`, `[ipv6]:port`, `unix:PATH`, `fd://N`; null when the text is none of these. */
export function parseBindAddress(text: string): BindAddress | null {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    return path.length > 0 ? { kind: 'unix', path } : null;
  }
  if (text.startsWith('fd://')) {
    const fd = text.slice(5);
    return /^\d+$/.test(fd) && Number(fd) >= 3 ? { kind: 'fd', fd: Number(fd) } : null;
  }
  return parseHostPort(text, true);
}

export function parseHostPort(text: string, allowEmptyHost: boolean): { kind: 'tcp'; host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  if (m[1] !== undefined) return ipFamily(m[1]) === 6 ? { kind: 'tcp', host: m[1], port } : null;
  const host = m[2] ?? '';
  if (host === '') return allowEmptyHost ? { kind: 'tcp', host: '', port } : null;
  return ipFamily(host) === 4 || HOSTNAME.test(host) ? { kind: 'tcp', host, port } : null;
}

/** An address or CIDR range for the trust lists (`10.0.0.0/8`, `::1`, `*`). */
export function isIpOrCidr(text: string): boolean {
  if (text === '*') return true;
  const [ip, prefix, extra] = text.split('/');
  if (extra !== undefined || !ip) return false;
  const family = ipFamily(ip);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * The schema's custom formats (`"format": "bind"` …). The generated validator
 * (src/config/validator.generated.ts) calls these functions, so a format means the same as the parser
 * that later reads the value.
 */
export const schemaFormats: Record<string, (text: string) => boolean> = {
  bind: (text) => parseBindAddress(text) !== null,
  'ip-or-cidr': isIpOrCidr,
  'host-port': (text) => parseHostPort(text, false) !== null,
};

/** Why a `bind` entry is not an address, in the terms of the mistake people make. */
export function bindHint(text: string): string | undefined {
  if (/^\d+$/.test(text)) return `a port alone is written ":${text}" (all interfaces) or "127.0.0.1:${text}"`;
  if (/^[a-z]+:\/\//i.test(text) && !text.startsWith('fd://')) return 'write the address without a scheme, e.g. 127.0.0.1:8000';
  if (/^fd:\/\/[0-2]$/.test(text)) return 'fds 0, 1 and 2 are stdin, stdout and stderr; inherited sockets start at fd://3';
  if (text === 'unix:') return 'give the socket path, e.g. unix:/run/app.sock';
  const port = /:(\d+)$/.exec(text)?.[1];
  if (port && Number(port) > 65535) return `port ${port} is above 65535`;
  if (text.startsWith('[') && !text.includes(']')) return 'close the bracket: [::1]:8000';
  if ((text.match(/:/g) ?? []).length > 1 && !text.startsWith('[')) return 'an IPv6 address goes in brackets: [::1]:8000';
  if (!text.includes(':')) return `add a port: ${text}:8000`;
  return undefined;
}
