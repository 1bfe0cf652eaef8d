import { type ClientOptions, WebSocket } from 'ws';

/** Opens a WebSocket with the real `ws` client; rejects on error or after `ms`. */
export function openWs(url: string, options: ClientOptions = {}, ms = 10_000): Promise<WebSocket> {
  return new Promise((resolvePromise, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: ms, ...options });
    ws.once('open', () => {
      ws.off('error', reject);
      resolvePromise(ws);
    });
    ws.once('error', reject);
  });
}

/** Sends `text` and resolves with the next message, or rejects after `ms`. */
export function ask(ws: WebSocket, text: string, ms = 10_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${text} within ${ms} ms`)), ms);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolvePromise(String(data));
    });
    ws.send(text);
  });
}

/** What a WebSocket's end looked like to the client: the close code, when, and any socket error (a reset). */
export interface WsEnd {
  code: number;
  at: number;
  socketErrors: string[];
}

/** Resolves when the WebSocket closes (call right after opening, so no error goes unseen). */
export function watchEnd(ws: WebSocket): Promise<WsEnd> {
  const socketErrors: string[] = [];
  ws.on('error', (err) => socketErrors.push(err.message));
  // The TCP socket under it: an ECONNRESET here would mean a reset instead of a FIN.
  (ws as unknown as { _socket?: NodeJS.EventEmitter })._socket?.on('error', (err: Error) => socketErrors.push(err.message));
  return new Promise((resolvePromise) => {
    ws.once('close', (code) => resolvePromise({ code, at: Date.now(), socketErrors }));
  });
}
