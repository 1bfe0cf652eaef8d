// WebSockets with `ws`: the default export serves ordinary HTTP requests; the named `upgrade`
// export receives every HTTP Upgrade request (`req, socket, head`, as Node's 'upgrade' event
// gives them) in the worker that accepted the connection. `noServer` because the worker owns the
// server: ws only completes the handshake on a socket it is handed.
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ noServer: true });

wss.on('connection', (ws) => {
  // Echo every message back, text as text and binary as binary.
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

export function upgrade(req, socket, head) {
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
}

export default function page(_req, res) {
  const body = JSON.stringify({ example: 'websocket', pid: process.pid, connect: 'ws://HOST:PORT/' });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
