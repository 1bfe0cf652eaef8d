import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runLoad } from '../helpers/load.js';
import { type LogLine, ROOT, type RunningServer, serverYaml, startServer, tempDir, until } from '../helpers/server.js';

// Where lines go: pipes, full disks, removed and rotated files. Every line must arrive whole,
// every lost one be counted.

const APP = join(ROOT, 'test', 'fixtures', 'serve', 'log-app.cjs');
const PIPE_BUF = 4096;
const CLF_TIME = /\[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]/.source;
const FAILED = 'access log write failed; lines are dropped until the log is reopened (USR1)';

const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
const lines = (path: string) => read(path).split('\n').filter(Boolean);
/** The JSON lines of a server log file. */
const logLines = (path: string) => lines(path).map((l) => JSON.parse(l) as LogLine);

/** A server whose server log is a file: "server ready" is awaited there. */
async function startWithErrorLog(
  t: Parameters<typeof startServer>[0],
  config: Record<string, unknown>,
): Promise<{ server: RunningServer; url: string }> {
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, config) }, waitReady: false });
  const errorLog = join(server.dir, 'error.log');
  await until('server ready in error.log', () => read(errorLog).includes('"server ready"'));
  const ready = logLines(errorLog).find((l) => l.msg === 'server ready') as LogLine & { listeners: string[] };
  return { server, url: `http://${ready.listeners[0]}` };
}

test('4 workers to a stdout pipe: 6 KB URLs give whole JSON lines within PIPE_BUF, shortened with a marker', {
  timeout: 60_000,
}, async (t) => {
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 4, limit_request_line: 8190, log: { accesslog: '-', access_format: 'json' } }) },
  });
  const target = `/p/${'a'.repeat(6000)}?q=${'b'.repeat(300)}`;
  // Raw UTF-8 bytes in a header (fetch sends a latin1 string's chars as bytes): 2 bytes a char in the JSON line.
  const agent = Buffer.from('é'.repeat(500), 'utf8').toString('latin1') + 'u'.repeat(1000);
  const referer = `https://r.example/${'r'.repeat(3000)}`;
  const total = 400;
  let sent = 0;
  const lane = async () => {
    while (sent < total) {
      sent++;
      const res = await fetch(server.url() + target, { headers: { referer, 'user-agent': agent }, signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      await res.text();
    }
  };
  // A reader that stalls for a moment: the pipe fills, and each write must wait for room.
  server.child.stdout?.pause();
  const stall = setTimeout(() => server.child.stdout?.resume(), 300);
  await Promise.all(Array.from({ length: 16 }, lane));
  clearTimeout(stall);
  server.child.stdout?.resume();
  const out = () => server.stdout.join('').split('\n').filter(Boolean);
  await server.waitFor(`${total} lines on stdout`, () => out().length >= total);
  const got = out();
  assert.equal(got.length, total);
  for (const line of got) {
    assert.ok(Buffer.byteLength(line) + 1 <= PIPE_BUF, `${Buffer.byteLength(line)} bytes`);
    const record = JSON.parse(line) as Record<string, unknown>;
    assert.equal(record.truncated, true);
    assert.match(String(record.path), /^\/p\/a+\.\.\.\[truncated\]$/);
    assert.equal(record.query, `q=${'b'.repeat(300)}`, 'a field shorter than its share is kept whole');
    assert.match(String(record.user_agent), /^(é{500}u+|é+)\.\.\.\[truncated\]$/);
    assert.equal(record.status, 200);
  }
});

