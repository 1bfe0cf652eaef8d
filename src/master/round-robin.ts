import { createServer, type Server, type Socket } from 'node:net';
import type { Listener } from './listeners.js';
import type { WorkerHandle } from './worker-handle.js';

/**
 * `balance: round-robin`: the master accepts every connection itself and hands it to the next
 * ready worker over IPC (Node cluster's default scheduling). Connections that arrive while no
 * worker is ready wait here, paused, and go to the next worker that becomes ready. The
 * counterpart in the worker is the `connection` message handler in src/worker/main.ts.
 */
export class RoundRobinBalancer {
  private readonly servers: Server[] = [];
  private readonly waiting: { socket: Socket; listener: number }[] = [];
  private next = 0;

  constructor(
    listeners: Listener[],
    backlog: number,
    private readonly readyWorkers: () => WorkerHandle[],
  ) {
    listeners.forEach((listener, index) => {
      const server = createServer({ pauseOnConnect: true }, (socket) => this.dispatch(socket, index));
      // The backlog goes as an argument: Node 20 ignores `options.backlog` when listening on an fd.
      server.listen({ fd: listener.fd }, backlog);
      this.servers.push(server);
    });
  }

  private dispatch(socket: Socket, listener: number): void {
    const workers = this.readyWorkers();
    if (workers.length === 0) {
      this.waiting.push({ socket, listener });
      return;
    }
    const worker = workers[this.next++ % workers.length] as WorkerHandle;
    worker.sendConnection(listener, socket, () => {
      // The worker died between the choice and the send: the next ready worker takes it.
      if (!socket.destroyed) this.waiting.push({ socket, listener });
    });
  }

  /** A worker became ready: hand it what has been waiting. */
  flush(): void {
    for (let item = this.waiting.shift(); item; item = this.waiting.shift()) this.dispatch(item.socket, item.listener);
  }

  close(): void {
    for (const server of this.servers) server.close();
    for (const { socket } of this.waiting.splice(0)) socket.destroy();
  }
}
