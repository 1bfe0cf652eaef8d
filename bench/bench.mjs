#!/usr/bin/env node
// tsicorn against bare Node (one process, cluster in both scheduling modes), PM2 cluster mode
// and Gunicorn, on the same hello-world and small JSON apps, on 127.0.0.1 only. Contenders
// alternate round by round (each round in a rotated order) so that drift hits all alike; every
// measured run waits for a quiet machine and is repeated when other work took a share of it.
// Sections:
//   throughput  wrk keep-alive and `Connection: close`, TLS (wrk), HTTP/2 (h2load); RSS after load
//   startup     spawn → first answered request: tsicorn vs one bare node process
//   rotation    HUP → every new worker ready, and → rotation finished (min_uptime 1 and 0),
//               vs one bare worker's boot (spawn → listening); Gunicorn's HUP for reference
// It prints the tables with medians, spreads and ratios against the issue's targets, and writes
// bench/results/bench-DATE.{md,json,svg}.
//
//   npm run bench [-- --rounds 5 --duration 5 --connections 50 --workers 2 --only throughput,startup]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measure, warmUp } from './lib/load.mjs';
import { adoptGroup, firstAnswer, freePort, has, launch, members, onCleanup, processGroup, rss, sleep, titled } from './lib/proc.mjs';
import { chart } from './lib/svg.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const APPS = join(HERE, 'apps');
const SECTIONS = ['throughput', 'startup', 'rotation'];
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    workers: { type: 'string', default: '2' },
    trials: { type: 'string', default: '5' },
    only: { type: 'string' },
    out: { type: 'string', default: join(HERE, 'results') },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log(
    readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 16)
      .join('\n')
      .replace(/^\/\/ ?/gm, ''),
  );
  process.exit(0);
}
const ROUNDS = Number(args.rounds);
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const N = Number(args.workers);
const TRIALS = Number(args.trials);
/** `--only`: section names and/or contender names (substrings), comma-separated. */
const only = args.only ? args.only.split(',').map((s) => s.trim().toLowerCase()) : null;
const names = only?.filter((o) => !SECTIONS.includes(o)) ?? [];
/** A section runs when named, or when nothing names one; contender names imply throughput. */
const sectionOn = (s) => !only || only.includes(s) || (s === 'throughput' && names.length > 0) || names.length === only.length;
const contenderOn = (name) => names.length === 0 || names.some((o) => name.toLowerCase().includes(o));

if (!has('wrk')) {
  console.error('wrk is not installed: apt-get install -y wrk');
  process.exit(2);
}
const HAS_H2LOAD = has('h2load');
const HAS_GUNICORN = has('gunicorn');
const PM2 = join(HERE, '.scratch', 'node_modules', '.bin', 'pm2');
const HAS_PM2 = existsSync(PM2);
const skipped = [];
if (!HAS_H2LOAD) skipped.push('HTTP/2 (h2load): apt-get install -y nghttp2-client');
if (!HAS_GUNICORN) skipped.push('Gunicorn: apt-get install -y gunicorn');
if (!HAS_PM2) skipped.push('PM2: npm i --prefix bench/.scratch pm2');

const scratch = mkdtempSync(join(tmpdir(), 'tsicorn-bench-'));
const PM2_HOME = join(scratch, 'pm2');
onCleanup(() => {
  if (HAS_PM2 && existsSync(PM2_HOME)) spawnSync(PM2, ['kill'], { env: { ...process.env, PM2_HOME }, stdio: 'ignore', timeout: 20_000 });
  rmSync(scratch, { recursive: true, force: true });
});
const cert = join(scratch, 'cert.pem');
const key = join(scratch, 'key.pem');
execFileSync(
  'openssl',
  ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
  {
    stdio: 'ignore',
  },
);

// ---------------------------------------------------------------- contenders
const appFile = (app) => join(APPS, app === 'json' ? 'json.cjs' : 'hello.cjs');
const pyApp = (app) => (app === 'json' ? 'json_app:app' : 'hello:app');

function tsicornConfig(port, extra = {}) {
  const dir = mkdtempSync(join(scratch, 'ts-'));
  const settings = { bind: `127.0.0.1:${port}`, workers: N, log: { level: 'warn' }, ...extra };
  writeFileSync(join(dir, 'server.yaml'), JSON.stringify(settings));
  return dir;
}

