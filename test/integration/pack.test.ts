/**
 * What `npm i tsicorn` gets: the tarball `npm pack` makes, installed into a scratch project, runs
 * `tsicorn --help`, `init`, `check-config --app` and serves a request — with no file from the
 * repository but the tarball. Catches a run-time file missing from package.json "files", a
 * run-time import of a devDependency, and test files leaking into the package.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type RunResult, runBounded } from '../helpers/run.js';
import { cleanEnv, ROOT, RunningServer, tempDir } from '../helpers/server.js';

/** The environment without the npm_* variables `npm test` sets, which would point npm back at the repository. */
function scratchEnv(): NodeJS.ProcessEnv {
  const env = cleanEnv();
  for (const key of Object.keys(env)) if (key.toLowerCase().startsWith('npm_')) delete env[key];
  return env;
}

/** Runs a command in its own process group, killed after `ms`. */
function run(command: string, args: string[], cwd: string, ms: number): Promise<RunResult> {
  return runBounded(command, args, { cwd, env: scratchEnv(), limitMs: ms });
}

const ok = (r: RunResult, what: string) => assert.equal(r.code, 0, `${what} failed:\n${r.stdout}\n${r.stderr}`);

/** Where files of the package may come from: what package.json "files" names, and package.json itself. */
const SHIPPED = /^(bin\/|dist\/src\/|dist\/worker\/|schemas\/|docs\/|README\.md$|CHANGELOG\.md$|package\.json$)/;

test('npm pack makes a package that installs in a scratch project and runs', { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t);
  const packDir = join(dir, 'pack');
  const project = join(dir, 'project');
  mkdirSync(packDir);
  mkdirSync(project);

  // --ignore-scripts: prepack would rebuild dist/ while other test files run from it (npm test
  // builds before any test starts, so dist/ is current).
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], ROOT, 60_000);
  ok(pack, 'npm pack');
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  assert.ok(info);
  const files = info.files.map((f) => f.path);
  for (const needed of ['bin/tsicorn', 'dist/src/cli/main.js', 'dist/worker/entry.js', 'schemas/server.schema.json']) {
    assert.ok(files.includes(needed), `${needed} is in the package`);
  }
  assert.deepEqual(
    files.filter((f) => !SHIPPED.test(f)),
    [],
    'nothing outside package.json "files" (no test/, dist/test/, examples/)',
  );

  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'scratch', private: true, type: 'module' })}\n`);
  const install = await run(
    'npm',
    ['install', join(packDir, info.filename), '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock'],
    project,
    150_000,
  );
  ok(install, 'npm install');

  // --no: never fetch a `tsicorn` from the registry; only the one just installed may run.
  const help = await run('npx', ['--no', '--', 'tsicorn', '--help'], project, 20_000);
  ok(help, 'npx tsicorn --help');
  assert.match(help.stdout, /Usage: tsicorn/);
  assert.match(help.stdout, /check-config/);

  const init = await run('npx', ['--no', '--', 'tsicorn', 'init', 'init.yaml'], project, 20_000);
  ok(init, 'npx tsicorn init');
  // The modeline points editors at the schema inside the installed package.
  const modeline = readFileSync(join(project, 'init.yaml'), 'utf8').split('\n')[0];
  assert.equal(modeline, '# yaml-language-server: $schema=./node_modules/tsicorn/schemas/server.schema.json');
  assert.ok(existsSync(join(project, 'node_modules', 'tsicorn', 'schemas', 'server.schema.json')));

  writeFileSync(
    join(project, 'app.js'),
    "export default (req, res) => res.end(JSON.stringify({ from: 'the packed tsicorn', path: req.url }));\n",
  );
  writeFileSync(join(project, 'server.yaml'), 'app: app.js\nbind: 127.0.0.1:8000\nworkers: 1\n');
  const check = await run('npx', ['--no', '--', 'tsicorn', 'check-config', '--app', 'server.yaml'], project, 20_000);
  ok(check, 'npx tsicorn check-config');
  assert.equal(
    check.stdout,
    'OK: server.yaml is valid (app app.js, workers 1, bind 127.0.0.1:8000); app loads as a Node request listener\n',
  );

  // Served by the installed bin, on a free port: the worker entry and every run-time dependency resolve.
  const bin = join(project, 'node_modules', '.bin', 'tsicorn');
  const child = spawn(bin, ['-c', 'server.yaml', '--bind', '127.0.0.1:0', '--log-format', 'json'], {
    cwd: project,
    env: scratchEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const server = new RunningServer(child, project);
  t.after(() => {
    if (server.exitCode === null && server.exitSignal === null) {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
  await server.waitForLog('server ready', {}, 30_000);
  assert.deepEqual(await (await fetch(`${server.url()}/hi`)).json(), { from: 'the packed tsicorn', path: '/hi' });
  process.kill(server.pid, 'SIGTERM');
  assert.equal(await server.waitForExit(20_000), 0);
});