test('combined to a stdout pipe: short and 6 KB lines mixed arrive whole, within PIPE_BUF, the long ones shortened', {
  timeout: 60_000,
}, async (t) => {
  // Short lines are formatted straight into the writer's PIPE_BUF buffer; one that does not fit
  // it is made as a string and shortened: both kinds share the buffer and every write.
  const server = await startServer(t, {
    files: { 'server.yaml': serverYaml(APP, { workers: 2, limit_request_line: 8190, log: { accesslog: '-', access_format: 'combined' } }) },
  });
  const long = `/p/${'a'.repeat(6000)}`;
  const total = 300;
  let sent = 0;
  const lane = async () => {
    while (sent < total) {
      const n = sent++;
      const path = n % 3 === 0 ? `${long}?n=${n}` : `/short?n=${n}`;
      const res = await fetch(server.url() + path, { headers: { 'user-agent': `agent "${n}"` }, signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      await res.text();
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  const out = () => server.stdout.join('').split('\n').filter(Boolean);
  await server.waitFor(`${total} lines on stdout`, () => out().length >= total);
  const got = out();
  assert.equal(got.length, total);
  const seen = new Set<number>();
  for (const line of got) {
    assert.ok(Buffer.byteLength(line) + 1 <= PIPE_BUF, `${Buffer.byteLength(line)} bytes`);
    const m = new RegExp(`^127\\.0\\.0\\.1 - - ${CLF_TIME} "GET (\\S+) HTTP/1\\.1" 200 \\d+ "-" "agent \\\\"(\\d+)\\\\""$`).exec(line);
    assert.ok(m, line.slice(0, 200));
    const n = Number(m[2]);
    seen.add(n);
    if (n % 3 === 0) assert.match(m[1] as string, /^\/p\/a+\.\.\.\[truncated\]$/);
    else assert.equal(m[1], `/short?n=${n}`);
  }
  assert.equal(seen.size, total, 'each request logged once');
});

test('capture_output with accesslog -: access lines go to the real stdout, not into the server log', { timeout: 30_000 }, async (t) => {
  const server = await startServer(t, {
    files: {
      'server.yaml': serverYaml(APP, { workers: 1, log: { capture_output: true, accesslog: '-', access_format: '%(m)s %(U)s %(s)s' } }),
    },
  });
  await (await fetch(`${server.url()}/console?n=1`)).text();
  await (await fetch(`${server.url()}/hello`)).text();
  await server.waitFor('two access lines on stdout', () => server.stdout.join('').split('\n').filter(Boolean).length >= 2);
  assert.deepEqual(server.stdout.join('').split('\n').filter(Boolean), ['GET /console 200', 'GET /hello 200']);
  // The app's own output is still captured.
  assert.equal((await server.waitForLog('app output', { stream: 'stdout' })).output, 'app says hello on stdout 1');
  assert.equal(server.logs.filter((l) => l.msg === 'app output' && String(l.output).startsWith('GET ')).length, 0);
});

test('a full disk: only whole lines, every lost one counted, the log back at USR1', { timeout: 60_000 }, async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('mounting a small tmpfs needs root');
    return;
  }
  const mnt = mkdtempSync(join(tmpdir(), 'tsicorn-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    rmSync(mnt, { recursive: true, force: true });
    t.skip('mount -t tmpfs failed');
    return;
  }
  t.after(() => {
    execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
    rmSync(mnt, { recursive: true, force: true });
  });
  const accessLog = join(mnt, 'access.log');
  // ~20 KiB left: a 64 KiB gathered write fails part way.
  writeFileSync(join(mnt, 'filler'), Buffer.alloc(44 * 1024));
  const server = await startServer(t, { files: { 'server.yaml': serverYaml(APP, { workers: 1, log: { accesslog: accessLog } }) } });
  const path = `/${'x'.repeat(1000)}`;
  const whole = new RegExp(`^127\\.0\\.0\\.1 - - ${CLF_TIME} "GET ${path} HTTP/1\\.1" 200 6 "-" "[^"]*"$`);
  const before = await runLoad(server.url() + path, { total: 150, concurrency: 4 });
  assert.equal(before.ok, 150, before.errors.slice(0, 3).join('\n'));
  const failed = await server.waitForLog(FAILED);
  assert.match(JSON.stringify(failed.err), /ENOSPC/);
  assert.ok(read(accessLog).endsWith('\n'), 'no torn last line');
  for (const line of lines(accessLog)) assert.match(line, whole);

  rmSync(join(mnt, 'filler'));
  process.kill(server.pid, 'SIGUSR1');
  const report = await server.waitForLog('access log reopened after write errors', { component: 'worker' });
  assert.ok((report.errors as number) >= 1);
  const after = await runLoad(server.url() + path, { total: 10, concurrency: 2 });
  assert.equal(after.ok, 10);
  // Every request is a line in the file or counted as dropped: none half-written, none uncounted.
  await until('160 lines written or counted', () => lines(accessLog).length + (report.dropped as number) === 160);
  for (const line of lines(accessLog)) assert.match(line, whole);
  assert.equal(server.countLogs(FAILED), 1, 'reported once, not per line');
});

test('an unwritable access log (/dev/full) is reported with its counts and recovered after a path swap and USR1', {
  timeout: 30_000,
}, async (t) => {
  if (!existsSync('/dev/full')) {
    t.skip('no /dev/full on this system');
    return;
  }
  const dir = tempDir(t, { 'server.yaml': serverYaml(APP, { workers: 1, log: { accesslog: 'logs/access.log' } }), 'logs/.keep': '' });
  const accessLog = join(dir, 'logs', 'access.log');
  symlinkSync('/dev/full', accessLog);
  const server = await startServer(t, { cwd: dir });
  const result = await runLoad(`${server.url()}/hello`, { total: 20, concurrency: 2 });
  assert.equal(result.ok, 20);
  const failed = await server.waitForLog(FAILED);
  assert.match(JSON.stringify(failed.err), /ENOSPC/);
  assert.equal(server.countLogs('worker died'), 0);

  unlinkSync(accessLog);
  process.kill(server.pid, 'SIGUSR1');
  const report = await server.waitForLog('access log reopened after write errors', { component: 'worker' });
  assert.equal(report.dropped, 20);
  assert.ok((report.errors as number) >= 1);
  const after = await runLoad(`${server.url()}/hello`, { total: 5, concurrency: 1 });
  assert.equal(after.ok, 5);
  await until('5 lines in the new file', () => lines(accessLog).length === 5);
  assert.equal(server.countLogs(FAILED), 1);
});

/** GET over a unix socket (fetch cannot): the body. */
function unixGet(socketPath: string, path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolvePromise(body));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

test('a server log that cannot be written is said once per process on stderr, and counted at the reopen', {
  timeout: 30_000,
}, async (t) => {
  if (!existsSync('/dev/full')) {
    t.skip('no /dev/full on this system');
    return;
  }
  const dir = tempDir(t, { 'logs/.keep': '' });
  // The "server ready" line is lost with the rest: a known socket path tells where to connect.
  const socket = join(dir, 'http.sock');
  writeFileSync(join(dir, 'server.yaml'), serverYaml(APP, { bind: `unix:${socket}`, workers: 1, log: { errorlog: 'logs/error.log' } }));
  const errorLog = join(dir, 'logs', 'error.log');
  symlinkSync('/dev/full', errorLog);
  const server = await startServer(t, { cwd: dir, waitReady: false });
  const said = () => server.logs.filter((l) => l.msg === 'server log write failed; lines are dropped until it is reopened (USR1)');
  // "worker ready" is lost with the rest: ask until a worker answers.
  for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 25))) {
    const answer = await unixGet(socket, '/hello').catch((err: Error) => err);
    if (answer === 'hello\n') break;
    if (Date.now() > deadline) throw new Error(`no worker answered within 10 s: ${String(answer)}`);
  }
  // Handler errors are logged (and lost) per request: the worker's first lines (a worker that
  // serves without trouble writes none); each process says it once.
  for (let i = 0; i < 5; i++) assert.match(await unixGet(socket, '/throw'), /Internal Server Error/);
  await server.waitFor('the master and the worker to say so', () => new Set(said().map((l) => l.component)).size === 2);
  assert.ok(said().every((l) => l.code === 'ENOSPC'));
  assert.equal(await unixGet(socket, '/hello'), 'hello\n');
  assert.equal(said().length, 2);

  unlinkSync(errorLog);
  process.kill(server.pid, 'SIGUSR1');
  // Whichever comes first, the signal or the check of the path, reports the counts in the new file.
  const counted = () => logLines(errorLog).filter((l) => typeof l.dropped === 'number');
  await until('both counts in the new error.log', () => new Set(counted().map((l) => l.component)).size === 2);
  for (const line of counted()) assert.ok((line.dropped as number) >= 1 && (line.errors as number) >= 1, JSON.stringify(line));
  const worker = counted().find((l) => l.component === 'worker');
  assert.ok((worker?.dropped as number) >= 5, 'the handler errors were counted');
});