/** Starts tsicorn; ready once the master logs "server ready" (every worker listening). */
async function tsicorn(port, extra, level = 'info') {
  const dir = tsicornConfig(port, extra);
  const p = launch(process.execPath, [join(ROOT, 'bin', 'tsicorn'), '-c', 'server.yaml'], {
    cwd: dir,
    env: { ...process.env, TSICORN_LOG_FORMAT: 'json', TSICORN_LOG_LEVEL: level },
  });
  await p.waitFor((t) => t.includes('"server ready"'));
  return { ...p, pgids: [p.pgid], master: p.child.pid };
}

/** Starts a node script with an IPC channel; ready at its first message. */
async function nodeScript(file, env) {
  const p = launch(process.execPath, [file], { env: { ...process.env, ...env }, ipc: true });
  await new Promise((resolve, reject) => {
    p.child.once('message', resolve);
    p.child.once('exit', (code) => reject(new Error(`${file} exited ${code}: ${p.lines.map((l) => l.text).join(' | ')}`)));
  });
  return { ...p, pgids: [p.pgid], master: p.child.pid };
}

async function gunicorn(port, app, kind) {
  const p = launch('gunicorn', [
    '-c',
    join(APPS, 'gunicorn.conf.py'),
    '-w',
    String(N),
    '-k',
    kind,
    ...(kind === 'gthread' ? ['--threads', '4'] : []),
    '-b',
    `127.0.0.1:${port}`,
    '--chdir',
    APPS,
    pyApp(app),
  ]);
  await p.waitFor(() => gunicornReady(p) >= N);
  return { ...p, pgids: [p.pgid], master: p.child.pid };
}

/** post_worker_init lines so far, counted in the text (robust even if two lines ever shared one). */
function gunicornReady(p) {
  let n = 0;
  for (const l of p.lines) n += l.text.split('bench: worker ready').length - 1;
  return n;
}

async function pm2(port, app) {
  const env = { ...process.env, PM2_HOME, PORT: String(port), APP: appFile(app) };
  const name = `bench-${port}`;
  execFileSync(PM2, ['start', join(APPS, 'bare.cjs'), '-i', String(N), '--name', name, '--wait-ready', '--listen-timeout', '10000'], {
    env,
    stdio: 'ignore',
    timeout: 60_000,
  });
  const daemon = Number(readFileSync(join(PM2_HOME, 'pm2.pid'), 'utf8'));
  const pgid = members(daemon).length ? daemon : (processGroup(daemon) ?? daemon);
  adoptGroup(pgid);
  for (let i = 0; i < 100; i++) {
    const list = JSON.parse(execFileSync(PM2, ['jlist'], { env, encoding: 'utf8', timeout: 20_000 }) || '[]');
    if (list.filter((p) => p.name === name && p.pm2_env?.status === 'online').length >= N) break;
    await sleep(100);
  }
  await firstAnswer(port);
  return {
    pgids: [pgid],
    master: null,
    stop: async () => {
      spawnSync(PM2, ['delete', name], { env, stdio: 'ignore', timeout: 30_000 });
    },
  };
}

/**
 * Throughput cases: `scenario` groups what is compared (a ratio is to the best `baseline` of the
 * same scenario), `modes` what is measured. `family` colours the chart.
 */
