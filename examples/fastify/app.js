// Fastify owns its HTTP server, so tsicorn calls a factory once per worker (`app: app.js:create()`)
// and serves the request handler Fastify hands to `serverFactory`. The server Fastify creates
// here is never listened on: the worker accepts on the master's sockets and calls the handler.
import { createServer } from 'node:http';
import Fastify from 'fastify';

export async function create() {
  let handler;
  const app = Fastify({
    serverFactory: (h) => {
      handler = h;
      return createServer(h);
    },
  });
  app.get('/', async () => ({ framework: 'fastify', pid: process.pid }));
  app.get('/users/:id', async (request) => ({ id: request.params.id }));
  app.post('/echo', async (request) => ({ received: request.body }));
  // Every plugin is loaded before the worker reports ready (and takes traffic).
  await app.ready();
  return handler;
}
