/**
 * Writing text into a byte buffer without making strings: what the access log's formatters
 * (access-bytes.ts, access-json-bytes.ts) share. Each returns where its bytes end; a typed array
 * drops writes past its end, so an end past `buf.length` tells the caller the text did not fit.
 */

export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;

export function copyBytes(buf: Buffer, at: number, bytes: Uint8Array): number {
  let p = at;
  for (let i = 0; i < bytes.length; i++) buf[p++] = bytes[i] as number;
  return p;
}

/**
 * A value tsicorn made (an address, the time, a method already escaped): ASCII, copied as is.
 * Anything else is encoded as UTF-8, as the string would have been.
 */
export function plain(buf: Buffer, at: number, text: string): number {
  let p = at;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return copyBytes(buf, p, Buffer.from(text.slice(i)));
    buf[p++] = c;
  }
  return p;
}

/** A non-negative integer's decimal digits, without making its string. */
export function digits(buf: Buffer, at: number, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return plain(buf, at, String(n));
  let end = at + 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) end++;
  let p = end;
  let rest = n;
  do {
    buf[--p] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  } while (rest > 0);
  return end;
}

/** A clock's text as bytes, encoded again only when the text changes (once a second, or a millisecond). */
export function clockBytes(text: (ms: number) => string): (ms: number) => Uint8Array {
  let last = '';
  let bytes: Uint8Array = new Uint8Array(0);
  return (ms) => {
    const now = text(ms);
    if (now !== last) {
      last = now;
      bytes = Buffer.from(now, 'latin1');
    }
    return bytes;
  };
}

/** How an escaping writes each char below 0x80: as itself (undefined), or as these bytes. */
export type Escapes = readonly (Uint8Array | undefined)[];
/** escapeInto() met a char from 0x80 with no `high` table: the caller leaves the line to a string. */
export const DECLINED = -1;

/** `text.slice(from, to)` escaped by the tables; a char from 0x80 by `high[c & 0xff]`, or DECLINED without it. */
export function escapeInto(
  buf: Buffer,
  at: number,
  text: string,
  ascii: Escapes,
  high: readonly Uint8Array[] | null,
  from = 0,
  to = text.length,
): number {
  let p = at;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    let written: Uint8Array | undefined;
    if (c < 0x80) written = ascii[c];
    else if (high === null) return DECLINED;
    else written = high[c & 0xff];
    if (written === undefined) buf[p++] = c;
    else for (let k = 0; k < written.length; k++) buf[p++] = written[k] as number;
  }
  return p;
}
