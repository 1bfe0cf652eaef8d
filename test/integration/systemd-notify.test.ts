import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, serverYaml, startServer, tempDir, until } from '../helpers/server.js';

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');

/**
 * A stand-in for systemd's notification socket: a unix datagram socket (Node has none, Python
 * does) printing each message it gets, one per line.
 */
const SINK = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    print(s.recv(4096).decode().replace("\\n", " "), flush=True)
`;

const hasTools = spawnSync('systemd-notify', ['--version']).status === 0 && spawnSync('python3', ['--version']).status === 0;

test('NOTIFY_SOCKET: READY=1 once the workers are ready, RELOADING=1 then READY=1 around a reload, STOPPING=1 at stop', {
  timeout: 30_000,
  skip: hasTools ? false : 'needs systemd-notify (Debian: systemd) and python3',
}, async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'notify.sock');
  const sink = spawn('python3', ['-c', SINK, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => sink.kill('SIGKILL'));
  const messages: string[] = [];
  sink.stdout.setEncoding('utf8').on('data', (d: string) => messages.push(...d.split('\n').filter(Boolean)));
  await until('the sink', () => messages.includes('listening'));

  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 2 }) }, env: { NOTIFY_SOCKET: socket } });
  await until('READY=1', () => messages.some((m) => m.startsWith('READY=1')));
  const ready = messages.find((m) => m.startsWith('READY=1')) ?? '';
  assert.match(ready, new RegExp(`MAINPID=${server.pid} STATUS=serving, 2 workers`));

  const before = messages.length;
  process.kill(server.pid, 'SIGHUP');
  await server.waitForLog('rotation finished');
  await until('READY=1 after the reload', () => messages.slice(before).some((m) => m.startsWith('READY=1')));
  const during = messages.slice(before).filter((m) => m !== 'BARRIER=1');
  assert.match(during[0] ?? '', /^RELOADING=1/);
  assert.match(during[1] ?? '', /^READY=1/);

  process.kill(server.pid, 'SIGTERM');
  await until('STOPPING=1', () => messages.some((m) => m.startsWith('STOPPING=1')));
  assert.equal(await server.waitForExit(), 0);
});
