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
  return autoSocketPath(config.file ?? join(process.cwd(), String(config.settings.app)), config.file !== null, env);
}

/** The `auto` path for a server identified by `identity` (its config file, or its app without one). */
export function autoSocketPath(identity: string, isConfigFile: boolean, env: NodeJS.ProcessEnv = process.env): string {
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 16);
  const runtime = env.XDG_RUNTIME_DIR;
  const candidate = runtime
    ? join(runtime, `tsicorn-${hash}.sock`)
    : isConfigFile
      ? join(dirname(identity), `.${basename(identity)}.sock`)
      : join(process.cwd(), '.tsicorn.sock');
  if (Buffer.byteLength(candidate) <= MAX_SOCKET_PATH) return candidate;
  return join(tmpdir(), `tsicorn-${process.getuid?.() ?? 'u'}-${hash}.sock`);
}
