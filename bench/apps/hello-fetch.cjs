// The hello-world app as a fetch handler (a Request in, a Response out): tsicorn serves it through
// @hono/node-server's adapter (`interface: fetch`, detected); bare.cjs and cluster.cjs through the
// same adapter, so what tsicorn adds around it compares with nothing around it.
module.exports = {
  fetch: () => new Response('Hello, world!', { headers: { 'content-type': 'text/plain' } }),
};
