import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { test } from 'node:test';
import { runLoad } from '../helpers/load.js';
import { ROOT, serverYaml, startServer } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');

/** A StatsD server stand-in: a real UDP socket on 127.0.0.1 keeping every line received. */
async function statsdSink(t: import('node:test').TestContext) {
  const socket = createSocket('udp4');
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  socket.on('message', (packet) => {
    lines.push(...packet.toString('utf8').split('\n').filter(Boolean));
    for (const wake of waiters) wake();
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  t.after(() => socket.close());
  /** Resolves when `check` holds, checked on every packet; rejects after `ms` with what came. */
  const waitFor = (what: string, check: () => boolean, ms = 15_000) =>
    new Promise<void>((resolvePromise, reject) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(attempt);
      };
      const attempt = () => {
        if (!check()) return;
        done();
        resolvePromise();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; received:\n${lines.slice(-30).join('\n')}`));
      }, ms);
      waiters.add(attempt);
      attempt();
    });
  return { port: (socket.address() as { port: number }).port, lines, waitFor };
}

test('StatsD: request counts and timers from the workers, gauges, restarts and reloads from the master', { timeout: 45_000 }, async (t) => {
  const sink = await statsdSink(t);
  const statsd = { host: `127.0.0.1:${sink.port}`, prefix: 'app' };
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { statsd, reload: { config: false } }) } });
  const result = await runLoad(`${server.url()}/`, { total: 40, concurrency: 4, close: true });
  assert.equal(result.ok, 40, result.errors.join('\n'));

  const counted = () => sink.lines.reduce((sum, line) => sum + Number(/^app\.requests_total\.GET\.2xx:(\d+)\|c$/.exec(line)?.[1] ?? 0), 0);
  const timed = () => sink.lines.filter((line) => /^app\.request_duration\.GET\.2xx:[\d.e-]+\|ms$/.test(line)).length;
  // HUP at once: the old workers leave with counts StatsD may not have had yet (they are sent once
  // a second), which their exit must flush.
  const before = server.countLogs('rotation finished');
  process.kill(server.pid, 'SIGHUP');
  await server.waitFor('the rotation', () => server.countLogs('rotation finished') > before);
  const count = (line: string) => sink.lines.filter((l) => l === line).length;
  await sink.waitFor(
    'the reload and its two restarts',
    () => count('app.reloads_total.ok:1|c') === 1 && count('app.worker_restarts_total.reload:1|c') === 2,
  );
  await sink.waitFor('40 requests counted and timed', () => counted() === 40 && timed() === 40);
  await sink.waitFor(
    'the master gauges',
    () => sink.lines.includes('app.workers.ready:2|g') && sink.lines.includes('app.workers_target:2|g'),
  );
  assert.ok(sink.lines.some((line) => /^app\.inflight_requests:\d+\|g$/.test(line)));
  assert.equal(counted(), 40, 'the leaving workers flushed nothing twice');
  assert.ok(
    sink.lines.every((line) => /^app\.[a-z_]+(\.[A-Za-z0-9_-]+)*:[\d.e-]+\|(c|ms|g)$/.test(line)),
    'plain StatsD lines, no tags',
  );
});
