import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';

/** sun_path holds 108 bytes on Linux (104 on macOS): longer paths cannot be bound. */
const MAX_SOCKET_PATH = 100;

/**
 * Where the control socket of the server running `config` lives: the path set, or for `auto` one
 * per config file — under $XDG_RUNTIME_DIR when there is one (a user session), else beside the
 * config file as `.NAME.sock` — so the master and `tsicorn status -c FILE` find the same socket.
 * A path too long for a unix socket falls back to the temp directory. Null when off.
 */
export function controlSocketPath(config: LoadedConfig, env: NodeJS.ProcessEnv = process.env): string | null {
  const setting = config.settings.control.socket;
  if (setting === null) return null;
  if (setting !== 'auto') return resolve(config.baseDir, setting);
  return config.file === null ? NO_FILE_SOCKET() : autoSocketPath(config.file, env);
}

/**
 * A server started without a config file (`tsicorn app.js`) has its socket in the directory it
 * was started from, where `tsicorn status` run without a file looks for it.
 */
export const NO_FILE_SOCKET = () => join(process.cwd(), '.tsicorn.sock');

/** The `auto` path for the server of the config file at `file` (absolute). */
export function autoSocketPath(file: string, env: NodeJS.ProcessEnv = process.env): string {
  const hash = createHash('sha256').update(file).digest('hex').slice(0, 16);
  const runtime = env.XDG_RUNTIME_DIR;
  const candidate = runtime ? join(runtime, `tsicorn-${hash}.sock`) : join(dirname(file), `.${basename(file)}.sock`);
  if (Buffer.byteLength(candidate) <= MAX_SOCKET_PATH) return candidate;
  return join(tmpdir(), `tsicorn-${process.getuid?.() ?? 'u'}-${hash}.sock`);
}
