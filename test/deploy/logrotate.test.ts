/**
 * deploy/logrotate/tsicorn, run by the real logrotate (Debian's package) against a running server:
 * its paths point at a temp dir and its commands at this checkout, nothing else changes. A rotation
 * moves the access log aside and the postrotate script makes every process reopen its file: the
 * lines before are all in the rotated file, the lines after all in the new one, none lost.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, ROOT, serverYaml, startServer, until } from '../helpers/server.js';

const LOGROTATE = '/usr/sbin/logrotate';
const APP = join(ROOT, 'test', 'fixtures', 'serve', 'node-app.cjs');

/** The shipped file with its paths and commands moved to `dir`; each replaced text must be there. */
function localConfig(dir: string): string {
  let text = readFileSync(join(ROOT, 'deploy', 'logrotate', 'tsicorn'), 'utf8');
  for (const [from, to] of [
    ['/var/log/tsicorn/*.log', `${dir}/logs/*.log`],
    ['tsicorn reopen-logs -c /etc/tsicorn/server.yaml', `${process.execPath} ${BIN} reopen-logs -c ${dir}/server.yaml`],
    ['/run/tsicorn/tsicorn.pid', `${dir}/tsicorn.pid`],
  ]) {
    assert.ok(text.includes(from as string), `deploy/logrotate/tsicorn no longer says ${from}`);
    text = text.replace(from as string, to as string);
  }
  return text;
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

async function requests(url: string, path: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) assert.equal((await fetch(`${url}${path}?n=${i}`)).status, 200);
}

test('logrotate with the shipped config: every line before in the rotated file, every line after in the new one', {
  timeout: 60_000,
}, async (t) => {
  if (!existsSync(LOGROTATE)) {
    t.skip(`${LOGROTATE} is not installed (Debian package logrotate)`);
    return;
  }
  const config = serverYaml(APP, { workers: 2, pidfile: 'tsicorn.pid', log: { accesslog: 'logs/access.log' } });
  const server = await startServer(t, { files: { 'server.yaml': config, 'logs/.keep': '' } });
  // logrotate skips a directory others may write to; a umask such as 0002 would make it so.
  chmodSync(join(server.dir, 'logs'), 0o755);
  const access = join(server.dir, 'logs', 'access.log');
  await requests(server.url(), '/before', 20);
  await until('20 lines in the access log', () => lines(access).length === 20);

  // logrotate ignores (exit 0) a config file that group or others may write: so is one under umask 0002.
  writeFileSync(join(server.dir, 'logrotate.conf'), localConfig(server.dir));
  chmodSync(join(server.dir, 'logrotate.conf'), 0o644);
  const rotated = spawnSync(LOGROTATE, ['--force', '--state', join(server.dir, 'logrotate.state'), join(server.dir, 'logrotate.conf')], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(rotated.status, 0, `logrotate: ${rotated.stderr}`);
  assert.ok(existsSync(`${access}.1`), `logrotate moved nothing: ${rotated.stderr}`);
  // Every process reopens: the master once, and each worker.
  await server.waitFor('the master and both workers to reopen', () => server.countLogs('log files reopened') === 3);
  assert.equal(server.countLogs('log files reopened', { component: 'worker' }), 2);

  await requests(server.url(), '/after', 20);
  await until('20 lines in the new access log', () => lines(access).length === 20);
  const before = lines(`${access}.1`);
  assert.equal(before.length, 20, 'delaycompress: the first rotation leaves access.log.1 as text');
  assert.ok(
    before.every((l) => l.includes('GET /before?')),
    'the rotated file has the lines before, only',
  );
  assert.ok(
    lines(access).every((l) => l.includes('GET /after?')),
    'the new file has the lines after, only',
  );
});