test('a removed access log and server log are noticed and written again at the path', { timeout: 30_000 }, async (t) => {
  const { server, url } = await startWithErrorLog(t, { workers: 1, log: { accesslog: 'access.log', errorlog: 'error.log' } });
  const accessLog = join(server.dir, 'access.log');
  const errorLog = join(server.dir, 'error.log');
  assert.equal((await runLoad(`${url}/before`, { total: 3, concurrency: 1 })).ok, 3);
  await until('3 lines', () => lines(accessLog).length === 3);
  unlinkSync(accessLog);
  unlinkSync(errorLog);
  // Lines written before the check notices go to the unlinked file: send until one arrives.
  for (let i = 0; !read(accessLog).includes('/after'); i++) {
    if (i > 100) assert.fail('no line at the path within 10 s');
    assert.equal((await runLoad(`${url}/after`, { total: 1, concurrency: 1 })).ok, 1);
    await new Promise((r) => setTimeout(r, 100));
  }
  await until('both reports in the new error.log', () => {
    const msgs = logLines(errorLog).map((l) => `${l.component}:${l.msg}:${l.reason}`);
    // Whichever process notices first makes the new file: to the other, the file was replaced.
    const server = (who: string) =>
      ['removed', 'replaced'].some((r) => msgs.includes(`${who}:server log file removed or replaced; reopened:${r}`));
    return msgs.includes('worker:access log file removed or replaced; reopened:removed') && server('master') && server('worker');
  }).catch((err: Error) => {
    throw new Error(`${err.message}\n${read(errorLog)}`);
  });
  assert.ok(lines(accessLog).every((l) => l.includes('/after')));
});

