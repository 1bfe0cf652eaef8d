import type { Server, Socket } from 'node:net';

/**
 * One thing done to a fresh connection before HTTP or TLS sees it (read a PROXY header, tell
 * HTTP/2 from HTTP/1). It calls `next()` to pass the socket on, or owns it from then on (hands it
 * to another server, or destroys it).
 */
export type ConnectionStep = (socket: Socket, next: () => void) => void;

/**
 * Puts `steps` in front of the server's own connection handling (http's parser, tls's handshake,
 * http2's session). The server still listens, so `maxConnections`, `close()` and Node's
 * headers_timeout checks (armed on 'listening') behave as before; round-robin's
 * `server.emit('connection', socket)` goes through the steps too. Only listeners present now are
 * wrapped. `hold` is told of each socket as it enters (the connection tracker counts it open) and
 * returns what to call when the server's own handling takes it.
 */
export function installFront(server: Server, steps: ConnectionStep[], hold: (socket: Socket) => () => void): void {
  if (steps.length === 0) return;
  const own = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    // Held (counted open) until the server's own handling takes it, or it closes.
    const release = hold(socket);
    const run = (i: number): void => {
      const step = steps[i];
      if (step) step(socket, () => run(i + 1));
      else {
        release();
        for (const listener of own) listener.call(server, socket);
      }
    };
    run(0);
  });
}

/** What a prefix reader decided: the bytes to give back to the stream, and the caller's verdict. */
export interface Prefix<T> {
  verdict: T;
  /** Bytes read but not consumed: unshifted so the next reader (HTTP, TLS, HTTP/2) gets them. */
  rest: Buffer;
}

/**
 * Reads the first bytes of a connection until `decide` returns a verdict (undefined = need more),
 * then gives back what it did not consume and calls `done`. Reads in paused mode ('readable'), so
 * nothing flows to a listener that is not there yet: TLS and HTTP/2 pick the unshifted bytes up
 * from the buffer, and http's parser gets them when it starts reading. `fail` is called once on
 * timeout, on end of stream, or when `decide` throws; the socket is destroyed after it.
 */
export function readPrefix<T>(
  socket: Socket,
  timeoutMs: number,
  decide: (buffered: Buffer) => Prefix<T> | undefined,
  done: (verdict: T) => void,
  fail: (reason: string) => void,
): void {
  let buffered: Buffer = Buffer.alloc(0);
  let settled = false;
  const settle = () => {
    settled = true;
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('end', onEnd);
    socket.removeListener('error', onError);
  };
  const refuse = (reason: string) => {
    if (settled) return;
    settle();
    fail(reason);
    socket.destroy();
  };
  const onReadable = () => {
    for (let chunk = socket.read() as Buffer | null; chunk !== null && !settled; chunk = socket.read() as Buffer | null) {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let prefix: Prefix<T> | undefined;
      try {
        prefix = decide(buffered);
      } catch (err) {
        refuse((err as Error).message);
        return;
      }
      if (prefix) {
        settle();
        if (prefix.rest.length > 0) socket.unshift(prefix.rest);
        done(prefix.verdict);
        return;
      }
    }
  };
  const onEnd = () => refuse('connection ended first');
  // Nothing to report: a reset before the first bytes is the client's business.
  const onError = () => refuse('connection error');
  const timer = setTimeout(() => refuse(`nothing decisive within ${timeoutMs} ms`), timeoutMs);
  socket.on('readable', onReadable);
  socket.once('end', onEnd);
  socket.once('error', onError);
}
