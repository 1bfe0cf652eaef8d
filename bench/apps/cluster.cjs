// Contender: Node's cluster module, N workers, scheduling from CLUSTER_SCHED (rr | none).
const cluster = require('node:cluster');
const http = require('node:http');
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
  const server = http.createServer(require('./hello.cjs'));
  server.keepAliveTimeout = 5000;
  server.listen(Number(process.env.PORT), '127.0.0.1');
}
