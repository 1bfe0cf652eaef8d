import type { IncomingMessage } from 'node:http';

/** Fields a request may carry once: a second one is an ambiguity a smuggler can use (RFC 9112). */
const SINGLETONS = ['host', 'content-length', 'content-type', 'transfer-encoding', 'authorization', 'proxy-authorization'];

/** What a lower-case field name is to the request path (bits; a singleton's index sits above them). */
const TRANSFER_ENCODING = 1;
const REQUEST_ID = 2;
const FORWARDING = 4;
const SINGLETON_SHIFT = 3;

/**
 * What one pass over an HTTP/1 request's rawHeaders found, before tsicorn adds any field. One
 * object, reused: the pass and its readers run synchronously, request by request.
 */
export interface HeadScan {
  /** Header fields the client sent. */
  fields: number;
  /** The first field longer than `limit_request_field_size` (name: value), as the client wrote its name. */
  oversized: string | undefined;
  /** The first singleton field given twice, lower-case. */
  duplicate: string | undefined;
  transferEncoding: string | undefined;
  /** The request id field's value when exactly one came (`requestIds`: how many came). */
  requestId: string | undefined;
  requestIds: number;
  /** A forwarding field (one only a trusted proxy may set) is present: the proxy rules must look. */
  forwarding: boolean;
}

export interface HeadScannerOptions {
  /** `limit_request_field_size` (0: no limit). */
  fieldSize: number;
  /** `log.request_id_header`, lower-case. */
  requestIdHeader: string;
  /** The proxy rules' forwarding fields, lower-case. */
  forwardingNames: Iterable<string>;
}

/** Names up to this length are found through per-length tables; longer ones (rare) by a list. */
const TABLE = 64;

/** A field looked for: its lower-case name and what it is (the bits above, ORed). */
interface Wanted {
  lower: string;
  kind: number;
}

/**
 * Reads an HTTP/1 request's head once for everything the pipeline needs before the app runs: the
 * request limits, the RFC 9112 singleton check, the request id and whether the proxy rules have
 * anything to do. Why not `req.headers`: each lookup there is a megamorphic keyed load on an object
 * whose shape differs with every client, and a removal makes it a dictionary; this pass reads an
 * array of strings. A name is compared only if its length and first letter match one of the
 * fields looked for, so a browser's dozen `Accept-*` and `Sec-*` fields cost a lookup each; then
 * letter by letter, folding ASCII case, against the few names of its length. (Lower-casing it
 * and asking a Map, as before, made a string and hashed it, for the Host field every request
 * carries: ~135 of the ~53,000 instructions a keep-alive request takes, in callgrind.)
 */
export class HeadScanner {
  private readonly fieldSize: number;
  /** Per name length, the fields looked for of that length. */
  private readonly byLength: Wanted[][] = Array.from({ length: TABLE }, () => []);
  private readonly longer: Wanted[] = [];
  /** Per name length, a bit per first letter (a–z) of the names looked for. */
  private readonly firstLetters = new Int32Array(TABLE);
  private readonly result: HeadScan = {
    fields: 0,
    oversized: undefined,
    duplicate: undefined,
    transferEncoding: undefined,
    requestId: undefined,
    requestIds: 0,
    forwarding: false,
  };

  constructor(options: HeadScannerOptions) {
    this.fieldSize = options.fieldSize;
    for (const [index, name] of SINGLETONS.entries()) this.mark(name, (index + 1) << SINGLETON_SHIFT);
    this.mark('transfer-encoding', TRANSFER_ENCODING);
    this.mark(options.requestIdHeader, REQUEST_ID);
    for (const name of options.forwardingNames) this.mark(name, FORWARDING);
  }

  private mark(name: string, kind: number): void {
    const lower = name.toLowerCase();
    const list = this.listFor(lower.length);
    const known = list.find((wanted) => wanted.lower === lower);
    if (known) known.kind |= kind;
    else list.push({ lower, kind });
    const letter = (lower.charCodeAt(0) | 0x20) - 97;
    // A name too long for the table, or not starting with a letter, is looked for in every field.
    if (lower.length >= TABLE || letter < 0 || letter > 25) this.firstLetters.fill(-1);
    else this.firstLetters[lower.length] = (this.firstLetters[lower.length] ?? 0) | (1 << letter);
  }

  private listFor(length: number): Wanted[] {
    return length < TABLE ? (this.byLength[length] as Wanted[]) : this.longer;
  }

  /** The field looked for that `name` is, in any case; undefined when none is. */
  private find(name: string): Wanted | undefined {
    const list = this.listFor(name.length);
    for (let k = 0; k < list.length; k++) {
      const wanted = list[k] as Wanted;
      if (sameName(name, wanted.lower)) return wanted;
    }
    return undefined;
  }

  scan(req: IncomingMessage): HeadScan {
    const out = this.result;
    const raw = req.rawHeaders;
    const fieldSize = this.fieldSize;
    const table = this.firstLetters;
    out.fields = raw.length >> 1;
    out.oversized = undefined;
    out.duplicate = undefined;
    out.transferEncoding = undefined;
    out.requestId = undefined;
    out.requestIds = 0;
    out.forwarding = false;
    let singletons = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      const value = raw[i + 1] as string;
      if (fieldSize > 0 && name.length + value.length + 2 > fieldSize) out.oversized ??= name;
      const letters = name.length < TABLE ? (table[name.length] as number) : -1;
      if (letters === 0 || ((letters >>> ((name.charCodeAt(0) | 0x20) - 97)) & 1) === 0) continue;
      const wanted = this.find(name);
      if (wanted === undefined) continue;
      const kind = wanted.kind;
      if (kind >= 1 << SINGLETON_SHIFT) {
        const bit = 1 << (kind >> SINGLETON_SHIFT);
        if ((singletons & bit) !== 0) out.duplicate ??= wanted.lower;
        singletons |= bit;
      }
      if ((kind & TRANSFER_ENCODING) !== 0) out.transferEncoding = value;
      if ((kind & REQUEST_ID) !== 0) {
        out.requestIds++;
        out.requestId = value;
      }
      if ((kind & FORWARDING) !== 0) out.forwarding = true;
    }
    return out;
  }
}

/**
 * `name` is `lower` in any case. Field names are tokens (RFC 9110: ASCII, which Node's strict
 * parser holds them to), so folding A–Z is all toLowerCase() would do to them.
 */
function sameName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c | 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}
