import assert from 'node:assert/strict';
import { once } from 'node:events';
import { ClientRequest, createServer, OutgoingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { type CountedResponse, countBodies } from '../../src/worker/counting-response.js';

/** Serves one request with `handler` on a real socket; resolves with the response once it finished. */
async function serveOne(handler: (res: ServerResponse) => void): Promise<ServerResponse & CountedResponse> {
  let served: ServerResponse | undefined;
  const server = createServer((_req, res) => {
    served = res;
    handler(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const answer = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { signal: AbortSignal.timeout(5000) });
    await answer.arrayBuffer();
    assert.ok(served);
    if (!served.writableFinished) await once(served, 'finish');
    return served;
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

const writeThree = (res: ServerResponse) => {
  res.write('ab');
  res.write(Buffer.from([1, 2, 3]));
  res.end('é', 'utf8');
};

test('while on, a response counts the body bytes of its writes and its end; off, Node’s own functions are back', {
  timeout: 20_000,
}, async (t) => {
  t.after(() => countBodies(false));
  const nodeWrite = OutgoingMessage.prototype.write;
  const nodeEnd = OutgoingMessage.prototype.end;

  countBodies(true);
  assert.equal((await serveOne(writeThree)).bodyBytes, 2 + 3 + 2);
  assert.equal((await serveOne((res) => res.end())).bodyBytes ?? 0, 0);
  // A client request shares OutgoingMessage's write(): it never counts.
  assert.equal(ClientRequest.prototype.write, nodeWrite);

  countBodies(false);
  assert.equal((await serveOne(writeThree)).bodyBytes, undefined);
  assert.ok(!Object.hasOwn(ServerResponse.prototype, 'write') && !Object.hasOwn(ServerResponse.prototype, 'end'));
  assert.equal(ServerResponse.prototype.write, nodeWrite);
  assert.equal(ServerResponse.prototype.end, nodeEnd);

  // On again (a live reload): counting again.
  countBodies(true);
  assert.equal((await serveOne(writeThree)).bodyBytes, 7);
});
