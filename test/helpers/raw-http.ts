import { connect, type Socket } from 'node:net';

/**
 * A raw TCP client for requests fetch cannot send: exact bytes (control bytes, a bad request
 * line, `Expect: 100-continue` by hand) and an abort at a chosen moment. The answer is kept as
 * latin1 text (one char per byte).
 */
export class RawClient {
  text = '';
  private ended = false;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static open(url: string, ms = 5000): Promise<RawClient> {
    const { hostname, port } = new URL(url);
    return new Promise((resolvePromise, reject) => {
      const socket = connect(Number(port), hostname);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to ${url} within ${ms} ms`));
      }, ms);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolvePromise(new RawClient(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  send(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Resolves once the answer so far satisfies `check`; rejects if the connection closes first. */
  waitFor(what: string, check: (text: string) => boolean, ms = 10_000): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      const attempt = () => {
        if (check(this.text)) {
          done();
          resolvePromise();
        } else if (this.ended) {
          done();
          reject(new Error(`connection closed while waiting for ${what}; got ${JSON.stringify(this.text.slice(0, 300))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(this.text.slice(0, 300))}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(attempt);
      };
      this.waiters.add(attempt);
      attempt();
    });
  }

  /** The whole answer, once the server closed the connection. */
  async readAll(ms = 10_000): Promise<string> {
    if (!this.ended) {
      await new Promise<void>((resolvePromise, reject) => {
        const timer = setTimeout(() => {
          this.socket.destroy();
          reject(new Error(`the server did not close the connection within ${ms} ms`));
        }, ms);
        this.socket.once('close', () => {
          clearTimeout(timer);
          resolvePromise();
        });
      });
    }
    return this.text;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends raw bytes on a fresh connection and reads the whole answer (the request closes the connection). */
export async function rawRequest(url: string, bytes: Buffer | string, ms = 10_000): Promise<string> {
  const client = await RawClient.open(url);
  try {
    client.send(bytes);
    return await client.readAll(ms);
  } finally {
    client.destroy();
  }
}
