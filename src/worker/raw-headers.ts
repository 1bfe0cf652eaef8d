import type { IncomingMessage } from 'node:http';

// req.headers and req.rawHeaders are two copies of one head: Node request listeners read the
// first, fetch adapters build their Request from the second (@hono/node-server iterates
// rawHeaders). Whatever tsicorn sets or removes in one it must set or remove in the other, or a
// fetch handler sees a header the proxy rules removed.

/** Sets `name` (lower-case) in rawHeaders, replacing any field of that name. */
export function setRawHeader(req: IncomingMessage, name: string, value: string): void {
  const raw = req.rawHeaders;
  // Only names of the same length can match: no lower-cased copy of every other name.
  for (let i = raw.length - 2; i >= 0; i -= 2) if (raw[i]?.length === name.length && raw[i]?.toLowerCase() === name) raw.splice(i, 2);
  raw.push(name, value);
}

/** Removes from rawHeaders every field whose lower-case name is in `names`. */
export function removeRawHeaders(req: IncomingMessage, names: ReadonlySet<string>): void {
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) if (names.has((raw[i] ?? '').toLowerCase())) raw.splice(i, 2);
}
