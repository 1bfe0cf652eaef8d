import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Override } from '../../config/layers.js';
import { type LoadedConfig, loadConfig } from '../../config/load.js';
import { parseConfigText, readConfigText } from '../../config/source.js';
import type { ControlReply, ControlRequest, ServerStatus } from '../../control/protocol.js';
import { autoSocketPath, controlSocketPath, NO_FILE_SOCKET } from '../../control/socket-path.js';
import { TsicornError } from '../../errors.js';
import { callMaster } from '../control-client.js';
import { printIssues } from '../report.js';
import { formatStatus } from '../status-format.js';
import { signalMaster } from './signal-master.js';

export interface ControlOptions {
  file: string;
  flags: Override[];
  json: boolean;
}

const DEFAULT_FILE = 'server.yaml';

/** Long enough for a rotation to boot new workers: `tsicorn reload` waits for the outcome. */
const RELOAD_WAIT_MS = 10 * 60_000;
const QUICK_MS = 10_000;

/**
 * The control socket of the server running this config. An invalid config still names its
 * socket for `status` and `stop` (an operator mid-edit must still see and stop the server): the
 * `auto` path depends only on the file's name.
 */
function socketFor(opts: ControlOptions): { path: string | null; config: LoadedConfig | null } {
  // `tsicorn status` with no file where a server was started without one (`tsicorn app.js`).
  if (opts.file === DEFAULT_FILE && !existsSync(DEFAULT_FILE) && existsSync(NO_FILE_SOCKET())) {
    return { path: NO_FILE_SOCKET(), config: null };
  }
  const outcome = loadConfig({ file: opts.file, flags: opts.flags });
  if (outcome.ok) return { path: controlSocketPath(outcome.config), config: outcome.config };
  return { path: socketOfInvalidFile(opts.file), config: null };
}

/** The `control.socket` an invalid file sets, when it parses and sets one as a string; else the `auto` path. */
function socketOfInvalidFile(file: string): string | null {
  const path = resolve(file);
  const parsed = parseConfigText(readConfigText(file), file);
  const control = parsed.ok ? (parsed.source.value as { control?: { socket?: unknown } } | null)?.control : undefined;
  const setting = control?.socket;
  if (setting === null) return null;
  if (typeof setting === 'string' && setting !== 'auto' && !setting.includes('${')) return resolve(dirname(path), setting);
  return autoSocketPath(path);
}

function print(reply: ControlReply): number {
  if (reply.ok) {
    process.stdout.write(`${reply.message}\n`);
    return 0;
  }
  process.stderr.write(`tsicorn: ${reply.error}\n`);
  for (const line of reply.details ?? []) process.stderr.write(`  ${line}\n`);
  return 1;
}

function needSocket(path: string | null, what: string): string {
  if (path === null) {
    throw new TsicornError(
      'TSI_ERR_NOT_RUNNING',
      `cannot ${what}: control.socket is null in this config, so the server has no control socket`,
    );
  }
  return path;
}

export async function status(opts: ControlOptions & { waitSeconds?: number }): Promise<number> {
  const path = needSocket(socketFor(opts).path, 'ask for the status');
  const data = opts.waitSeconds === undefined ? await askStatus(path) : await waitUntilServing(path, opts.waitSeconds * 1000);
  if (data === null) return 1;
  process.stdout.write(opts.json ? `${JSON.stringify(data, null, 2)}\n` : formatStatus(data));
  return 0;
}

async function askStatus(path: string): Promise<ServerStatus | null> {
  const { reply } = await callMaster(path, { command: 'status' }, QUICK_MS);
  if (!reply.ok) {
    print(reply);
    return null;
  }
  return reply.data as ServerStatus;
}

/**
 * `status --wait S`: until the server is serving with all its workers ready (systemd's
 * ExecStartPost= under Type=exec: the unit counts as started only then). A server that is not
 * up yet, or whose socket is not there yet, is asked again; one that exits ends the wait.
 */
async function waitUntilServing(path: string, timeoutMs: number): Promise<ServerStatus | null> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const { reply } = await callMaster(path, { command: 'status' }, Math.max(1000, deadline - Date.now()));
      const data = reply.ok ? (reply.data as ServerStatus) : null;
      // A rotation serves too: its old workers answer until the new ones have taken over.
      const serving = data !== null && (data.state === 'running' || data.state === 'rotating');
      if (data && serving && data.workers.filter((w) => w.state === 'ready').length >= data.workersTarget) return data;
      last = data
        ? `${data.state}, ${data.workers.filter((w) => w.state === 'ready').length} of ${data.workersTarget} workers ready`
        : 'an error';
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new TsicornError('TSI_ERR_NOT_RUNNING', `the server was not serving within ${timeoutMs / 1000} s (last: ${last})`);
}

/** `tsicorn scale 4 | +1 | -2`. */
export async function scale(opts: ControlOptions & { count: string }): Promise<number> {
  const match = /^([+-]?)(\d+)$/.exec(opts.count.trim());
  if (!match)
    throw new TsicornError(
      'TSI_ERR_USAGE',
      `scale: expected a number of workers (4), or a change (+1, -2), got ${JSON.stringify(opts.count)}`,
    );
  const relative = match[1] !== '';
  const to = Number(match[2]) * (match[1] === '-' ? -1 : 1);
  const path = needSocket(socketFor(opts).path, 'scale');
  return print((await callMaster(path, { command: 'scale', to, relative }, QUICK_MS)).reply);
}

/**
 * `reload`, `stop` and `reopen-logs` go through the control socket when the server has one (and
 * report the outcome); without one, through the pidfile and a signal, as Gunicorn's users do.
 */
export async function viaSocketOrSignal(
  opts: ControlOptions & { request: Extract<ControlRequest, { command: 'reload' | 'stop' | 'reopen-logs' }>; signal: NodeJS.Signals },
): Promise<number> {
  const { path, config } = socketFor(opts);
  if (opts.request.command === 'reload' && config === null) {
    // The master would refuse this file: say why here, where the operator is looking.
    const outcome = loadConfig({ file: opts.file, flags: opts.flags });
    if (!outcome.ok) printIssues(outcome, opts.file);
    process.stderr.write('tsicorn: not sent: the running server would refuse this config and keep its current one\n');
    return 1;
  }
  if (path === null) return signalMaster({ file: opts.file, flags: opts.flags, signal: opts.signal, action: opts.request.command });
  const wait = opts.request.command === 'reload' ? RELOAD_WAIT_MS : QUICK_MS;
  const { reply, closed } = await callMaster(path, opts.request, wait);
  const code = print(reply);
  if (opts.request.command === 'stop' && reply.ok) {
    await closed;
    process.stdout.write('stopped\n');
  }
  return code;
}
