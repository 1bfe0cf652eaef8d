#!/usr/bin/env node
// Reloads under load: tsicorn's HUP against PM2's `pm2 reload` and Gunicorn's HUP, same machine,
// same hello-world app, 2 workers, on 127.0.0.1. For each contender and each connection mode it
// runs wrk while sending RELOADS reloads, and counts failed requests (socket errors and non-2xx);
// separately it times one reload from the signal to every new worker being ready. Rounds
// alternate contenders. PM2 is installed into bench/.scratch (npm i pm2), Gunicorn from Debian
// (apt-get install -y gunicorn); a missing one is skipped with the command that installs it.
// Gunicorn's reload is timed to its post_worker_init hook (apps/gunicorn.conf.py prints a line once
// a new worker has loaded the app), not to "Booting worker", which it logs right after fork.
//
//   npm run bench:reload [-- --rounds 2 --reloads 5 --only gunicorn]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '2' }, reloads: { type: 'string', default: '5' }, only: { type: 'string' } },
});
if (spawnSync('wrk', ['--version']).error) {
  console.error('wrk is not installed: apt-get install -y wrk');
  process.exit(2);
}
const ROUNDS = Number(args.rounds);
const RELOADS = Number(args.reloads);
const GAP_MS = 1500;
const scratch = mkdtempSync(join(tmpdir(), 'tsicorn-reload-bench-'));
const PM2 = join(HERE, '.scratch', 'node_modules', '.bin', 'pm2');
const PM2_HOME = join(scratch, 'pm2-home');
process.on('exit', () => {
  if (existsSync(PM2)) spawnSync(PM2, ['kill'], { env: { ...process.env, PM2_HOME }, stdio: 'ignore', timeout: 20_000 });
  rmSync(scratch, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** A process whose stderr lines we watch; killed with its group at the end. */
function launch(command, argv, opts = {}) {
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  const lines = [];
  const waiters = new Set();
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream.setEncoding('utf8').on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        lines.push({ at: performance.now(), text: buf.slice(0, i) });
        buf = buf.slice(i + 1);
      }
      for (const w of waiters) w();
    });
  }
  const waitFor = (test, ms = 30_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = lines.find(test);
        if (hit) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `timeout waiting in ${command}: ${lines
              .slice(-5)
              .map((l) => l.text)
              .join(' | ')}`,
          ),
        );
      }, ms);
      waiters.add(check);
      check();
    });
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  };
  return { child, lines, waitFor, stop };
}

const contenders = [
  {
    name: 'tsicorn (HUP)',
    async start(port) {
      const dir = mkdtempSync(join(scratch, 'ts-'));
      writeFileSync(
        join(dir, 'server.yaml'),
        JSON.stringify({ app: join(HERE, 'apps', 'hello.cjs'), bind: `127.0.0.1:${port}`, workers: 2 }),
      );
      const p = launch(process.execPath, [join(ROOT, 'bin', 'tsicorn'), '-c', 'server.yaml'], {
        cwd: dir,
        env: { ...process.env, TSICORN_LOG_FORMAT: 'json' },
      });
      await p.waitFor((l) => l.text.includes('"server ready"'));
      let finished = 0;
      return {
        stop: p.stop,
        // Reload time: HUP to the master's "rotation finished" (every new worker ready).
        async reload() {
          const t0 = performance.now();
          process.kill(p.child.pid, 'SIGHUP');
          const n = ++finished;
          const line = await p.waitFor(
            (l) =>
              l.text.includes('"rotation finished"') && p.lines.filter((x) => x.text.includes('"rotation finished"')).indexOf(l) === n - 1,
          );
          return line.at - t0;
        },
      };
    },
  },
  {
    name: 'PM2 cluster (pm2 reload)',
    skip: () => (existsSync(PM2) ? null : 'npm i --prefix bench/.scratch pm2'),
    async start(port) {
      const env = { ...process.env, PM2_HOME, PORT: String(port) };
      const name = `hello-${port}`;
      execFileSync(PM2, ['start', join(HERE, 'apps', 'bare.cjs'), '-i', '2', '--name', name, '--wait-ready', '--listen-timeout', '10000'], {
        env,
        stdio: 'ignore',
        timeout: 60_000,
      });
      return {
        stop: () => spawnSync(PM2, ['delete', name], { env, stdio: 'ignore', timeout: 30_000 }),
        // Reload time: `pm2 reload` returns once every instance was replaced.
        async reload() {
          const t0 = performance.now();
          execFileSync(PM2, ['reload', name], { env, stdio: 'ignore', timeout: 60_000 });
          return performance.now() - t0;
        },
      };
    },
  },
  ...['sync', 'gthread'].map((kind) => ({
    name: `Gunicorn ${kind} (HUP)`,
    skip: () => (spawnSync('gunicorn', ['--version']).error ? 'apt-get install -y gunicorn' : null),
    async start(port) {
      const p = launch('gunicorn', [
        '-c',
        join(HERE, 'apps', 'gunicorn.conf.py'),
        '-w',
        '2',
        '-k',
        kind,
        '--threads',
        '2',
        '-b',
        `127.0.0.1:${port}`,
        '--chdir',
        join(HERE, 'apps'),
        'hello:app',
      ]);
      const loaded = () => p.lines.filter((l) => l.text.includes('bench: worker ready'));
      await p.waitFor(() => loaded().length >= 2);
      return {
        stop: p.stop,
        // Reload time: HUP to two new workers having loaded the app (post_worker_init).
        async reload() {
          const before = loaded().length;
          const t0 = performance.now();
          process.kill(p.child.pid, 'SIGHUP');
          await p.waitFor(() => loaded().length >= before + 2);
          return loaded().at(-1).at - t0;
        },
      };
    },
  })),
];

