// Contender: Node's cluster module, N workers, scheduling from CLUSTER_SCHED (rr | none).
// PROTO: http (default), https (TLS_CERT/TLS_KEY files) or h2c (HTTP/2 without TLS). APP picks the
// app (a fetch handler through @hono/node-server's adapter).
const cluster = require('node:cluster');
cluster.schedulingPolicy = process.env.CLUSTER_SCHED === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
if (cluster.isPrimary) {
  let ready = 0;
  const n = Number(process.env.WORKERS ?? 2);
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++ready === n) process.send?.('ready');
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill();
    process.exit(0);
  });
} else {
  const app = require('./listener.cjs')(process.env.APP ?? './hello.cjs');
  const proto = process.env.PROTO ?? 'http';
  let server;
  if (proto === 'https') {
    const { readFileSync } = require('node:fs');
    server = require('node:https').createServer({ cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) }, app);
  } else if (proto === 'h2c') server = require('node:http2').createServer(app);
  else server = require('node:http').createServer(app);
  server.keepAliveTimeout = 5000;
  server.listen(Number(process.env.PORT), '127.0.0.1');
}