test('logrotate under traffic: mv + USR1 while requests run, no line lost', { timeout: 60_000 }, async (t) => {
  const { server, url } = await startWithErrorLog(t, { workers: 2, log: { accesslog: 'access.log', errorlog: 'error.log' } });
  const accessLog = join(server.dir, 'access.log');
  const total = 1500;
  const load = runLoad(`${url}/rotated`, { total, concurrency: 4 });
  await until('traffic in the log', () => lines(accessLog).length >= 300, 20_000);
  renameSync(accessLog, `${accessLog}.1`);
  renameSync(join(server.dir, 'error.log'), join(server.dir, 'error.log.1'));
  process.kill(server.pid, 'SIGUSR1');
  const result = await load;
  assert.equal(result.ok, total, result.errors.slice(0, 3).join('\n'));
  await until(`${total} lines in old + new`, () => lines(`${accessLog}.1`).length + lines(accessLog).length === total, 20_000).catch(
    (err: Error) => {
      throw new Error(`${err.message}: ${lines(`${accessLog}.1`).length} + ${lines(accessLog).length}`);
    },
  );
  assert.ok(lines(accessLog).length > 0, 'the reopen happened while requests ran');
  await until('every process to reopen', () => read(join(server.dir, 'error.log')).split('"log files reopened"').length - 1 === 3);
  const whole = new RegExp(`^127\\.0\\.0\\.1 - - ${CLF_TIME} "GET /rotated HTTP/1\\.1" 200 6 "-" "[^"]*"$`);
  for (const line of [...lines(`${accessLog}.1`), ...lines(accessLog)]) assert.match(line, whole);
});