function throughputCases() {
  const cases = [];
  for (const app of ['hello', 'json']) {
    const scenario = `${app} HTTP/1.1`;
    const modes = ['keep-alive', 'close'];
    const add = (name, family, start, extra = {}) => cases.push({ name, scenario, app, modes, family, start, proto: 'http', ...extra });
    add('node (1 process)', 'other', (port) => nodeScript(join(APPS, 'bare.cjs'), { PORT: String(port), APP: appFile(app) }));
    for (const sched of ['none', 'rr']) {
      add(
        `cluster ${sched === 'none' ? 'SCHED_NONE' : 'SCHED_RR'}`,
        'baseline',
        (port) =>
          nodeScript(join(APPS, 'cluster.cjs'), { PORT: String(port), WORKERS: String(N), CLUSTER_SCHED: sched, APP: appFile(app) }),
        { baseline: true, memory: sched === 'none' },
      );
    }
    if (HAS_PM2) add('PM2 cluster', 'other', (port) => pm2(port, app), { pm2: true });
    add('tsicorn', 'tsicorn', (port) => tsicorn(port, { app: appFile(app) }), { memory: true, tsicorn: true });
    if (app === 'hello') {
      // The other `balance` mode: the default (kernel) was chosen by this pair of figures.
      add('tsicorn balance: round-robin', 'tsicorn', (port) => tsicorn(port, { app: appFile(app), balance: 'round-robin' }));
      add('tsicorn + access log', 'tsicorn', (port) =>
        tsicorn(port, { app: appFile(app), log: { level: 'warn', accesslog: 'access.log', access_format: 'combined' } }),
      );
    }
    if (HAS_GUNICORN) {
      for (const kind of ['sync', 'gthread']) add(`Gunicorn ${kind}`, 'reference', (port) => gunicorn(port, app, kind));
    }
  }
  const tls = { scenario: 'hello TLS (HTTPS/1.1)', app: 'hello', modes: ['keep-alive'], proto: 'https' };
  cases.push({
    ...tls,
    name: 'cluster SCHED_NONE + TLS',
    family: 'baseline',
    baseline: true,
    start: (port) =>
      nodeScript(join(APPS, 'cluster.cjs'), {
        PORT: String(port),
        WORKERS: String(N),
        CLUSTER_SCHED: 'none',
        PROTO: 'https',
        TLS_CERT: cert,
        TLS_KEY: key,
      }),
  });
  cases.push({
    ...tls,
    name: 'tsicorn + TLS',
    family: 'tsicorn',
    start: (port) => tsicorn(port, { app: appFile('hello'), tls: { certfile: cert, keyfile: key } }),
  });
  if (HAS_H2LOAD) {
    const h2 = { scenario: 'hello HTTP/2 cleartext (h2load -m10)', app: 'hello', modes: ['h2'], proto: 'http' };
    cases.push({
      ...h2,
      name: 'cluster SCHED_NONE http2',
      family: 'baseline',
      baseline: true,
      start: (port) =>
        nodeScript(join(APPS, 'cluster.cjs'), { PORT: String(port), WORKERS: String(N), CLUSTER_SCHED: 'none', PROTO: 'h2c' }),
    });
    cases.push({
      ...h2,
      name: 'tsicorn http2',
      family: 'tsicorn',
      start: (port) => tsicorn(port, { app: appFile('hello'), worker_class: 'http2' }),
    });
  }
  // Filtering keeps each kept scenario's baselines: a ratio always has its denominator.
  const kept = cases.filter((c) => contenderOn(c.name) || contenderOn(c.scenario));
  const scenarios = new Set(kept.map((c) => c.scenario));
  return cases.filter((c) => kept.includes(c) || (c.baseline && scenarios.has(c.scenario)));
}

// ---------------------------------------------------------------- statistics
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Spread of the rounds: (max − min) / median, as a percentage. */
const spread = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x));
  const m = median(s);
  return s.length > 1 && m ? (100 * (Math.max(...s) - Math.min(...s))) / m : 0;
};
const MiB = (b) => b / 1024 / 1024;
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : Number.NaN);

// ---------------------------------------------------------------- throughput
async function throughput() {
  const cases = throughputCases();
  const perMode = (c) => Object.fromEntries(c.modes.map((m) => [m, []]));
  const results = new Map(cases.map((c) => [c, { modes: perMode(c), cpu: perMode(c), notes: new Set(), mem: [] }]));
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate: every contender once per round, each round starting one further along.
    const order = cases.map((_, i) => cases[(i + round - 1) % cases.length]);
    for (const c of order) {
      const port = await freePort();
      let server;
      try {
        server = await c.start(port);
        const url = `${c.proto}://127.0.0.1:${port}/`;
        const r = results.get(c);
        const line = [];
        for (const mode of c.modes) {
          const opts = {
            url,
            seconds: DURATION,
            connections: CONNECTIONS,
            close: mode === 'close',
            tool: mode === 'h2' ? 'h2load' : 'wrk',
          };
          warmUp(opts);
          const got = await measure(server.pgids, opts);
          r.modes[mode].push(got.rps);
          r.cpu[mode].push(got.cpuUs);
          if (got.errors || got.non2xx) r.notes.add(`${mode}: ${got.errors} socket errors, ${got.non2xx} non-2xx`);
          if (got.failed) r.notes.add(`${mode} failed: ${got.failed.slice(0, 200)}`);
          if (got.foreign > 0.05) r.notes.add(`other work took ${(100 * got.foreign).toFixed(0)}% of the machine in one run`);
          line.push(
            `${mode} ${got.rps.toFixed(0)} req/s${got.tries > 1 ? ` (${got.tries} tries)` : ''}${got.foreign > 0.01 ? ` [foreign ${(100 * got.foreign).toFixed(1)}%]` : ''}`,
          );
          // RSS after the keep-alive load: the process serving has grown to its working size.
          if (mode === 'keep-alive' && c.memory && server.master) {
            const kids = members(server.pgids[0]).filter((m) => m.pid !== server.master && m.ppid === server.master);
            r.mem.push({ master: rss(server.master), workers: kids.map((k) => rss(k.pid)) });
          }
        }
        if (c.name === 'node (1 process)' && c.app === 'hello' && server.master) r.mem.push({ master: rss(server.master), workers: [] });
        console.error(`round ${round}/${ROUNDS} ${c.scenario} · ${c.name}: ${line.join(', ')}`);
      } catch (err) {
        results.get(c).notes.add(`failed: ${String(err.message).slice(0, 200)}`);
        console.error(`round ${round}/${ROUNDS} ${c.scenario} · ${c.name}: FAILED ${err.message}`);
      } finally {
        await server?.stop();
        await sleep(300);
      }
    }
  }
  return { cases, results };
}

