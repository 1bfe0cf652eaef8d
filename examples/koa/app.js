// A Koa app has `callback()`: tsicorn calls it once per worker and serves the listener it returns
// (`interface: koa`, detected).
import Koa from 'koa';

const app = new Koa();

app.use(async (ctx) => {
  if (ctx.method === 'POST' && ctx.path === '/echo') {
    // Koa has no body parser built in; read the JSON body by hand to stay dependency-free.
    let text = '';
    for await (const chunk of ctx.req) text += chunk;
    ctx.body = { received: JSON.parse(text || 'null') };
    return;
  }
  const user = ctx.path.match(/^\/users\/([^/]+)$/);
  if (ctx.method === 'GET' && user) {
    ctx.body = { id: decodeURIComponent(user[1]) };
    return;
  }
  if (ctx.method === 'GET' && ctx.path === '/') {
    ctx.body = { framework: 'koa', pid: process.pid };
    return;
  }
  ctx.status = 404;
  ctx.body = { error: 'not found' };
});

export default app;
