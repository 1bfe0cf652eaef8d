// Processes for the benchmarks: start in their own process group, find their members, read
// their CPU time and RSS from /proc, and kill every group started (even when the run fails).
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';

const groups = new Set();
const cleanups = [];

/** Kills every process group started here and runs the cleanups (PM2's daemon): at exit, on a signal, on a crash. */
export function killAll() {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
  }
  groups.clear();
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch {}
  }
}
export const onCleanup = (fn) => cleanups.push(fn);
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}
process.on('uncaughtException', (err) => {
  console.error(err);
  killAll();
  process.exit(1);
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a command as the leader of a new process group; its stdout and stderr lines are kept
 * with the time they came (performance.now()), and `waitFor` waits for a line.
 */
export function launch(command, argv, opts = {}) {
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe', ...(opts.ipc ? ['ipc'] : [])], detached: true, ...opts });
  const startedAt = performance.now();
  groups.add(child.pid);
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
  let exited = null;
  child.once('exit', (code, signal) => {
    exited = { code, signal };
    for (const w of waiters) w();
  });
  /** Resolves with the first line (from `from` on) passing `test`. */
  const waitFor = (test, { ms = 30_000, from = 0 } = {}) =>
    new Promise((resolve, reject) => {
      const check = () => {
        for (let i = from; i < lines.length; i++) {
          if (test(lines[i].text)) {
            done();
            resolve(lines[i]);
            return;
          }
        }
        if (exited) {
          done();
          reject(new Error(`${command} exited (${exited.code ?? exited.signal}): ${tail()}`));
        }
      };
      const done = () => {
        waiters.delete(check);
        clearTimeout(timer);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timeout waiting in ${command}: ${tail()}`));
      }, ms);
      waiters.add(check);
      check();
    });
  const tail = () =>
    lines
      .slice(-5)
      .map((l) => l.text)
      .join(' | ');
  const stop = async () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
    groups.delete(child.pid);
    if (!exited) await new Promise((r) => child.once('exit', r));
  };
  return {
    child,
    pgid: child.pid,
    startedAt,
    lines,
    waitFor,
    stop,
    get exited() {
      return exited;
    },
  };
}

/** Registers a process group started by someone else (PM2's daemon) for the final kill. */
export const adoptGroup = (pgid) => groups.add(pgid);

function stat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After the command: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14)
    return { ppid: Number(f[1]), pgrp: Number(f[2]), cpu: Number(f[11]) + Number(f[12]), childCpu: Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

/** CPU ticks (1/100 s) one process has used, or 0 once it is gone. */
export const cpuTicks = (pid) => stat(pid)?.cpu ?? 0;

/** The process group of one process, or null once it is gone. */
export const processGroup = (pid) => stat(pid)?.pgrp ?? null;

/** The pids of a process group. */
export function members(pgid) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(name);
    if (s && s.pgrp === pgid) out.push({ pid: Number(name), ...s });
  }
  return out;
}

/** How many members of a process group have a title (command line) starting with `prefix`. */
export function titled(pgid, prefix) {
  return members(pgid).filter((m) => {
    try {
      return readFileSync(`/proc/${m.pid}/cmdline`, 'utf8').startsWith(prefix);
    } catch {
      return false;
    }
  }).length;
}

/** CPU ticks (1/100 s) used by a group's live members. */
export const groupCpu = (pgids) => pgids.flatMap((g) => members(g)).reduce((a, m) => a + m.cpu, 0);

/** This process's own CPU ticks and those of its reaped children (wrk, h2load after spawnSync). */
export function selfCpu() {
  const s = stat(process.pid);
  return s.cpu + s.childCpu;
}

/** Busy CPU ticks of the whole machine (all cores), from /proc/stat. */
export function machineBusy() {
  const [cpu] = readFileSync('/proc/stat', 'utf8').split('\n');
  const v = cpu.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const idle = v[3] + v[4];
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Resident set of one process, bytes. */
export function rss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Waits until the machine is quiet (other work below `maxBusy` of all cores for 0.5 s), at most `ms`. */
export async function quiet(maxBusy = 0.1, ms = 60_000) {
  const until = Date.now() + ms;
  for (;;) {
    const a = machineBusy();
    await sleep(500);
    const b = machineBusy();
    const share = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (share <= maxBusy) return true;
    if (Date.now() > until) return false;
  }
}

/** One GET; resolves with the status, or rejects (refused, reset). */
export function get(port, path = '/', timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Polls until a GET is answered 200; resolves with performance.now() of the answer. */
export async function firstAnswer(port, ms = 30_000, every = 2) {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    try {
      if ((await get(port)) === 200) return performance.now();
    } catch {}
    await sleep(every);
  }
  throw new Error(`no answer on ${port} within ${ms} ms`);
}

export const has = (cmd, arg = '--version') => !spawnSync(cmd, [arg], { stdio: 'ignore' }).error;
