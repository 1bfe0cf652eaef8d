import { connect } from 'node:net';
import type { ControlReply, ControlRequest } from '../control/protocol.js';
import { TsicornError } from '../errors.js';

export interface ControlCall {
  reply: ControlReply;
  /** Resolves when the master closes the connection (after a stop: when it has exited). */
  closed: Promise<void>;
}

/**
 * Sends one request to the master's control socket and reads its one-line reply (the
 * counterpart of src/master/control-server.ts). No socket, or nobody answering, is
 * TSI_ERR_NOT_RUNNING; `timeoutMs` bounds the wait for the reply.
 */
export function callMaster(path: string, request: ControlRequest, timeoutMs: number): Promise<ControlCall> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(path);
    let buffer = '';
    let answered = false;
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TsicornError('TSI_ERR_NOT_RUNNING', `the server did not answer within ${timeoutMs / 1000} s on ${path}`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0 || answered) return;
      answered = true;
      clearTimeout(timer);
      try {
        resolvePromise({ reply: JSON.parse(buffer.slice(0, nl)) as ControlReply, closed });
      } catch {
        reject(new TsicornError('TSI_ERR_NOT_RUNNING', `${path} answered with something that is not tsicorn's protocol`));
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (answered) return;
      const why =
        err.code === 'ENOENT' ? 'there is no control socket at' : err.code === 'ECONNREFUSED' ? 'nobody answers on' : `${err.code} on`;
      reject(new TsicornError('TSI_ERR_NOT_RUNNING', `no server is running for this config: ${why} ${path}`));
    });
    socket.once('end', () => {
      if (!answered) {
        clearTimeout(timer);
        reject(new TsicornError('TSI_ERR_NOT_RUNNING', `the server closed ${path} without answering`));
      }
    });
  });
}