// ---------------------------------------------------------------- startup
async function startup() {
  const out = { node: [], cluster: [], tsicorn: [], tsicornReady: [] };
  for (let t = 1; t <= TRIALS; t++) {
    for (const who of ['node', 'cluster', 'tsicorn']) {
      const port = await freePort();
      let p;
      try {
        if (who === 'tsicorn') {
          const dir = tsicornConfig(port, { app: appFile('hello') });
          p = launch(process.execPath, [join(ROOT, 'bin', 'tsicorn'), '-c', 'server.yaml'], {
            cwd: dir,
            env: { ...process.env, TSICORN_LOG_FORMAT: 'json', TSICORN_LOG_LEVEL: 'info' },
          });
        } else {
          const file = join(APPS, who === 'node' ? 'bare.cjs' : 'cluster.cjs');
          p = launch(process.execPath, [file], { env: { ...process.env, PORT: String(port), WORKERS: String(N), CLUSTER_SCHED: 'none' } });
        }
        const answered = await firstAnswer(port, 30_000, 2);
        out[who].push(answered - p.startedAt);
        if (who === 'tsicorn') out.tsicornReady.push((await p.waitFor((x) => x.includes('"server ready"'))).at - p.startedAt);
      } finally {
        await p?.stop();
        await sleep(200);
      }
    }
    console.error(
      `startup trial ${t}/${TRIALS}: node ${fmt(out.node.at(-1))} ms, cluster ${fmt(out.cluster.at(-1))} ms, tsicorn ${fmt(out.tsicorn.at(-1))} ms (all ready ${fmt(out.tsicornReady.at(-1))} ms)`,
    );
  }
  return out;
}

// ---------------------------------------------------------------- rotation
/**
 * One tsicorn, `trials` HUPs: signal → every new worker ready, → rotation finished. With
 * `standbys`, each HUP waits for that many standbys to have loaded (they start after a rotation).
 */
async function tsicornRotations(minUptime, trials, standbys = 0) {
  const port = await freePort();
  const server = await tsicorn(port, { app: appFile('hello'), min_uptime: minUptime, standby_workers: standbys, log: { level: 'info' } });
  const out = { ready: [], first: [], finished: [] };
  try {
    let generation = 1;
    for (let i = 0; i < trials; i++) {
      await sleep(300);
      const loaded = performance.now() + 10_000;
      while (titled(server.pgid, 'tsicorn: standby') < standbys) {
        if (performance.now() > loaded) throw new Error(`${standbys} standbys did not load within 10 s`);
        await sleep(20);
      }
      const from = server.lines.length;
      const t0 = performance.now();
      process.kill(server.master, 'SIGHUP');
      generation++;
      const g = generation;
      const isReady = (t) => t.includes('"worker ready"') && t.includes('"component":"master"') && t.includes(`"generation":${g}`);
      await server.waitFor(() => server.lines.slice(from).filter((l) => isReady(l.text)).length >= N, { from });
      const readies = server.lines.slice(from).filter((l) => isReady(l.text));
      out.first.push(readies[0].at - t0);
      out.ready.push(readies[N - 1].at - t0);
      const done = await server.waitFor((t) => t.includes('"rotation finished"') && t.includes(`"generation":${g}`), { from });
      out.finished.push(done.at - t0);
      // Old workers gone before the next HUP: the next rotation starts from a steady state.
      await sleep(200);
    }
  } finally {
    await server.stop();
  }
  return out;
}

async function gunicornRotations(trials) {
  const port = await freePort();
  const server = await gunicorn(port, 'hello', 'sync');
  const out = [];
  try {
    for (let i = 0; i < trials; i++) {
      await sleep(300);
      const before = gunicornReady(server);
      const t0 = performance.now();
      process.kill(server.master, 'SIGHUP');
      await server.waitFor(() => gunicornReady(server) >= before + N);
      out.push(server.lines.filter((l) => l.text.includes('bench: worker ready')).at(-1).at - t0);
    }
  } finally {
    await server.stop();
  }
  return out;
}

