// The app module at `path` as a Node request listener: a fetch handler ({ fetch }) through
// @hono/node-server's adapter, the one tsicorn serves fetch handlers with; anything else as it is.
module.exports = (path) => {
  const app = require(path);
  return typeof app.fetch === 'function' ? require('@hono/node-server').getRequestListener(app.fetch) : app;
};
