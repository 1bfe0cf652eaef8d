/**
 * Keeping an access log line within a byte limit (PIPE_BUF, for a pipe) by shortening the
 * fields a client or app supplied — path, query, referer, user agent, headers — and never the
 * fixed ones (time, status, address), so a shortened line keeps its shape: a text line still
 * parses with the same pattern, a JSON line is still valid JSON.
 *
 * Each shortened field ends with MARK. The sizes are those of the field as written (escaped),
 * so the limit holds for the line as it reaches the pipe.
 */

/** Ends a shortened field: visible, ASCII, no space or quote (a text field stays one token). */
export const MARK = '...[truncated]';

/**
 * Caps for fields of the given sizes so that they fit in `budget` bytes together, fairly: a
 * field smaller than its share keeps all of it, and what it leaves goes to the longer ones.
 */
export function shareBudget(sizes: readonly number[], budget: number): number[] {
  const order = sizes.map((_, i) => i).sort((a, b) => (sizes[a] ?? 0) - (sizes[b] ?? 0));
  const caps = [...sizes];
  let left = Math.max(0, budget);
  for (const [k, i] of order.entries()) {
    const size = sizes[i] ?? 0;
    const share = Math.floor(left / (order.length - k));
    const cap = Math.min(size, share);
    caps[i] = cap;
    left -= cap;
  }
  return caps;
}

/** Bytes a latin1 char takes in a text log line after escapeLogText (`\xHH`, `\"`, `\\`, or itself). */
function textCharSize(c: number): number {
  if (c < 0x20 || c > 0x7e) return 4;
  return c === 0x22 || c === 0x5c ? 2 : 1;
}

/** Bytes a code point takes inside a JSON string as JSON.stringify writes it, in UTF-8. */
function jsonCharSize(cp: number): number {
  if (cp === 0x22 || cp === 0x5c) return 2;
  if (cp < 0x20) return cp === 0x08 || cp === 0x09 || cp === 0x0a || cp === 0x0c || cp === 0x0d ? 2 : 6;
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp >= 0xd800 && cp <= 0xdfff) return 6; // a lone surrogate is written \uXXXX
  return cp < 0x10000 ? 3 : 4;
}

/** Escaped size of a raw (latin1) text field: `escapeLogText(raw).length`. */
export function textSize(raw: string): number {
  let size = 0;
  for (let i = 0; i < raw.length; i++) size += textCharSize(raw.charCodeAt(i));
  return size;
}

/** The longest prefix of a raw text field whose escaped form, with MARK, takes at most `cap` bytes. */
export function cutText(raw: string, cap: number): string {
  const room = cap - MARK.length;
  let size = 0;
  let end = 0;
  for (; end < raw.length; end++) {
    const next = size + textCharSize(raw.charCodeAt(end));
    if (next > room) break;
    size = next;
  }
  return raw.slice(0, end);
}

/** Size of a string inside a JSON line, quotes excluded. */
export function jsonSize(value: string): number {
  let size = 0;
  for (let i = 0; i < value.length; i++) {
    const cp = value.codePointAt(i) ?? 0;
    size += jsonCharSize(cp);
    if (cp > 0xffff) i++;
  }
  return size;
}

/** The longest prefix of a string (cut between code points) whose JSON form, with MARK, takes at most `cap` bytes. */
export function cutJson(value: string, cap: number): string {
  const room = cap - MARK.length;
  let size = 0;
  let end = 0;
  while (end < value.length) {
    const cp = value.codePointAt(end) ?? 0;
    const next = size + jsonCharSize(cp);
    if (next > room) break;
    size = next;
    end += cp > 0xffff ? 2 : 1;
  }
  return value.slice(0, end);
}

/**
 * Cuts a whole text line to `limit` bytes, the last resort when the fixed parts alone are too
 * long (a long literal in the format string). Escapes (`\xHH`, `\"`) are never split.
 */
export function cutLine(line: string, limit: number): string {
  const room = limit - MARK.length;
  let size = 0;
  let end = 0;
  while (end < line.length) {
    const c = line.charCodeAt(end);
    const units = c === 0x5c ? (line[end + 1] === 'x' ? 4 : 2) : c >= 0xd800 && c <= 0xdbff ? 2 : 1;
    const bytes = c === 0x5c ? units : c < 0x80 ? 1 : c < 0x800 ? 2 : units === 2 ? 4 : 3;
    if (size + bytes > room) break;
    size += bytes;
    end += units;
  }
  return line.slice(0, end) + MARK;
}