async function rotation() {
  const out = {
    boot: [],
    mu1: { ready: [], first: [], finished: [] },
    mu0: { ready: [], first: [], finished: [] },
    standby: { ready: [], first: [], finished: [] },
    gunicorn: [],
  };
  // Rounds alternate: a few bare boots, a tsicorn with min_uptime 1, one with 0, Gunicorn.
  const per = Math.max(1, Math.ceil(TRIALS / 2));
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < per; i++) {
      const port = await freePort();
      const t0 = performance.now();
      const p = await nodeScript(join(APPS, 'bare.cjs'), { PORT: String(port) });
      out.boot.push(performance.now() - t0);
      await p.stop();
    }
    for (const [key, mu, standbys] of [
      ['mu1', 1, 0],
      ['mu0', 0, 0],
      ['standby', 1, N],
    ]) {
      const got = await tsicornRotations(mu, per, standbys);
      for (const k of Object.keys(got)) out[key][k].push(...got[k]);
    }
    if (HAS_GUNICORN) out.gunicorn.push(...(await gunicornRotations(per)));
    console.error(
      `rotation round ${round + 1}/2: bare boot ${fmt(median(out.boot))} ms; min_uptime 1: ready ${fmt(median(out.mu1.ready))} finished ${fmt(median(out.mu1.finished))} ms; min_uptime 0: ready ${fmt(median(out.mu0.ready))} finished ${fmt(median(out.mu0.finished))} ms; standby_workers ${N}: ready ${fmt(median(out.standby.ready))} ms; Gunicorn ${fmt(median(out.gunicorn))} ms`,
    );
  }
  return out;
}

// ---------------------------------------------------------------- report
function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? '?';
  const version = (cmd, argv, re) => {
    const r = spawnSync(cmd, argv, { encoding: 'utf8' });
    if (r.error) return 'not installed';
    return (re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? '?').trim();
  };
  return {
    date: new Date().toISOString(),
    nproc: cpus().length,
    cpu: model,
    ramGiB: (totalmem() / 1024 ** 3).toFixed(1),
    node: process.version,
    gunicorn: version('gunicorn', ['--version'], /version ([\d.]+)/),
    pm2: HAS_PM2
      ? JSON.parse(readFileSync(join(HERE, '.scratch', 'node_modules', 'pm2', 'package.json'), 'utf8')).version
      : 'not installed',
    wrk: version('wrk', ['-v'], /wrk (\S+)/),
    h2load: version('h2load', ['--version'], /nghttp2\/(\S+)/),
    python: version('python3', ['--version'], /Python (\S+)/),
  };
}

const verdict = (ok) => (ok === null ? '–' : ok ? 'met' : '**not met**');