function wrkAsync(port, seconds, close) {
  const argv = ['-t', '2', '-c', '32', '-d', `${seconds}s`];
  if (close) argv.push('-H', 'Connection: close');
  argv.push(`http://127.0.0.1:${port}/`);
  return new Promise((resolve) => {
    const child = spawn('wrk', argv, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('exit', () => {
      const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      resolve({ total, failed: socketErrors + non2xx });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : Number.NaN;
};

const chosen = contenders.filter((c) => !args.only || c.name.toLowerCase().includes(args.only.toLowerCase()));
if (chosen.length === 0) {
  console.error(`--only ${args.only}: no contender matches (${contenders.map((c) => c.name).join(', ')})`);
  process.exit(2);
}
const results = new Map();
for (let round = 1; round <= ROUNDS; round++) {
  for (const c of chosen) {
    const why = c.skip?.();
    if (why) {
      results.set(c.name, { skipped: why });
      continue;
    }
    const r = results.get(c.name) ?? { reloadMs: [], ka: { total: 0, failed: 0 }, close: { total: 0, failed: 0 } };
    for (const close of [false, true]) {
      const port = await freePort();
      const server = await c.start(port);
      try {
        await sleep(500);
        const load = wrkAsync(port, Math.ceil((RELOADS * GAP_MS + 2000) / 1000), close);
        await sleep(1000);
        for (let i = 0; i < RELOADS; i++) {
          const ms = await server.reload();
          if (!close) r.reloadMs.push(ms);
          await sleep(Math.max(0, GAP_MS - ms));
        }
        const got = await load;
        const bucket = close ? r.close : r.ka;
        bucket.total += got.total;
        bucket.failed += got.failed;
        console.error(`round ${round} ${c.name} ${close ? 'close' : 'keep-alive'}: ${got.failed} failed of ${got.total}`);
      } finally {
        server.stop();
        await sleep(500);
      }
    }
    results.set(c.name, r);
  }
}

const tsicornMs = median(results.get('tsicorn (HUP)')?.reloadMs ?? []);
const times = (ms) => (Number.isFinite(tsicornMs) && tsicornMs > 0 ? (ms / tsicornMs).toFixed(2) : '–');
const rows = [...results].map(([name, r]) =>
  r.skipped
    ? `| ${name} | skipped (${r.skipped}) | | | |`
    : `| ${name} | ${median(r.reloadMs).toFixed(0)} | ${times(median(r.reloadMs))} | ${r.ka.failed} / ${r.ka.total} | ${r.close.failed} / ${r.close.total} |`,
);
const report = [
  `${ROUNDS} rounds × ${RELOADS} reloads ${GAP_MS} ms apart under wrk -t2 -c32; 2 workers; node ${process.version}; ${new Date().toISOString()}`,
  '',
  '| contender | reload ms (median) | × tsicorn | failed / total, keep-alive | failed / total, Connection: close |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...rows,
].join('\n');
console.log(report);
mkdirSync(join(HERE, 'results'), { recursive: true });
writeFileSync(join(HERE, 'results', `reload-${new Date().toISOString().slice(0, 10)}.md`), `${report}\n`);