test('logrotate: mv + USR1 puts every later line in the new files, none lost', { timeout: 60_000 }, async (t) => {
  const { server, url } = await startWithErrorLog(t, { workers: 2, log: { accesslog: 'access.log', errorlog: 'error.log' } });
  const accessLog = join(server.dir, 'access.log');
  const errorLog = join(server.dir, 'error.log');
  assert.equal((await runLoad(`${url}/before`, { total: 300, concurrency: 4 })).ok, 300);
  await until('300 lines', () => lines(accessLog).length === 300);
  renameSync(accessLog, `${accessLog}.1`);
  renameSync(errorLog, `${errorLog}.1`);
  process.kill(server.pid, 'SIGUSR1');
  // The master and both workers say so in the new error log.
  await until('every process to reopen', () => read(errorLog).split('"log files reopened"').length - 1 === 3);
  assert.equal((await runLoad(`${url}/after`, { total: 300, concurrency: 4 })).ok, 300);
  await until('600 lines in all', () => lines(`${accessLog}.1`).length + lines(accessLog).length === 600);
  assert.ok(
    lines(`${accessLog}.1`).every((l) => l.includes('/before')),
    'no later line went to the old file',
  );
  assert.equal(lines(accessLog).length, 300);
  assert.ok(read(`${errorLog}.1`).includes('"server ready"'));
  assert.ok(!read(errorLog).includes('"server ready"'), 'the new error log starts at the reopen');
});

test('a server log path that cannot be opened: a reload keeps the file in use, a new worker writes to stderr; none crash', {
  timeout: 30_000,
}, async (t) => {
  const { server, url } = await startWithErrorLog(t, { workers: 1, log: { errorlog: 'error.log' } });
  const errorLog = join(server.dir, 'error.log');
  // A regular file where the log's directory should be: every process that tries fails (ENOTDIR).
  writeFileSync(join(server.dir, 'blocker'), '');
  writeFileSync(join(server.dir, 'server.yaml'), serverYaml(APP, { workers: 1, log: { errorlog: 'blocker/error.log' } }));
  const refused = () => logLines(errorLog).filter((l) => l.msg === 'cannot apply the new log settings');
  await until('the master and the worker to keep error.log', () => new Set(refused().map((l) => l.component)).size === 2);
  assert.ok(
    refused().every((l) => JSON.stringify(l.err).includes('ENOTDIR: not a directory')),
    JSON.stringify(refused()),
  );
  // A worker started now has the new settings: it serves, and says on stderr where its log went.
  process.kill(server.pid, 'SIGTTIN');
  const fallback = await server.waitForLog('server log file cannot be opened; writing to stderr', { component: 'worker' });
  assert.equal(fallback.path, join(server.dir, 'blocker', 'error.log'));
  await until('the second worker ready', () => logLines(errorLog).some((l) => l.msg === 'worker ready' && l.worker === 2));
  assert.equal((await runLoad(`${url}/hello`, { total: 10, concurrency: 2 })).ok, 10);
  const crashes = ['worker died', 'worker asks to be replaced', 'uncaught exception outside a request; replacing this worker'];
  assert.deepEqual(
    [...logLines(errorLog), ...server.logs].filter((l) => crashes.includes(l.msg)),
    [],
  );
});

for (const where of ['a dangling symlink (a log volume not mounted)', '/proc']) {
  test(`log paths under ${where}: the server starts and says what it cannot open, instead of hanging in mkdir`, {
    timeout: 30_000,
  }, async (t) => {
    // Under /proc, Node's recursive mkdir spins forever (the parent exists, mkdir of its child
    // fails with ENOENT): the master did so at start, deaf to signals. Below a dangling symlink
    // Node throws; both must start the same way.
    const logs = where === '/proc' ? `/proc/tsicorn-test-${process.pid}` : 'logs/app';
    const dir = tempDir(t, {
      'server.yaml': serverYaml(APP, { workers: 1, log: { errorlog: `${logs}/error.log`, accesslog: `${logs}/access.log` } }),
    });
    symlinkSync(join(dir, 'not-mounted'), join(dir, 'logs'));
    const server = await startServer(t, { cwd: dir });
    const master = server.findLog('server log file cannot be opened; writing to stderr', { component: 'master' });
    assert.ok(master, 'the master says it writes to stderr instead');
    assert.match(String((master.err as { message?: string } | undefined)?.message), /ENOENT/);
    const access = await server.waitForLog(FAILED, { component: 'worker' });
    assert.match(String((access.err as { message?: string } | undefined)?.message), /ENOENT/);
    assert.equal((await fetch(`${server.url()}/`)).status, 200, 'and it serves');
  });
}
