// Contender: one bare node:http process (or a PM2 cluster instance). APP picks the app (default
// hello; a fetch handler goes through @hono/node-server's adapter, as tsicorn serves it); PROTO=h2c
// serves HTTP/2 without TLS instead.
const app = require('./listener.cjs')(process.env.APP ?? './hello.cjs');
const server = process.env.PROTO === 'h2c' ? require('node:http2').createServer(app) : require('node:http').createServer(app);
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
// Exit, not die, on SIGTERM: a process run with --cpu-prof writes its profile as it exits.
process.on('SIGTERM', () => process.exit(0));
