// A Hono app is a fetch handler (an object with `fetch(request)`): tsicorn serves it through
// @hono/node-server's Request/Response adapter (`interface: fetch`, detected). Request and
// response bodies stream both ways.
import { Hono } from 'hono';

const app = new Hono();

app.get('/', (c) => c.json({ framework: 'hono', pid: process.pid }));
app.get('/users/:id', (c) => c.json({ id: c.req.param('id') }));
app.post('/echo', async (c) => c.json({ received: await c.req.json() }));

export default app;