function report(info, tp, st, rot) {
  const header = [];
  const md = [];
  const targets = [];
  const chartPanels = [];
  header.push(
    `# tsicorn benchmarks, ${info.date.slice(0, 10)}`,
    '',
    `Machine: ${info.nproc} cores (${info.cpu}), ${info.ramGiB} GiB RAM. Node ${info.node}, Gunicorn ${info.gunicorn} (Python ${info.python}), PM2 ${info.pm2}, wrk ${info.wrk}, h2load ${info.h2load}.`,
    `Run: ${info.date}; ${N} workers everywhere; ${ROUNDS} rounds alternating (medians; spread = (max − min) / median); wrk -t2 -c${CONNECTIONS} -d${DURATION}s, h2load -t2 -c${CONNECTIONS} -m10 -D${DURATION}, each after a 1 s warm-up.`,
    ...(skipped.length ? [`Skipped: ${skipped.join('; ')}.`] : []),
    '',
  );
  let json = { info, args: { ROUNDS, DURATION, CONNECTIONS, N, TRIALS } };
  if (tp) {
    const { cases, results } = tp;
    const raw = [];
    md.push(
      '## Throughput',
      '',
      "CPU µs/req: the CPU time the contender's processes (master and workers) took a request during the measured run, and its ratio to the least any bare cluster mode took (median of the rounds): how much work a request is, where req/s also says how well the load kept the workers busy.",
      '',
    );
    for (const scenario of [...new Set(cases.map((c) => c.scenario))]) {
      const mine = cases.filter((c) => c.scenario === scenario);
      const modes = mine[0].modes;
      /** Per mode, `pick` (Math.max, Math.min) of the bare clusters' medians of `key` (modes: req/s; cpu). */
      const ofBaselines = (key, pick) =>
        Object.fromEntries(
          modes.map((m) => [
            m,
            pick(
              ...mine
                .filter((c) => c.baseline)
                .map((c) => median(results.get(c)[key][m]))
                .filter(Number.isFinite),
            ),
          ]),
        );
      const best = ofBaselines('modes', Math.max);
      // CPU a request: the least any bare cluster mode took is the reference.
      const leanest = ofBaselines('cpu', Math.min);
      md.push(`### ${scenario}`, '');
      md.push(
        `| contender | ${modes.map((m) => `${m === 'h2' ? 'HTTP/2' : m} req/s (spread) | × best cluster | CPU µs/req (× cluster's)`).join(' | ')} | notes |`,
        `| --- | ${modes.map(() => '---: | ---: | ---:').join(' | ')} | --- |`,
      );
      for (const c of mine) {
        const r = results.get(c);
        const cells = modes.map((m) => {
          const cpu = median(r.cpu[m]);
          return `${fmt(median(r.modes[m]))} (±${fmt(spread(r.modes[m]) / 2, 1)}%) | ${fmt(ratio(median(r.modes[m]), best[m]), 3)} | ${fmt(cpu, 2)} (${fmt(ratio(cpu, leanest[m]), 3)})`;
        });
        md.push(`| ${c.name} | ${cells.join(' | ')} | ${[...r.notes].join('; ') || ''} |`);
        raw.push({ scenario, name: c.name, modes: r.modes, cpuUs: r.cpu, mem: r.mem, notes: [...r.notes] });
      }
      md.push('');
      for (const m of modes) {
        chartPanels.push({
          title: `${scenario}, ${m === 'h2' ? 'HTTP/2' : m}`,
          unit: 'req/s',
          rows: mine.map((c) => {
            const xs = results.get(c).modes[m].filter(Number.isFinite);
            return {
              label: c.name,
              value: median(xs) || 0,
              lo: xs.length ? Math.min(...xs) : undefined,
              hi: xs.length ? Math.max(...xs) : undefined,
              note: `× ${fmt(ratio(median(xs), best[m]), 2)}`,
              kind: c.family,
            };
          }),
        });
      }
    }
    const find = (scenario, name) => {
      const c = cases.find((x) => x.scenario === scenario && x.name === name);
      return c ? results.get(c) : null;
    };
    const med = (r, m) => (r ? median(r.modes[m] ?? []) : Number.NaN);
    for (const app of ['hello', 'json']) {
      const s = `${app} HTTP/1.1`;
      const ts = find(s, 'tsicorn');
      const none = find(s, 'cluster SCHED_NONE');
      const rr = find(s, 'cluster SCHED_RR');
      const pm = find(s, 'PM2 cluster');
      for (const [m, target] of [
        ['keep-alive', 0.97],
        ['close', 0.93],
      ]) {
        const bestCluster = Math.max(med(none, m), med(rr, m));
        const x = ratio(med(ts, m), bestCluster);
        targets.push([`${app}: tsicorn ÷ best cluster, ${m}`, `≥ ${target}`, fmt(x, 3), verdict(Number.isFinite(x) ? x >= target : null)]);
        const y = ratio(med(ts, m), med(pm, m));
        targets.push([`${app}: tsicorn ÷ PM2 cluster, ${m}`, '> 1', fmt(y, 3), verdict(Number.isFinite(y) ? y > 1 : null)]);
      }
    }
    const on = find('hello HTTP/1.1', 'tsicorn + access log');
    const off = find('hello HTTP/1.1', 'tsicorn');
    for (const m of ['keep-alive', 'close']) {
      const x = ratio(med(on, m), med(off, m));
      targets.push([`access log (combined, file) ÷ off, ${m}`, '≥ 0.90', fmt(x, 3), verdict(Number.isFinite(x) ? x >= 0.9 : null)]);
    }
    // Memory after the keep-alive load of the hello app (medians over rounds).
    const memOf = (r) => {
      if (!r?.mem.length) return null;
      return {
        master: median(r.mem.map((x) => x.master)),
        worker: median(r.mem.flatMap((x) => x.workers)),
      };
    };
    const tsMem = memOf(off);
    const clMem = memOf(find('hello HTTP/1.1', 'cluster SCHED_NONE'));
    const nodeMem = memOf(find('hello HTTP/1.1', 'node (1 process)'));
    if (tsMem && clMem) {
      md.push(
        '### Memory (RSS after the keep-alive load, hello app, medians)',
        '',
        '| process | RSS MiB |',
        '| --- | ---: |',
        `| tsicorn master | ${fmt(MiB(tsMem.master), 1)} |`,
        `| tsicorn worker | ${fmt(MiB(tsMem.worker), 1)} |`,
        `| cluster primary (SCHED_NONE) | ${fmt(MiB(clMem.master), 1)} |`,
        `| cluster worker (SCHED_NONE) | ${fmt(MiB(clMem.worker), 1)} |`,
        ...(nodeMem ? [`| node (1 process) | ${fmt(MiB(nodeMem.master), 1)} |`] : []),
        '',
      );
      targets.push(['tsicorn master RSS', '≤ 60 MiB', `${fmt(MiB(tsMem.master), 1)} MiB`, verdict(MiB(tsMem.master) <= 60)]);
      const w = ratio(tsMem.worker, clMem.worker);
      targets.push(['tsicorn worker RSS ÷ bare cluster worker', '≤ 1.2', fmt(w, 3), verdict(w <= 1.2)]);
      chartPanels.push({
        title: 'RSS after load (hello app)',
        unit: 'MiB',
        rows: [
          { label: 'tsicorn master', value: MiB(tsMem.master), kind: 'tsicorn' },
          { label: 'tsicorn worker', value: MiB(tsMem.worker), kind: 'tsicorn' },
          { label: 'cluster primary', value: MiB(clMem.master), kind: 'baseline' },
          { label: 'cluster worker', value: MiB(clMem.worker), kind: 'baseline' },
        ],
      });
    }
    json = { ...json, throughput: raw };
  }
  if (st) {
    md.push(
      '## Start → first answered request',
      '',
      `${TRIALS} trials alternating; from spawn to the first 200 of a GET polled every 2 ms.`,
      '',
      '| server | ms (median) | spread | × node |',
      '| --- | ---: | ---: | ---: |',
      `| node (1 process) | ${fmt(median(st.node))} | ±${fmt(spread(st.node) / 2, 0)}% | 1.00 |`,
      `| cluster SCHED_NONE, ${N} workers | ${fmt(median(st.cluster))} | ±${fmt(spread(st.cluster) / 2, 0)}% | ${fmt(ratio(median(st.cluster), median(st.node)), 2)} |`,
      `| tsicorn, ${N} workers: first answer | ${fmt(median(st.tsicorn))} | ±${fmt(spread(st.tsicorn) / 2, 0)}% | ${fmt(ratio(median(st.tsicorn), median(st.node)), 2)} |`,
      `| tsicorn, ${N} workers: "server ready" (all) | ${fmt(median(st.tsicornReady))} | ±${fmt(spread(st.tsicornReady) / 2, 0)}% | ${fmt(ratio(median(st.tsicornReady), median(st.node)), 2)} |`,
      '',
    );
    const x = ratio(median(st.tsicorn), median(st.node));
    targets.push(['start → first answer ÷ bare node', '≤ 1.5', fmt(x, 2), verdict(x <= 1.5)]);
    chartPanels.push({
      title: 'Start → first answered request',
      unit: 'ms',
      rows: [
        { label: 'node (1 process)', value: median(st.node), lo: Math.min(...st.node), hi: Math.max(...st.node), kind: 'baseline' },
        {
          label: `cluster, ${N} workers`,
          value: median(st.cluster),
          lo: Math.min(...st.cluster),
          hi: Math.max(...st.cluster),
          kind: 'baseline',
        },
        {
          label: `tsicorn, ${N} workers`,
          value: median(st.tsicorn),
          lo: Math.min(...st.tsicorn),
          hi: Math.max(...st.tsicorn),
          kind: 'tsicorn',
        },
      ],
    });
    json = { ...json, startup: st };
  }
  if (rot) {
    const boot = median(rot.boot);
    const row = (label, xs) => `| ${label} | ${fmt(median(xs))} | ±${fmt(spread(xs) / 2, 0)}% | ${fmt(ratio(median(xs), boot), 2)} |`;
    md.push(
      '## Rotation (HUP, no load)',
      '',
      `${rot.boot.length} bare boots and ${rot.mu1.ready.length} HUPs per setting, in 2 alternating rounds. One worker's boot: a bare \`node\` process serving the same app, spawn → listening.`,
      '',
      '| what | ms (median) | spread | × one worker boot |',
      '| --- | ---: | ---: | ---: |',
      row('one bare worker boot (spawn → listening)', rot.boot),
      row('tsicorn, min_uptime 1 (default): HUP → first new worker ready', rot.mu1.first),
      row(`tsicorn, min_uptime 1 (default): HUP → all ${N} new workers ready`, rot.mu1.ready),
      row('tsicorn, min_uptime 1 (default): HUP → rotation finished', rot.mu1.finished),
      row(`tsicorn, min_uptime 0: HUP → all ${N} new workers ready`, rot.mu0.ready),
      row('tsicorn, min_uptime 0: HUP → rotation finished', rot.mu0.finished),
      ...(rot.standby?.ready.length ? [row(`tsicorn, standby_workers ${N}: HUP → all ${N} new workers ready`, rot.standby.ready)] : []),
      ...(rot.gunicorn.length ? [row(`Gunicorn sync: HUP → all ${N} new workers loaded the app (post_worker_init)`, rot.gunicorn)] : []),
      '',
    );
    const x = ratio(median(rot.mu1.ready), boot);
    targets.push([`rotation of ${N} workers (HUP → all ready) ÷ one worker boot`, '≤ 1.5', fmt(x, 2), verdict(x <= 1.5)]);
    if (rot.standby?.ready.length) {
      const z = ratio(median(rot.standby.ready), boot);
      targets.push([`rotation with standby_workers ${N} (HUP → all ready) ÷ one worker boot`, '≤ 1.5', fmt(z, 2), verdict(z <= 1.5)]);
    }
    const y = ratio(median(rot.mu0.finished), boot);
    targets.push([`rotation finished, min_uptime 0 ÷ one worker boot`, '(≤ 1.5)', fmt(y, 2), verdict(y <= 1.5)]);
    chartPanels.push({
      title: 'Rotation (HUP)',
      unit: 'ms',
      rows: [
        { label: 'one bare worker boot', value: boot, kind: 'baseline' },
        { label: 'tsicorn: all new ready', value: median(rot.mu1.ready), kind: 'tsicorn' },
        { label: 'tsicorn: finished (min_uptime 1)', value: median(rot.mu1.finished), kind: 'tsicorn' },
        { label: 'tsicorn: finished (min_uptime 0)', value: median(rot.mu0.finished), kind: 'tsicorn' },
        ...(rot.standby?.ready.length
          ? [{ label: `tsicorn: all ready, ${N} standbys`, value: median(rot.standby.ready), kind: 'tsicorn' }]
          : []),
        ...(rot.gunicorn.length ? [{ label: 'Gunicorn sync: all loaded', value: median(rot.gunicorn), kind: 'reference' }] : []),
      ],
    });
    json = { ...json, rotation: rot };
  }
  const table = targets.length
    ? [
        '## Targets (issue 8)',
        '',
        '| target | wanted | measured | |',
        '| --- | --- | ---: | --- |',
        ...targets.map((t) => `| ${t.join(' | ')} |`),
        '',
      ]
    : [];
  return { md: [...header, ...table, ...md].join('\n'), json, chartPanels };
}

// ---------------------------------------------------------------- main
const info = machine();
console.error(`bench: ${info.nproc} cores, ${info.cpu}; node ${info.node}; ${N} workers; ${ROUNDS} rounds × ${DURATION} s`);
for (const s of skipped) console.error(`skipped: ${s}`);
/** Runs a section; one that fails is reported and the others still are. */
async function section(name, fn) {
  if (!sectionOn(name)) return null;
  try {
    return await fn();
  } catch (err) {
    console.error(`section ${name} failed: ${err.stack ?? err}`);
    skipped.push(`${name}: failed (${String(err.message).slice(0, 160)})`);
    return null;
  }
}
const tp = await section('throughput', throughput);
const st = await section('startup', startup);
const rot = await section('rotation', rotation);
const { md, json, chartPanels } = report(info, tp, st, rot);
console.log(md);
mkdirSync(args.out, { recursive: true });
const stem = join(args.out, `bench-${info.date.slice(0, 10)}`);
writeFileSync(`${stem}.md`, `${md}\n`);
writeFileSync(`${stem}.json`, `${JSON.stringify(json, null, 1)}\n`);
writeFileSync(
  `${stem}.svg`,
  chart({
    title: `tsicorn vs bare Node, PM2 and Gunicorn — ${N} workers, ${info.nproc} cores, ${info.date.slice(0, 10)}`,
    subtitle: `${info.cpu}; node ${info.node}; medians of ${ROUNDS} alternating rounds, whiskers min–max; × = ratio to the best bare cluster mode`,
    panels: chartPanels,
  }),
);
console.error(`wrote ${stem}.md, .json, .svg`);
process.exit(0);
