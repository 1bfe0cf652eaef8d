// Contender: one bare node:http process (or a PM2 cluster instance). APP picks the app (default hello).
const http = require('node:http');
const app = require(process.env.APP ?? './hello.cjs');
const server = http.createServer(app);
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
