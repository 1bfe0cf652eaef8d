import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../log/logger.js';

/** The hooks tsicorn calls, Gunicorn's names, and the process each runs in. */
export const MASTER_HOOKS = ['on_starting', 'when_ready', 'on_reload', 'pre_fork', 'child_exit', 'nworkers_changed', 'on_exit'] as const;
export const WORKER_HOOKS = ['post_fork', 'post_worker_init', 'pre_request', 'post_request', 'worker_exit'] as const;
export type HookName = (typeof MASTER_HOOKS)[number] | (typeof WORKER_HOOKS)[number];

type HookFunction = (...args: unknown[]) => unknown;

const require = createRequire(import.meta.url);

/**
 * The user's hooks module (`hooks:`), loaded in the master and in every worker. A hook is a plain
 * function; it runs synchronously where tsicorn calls it, and one that throws (or returns a promise
 * that rejects) is logged and never takes the server down. A promise is not awaited: the master's
 * queue must not wait on user code.
 */
export class Hooks {
  private constructor(
    private readonly functions: Partial<Record<HookName, HookFunction>>,
    private readonly log: Logger,
    readonly path: string | null,
  ) {}

  static none(log: Logger): Hooks {
    return new Hooks({}, log, null);
  }

  /**
   * Imports the module fresh (a reload after the file changed must see the new code): ESM is
   * imported under a new URL, and a CommonJS module is dropped from the require cache first.
   */
  static async load(setting: string | null, baseDir: string, log: Logger): Promise<Hooks> {
    if (setting === null) return Hooks.none(log);
    const path = resolve(baseDir, setting);
    delete require.cache[path];
    const url = `${pathToFileURL(path).href}?v=${statSync(path).mtimeMs}`;
    const mod = (await import(url)) as Record<string, unknown> & { default?: Record<string, unknown> };
    const source = { ...(typeof mod.default === 'object' && mod.default !== null ? mod.default : {}), ...mod };
    const functions: Partial<Record<HookName, HookFunction>> = {};
    const unknown: string[] = [];
    for (const [name, value] of Object.entries(source)) {
      if (name === 'default' || typeof value !== 'function') continue;
      if ((MASTER_HOOKS as readonly string[]).includes(name) || (WORKER_HOOKS as readonly string[]).includes(name)) {
        functions[name as HookName] = value as HookFunction;
      } else unknown.push(name);
    }
    if (unknown.length > 0) log.warn({ path, unknown }, 'hooks module exports functions tsicorn does not call');
    return new Hooks(functions, log, path);
  }

  has(name: HookName): boolean {
    return this.functions[name] !== undefined;
  }

  call(name: HookName, ...args: unknown[]): void {
    const fn = this.functions[name];
    if (!fn) return;
    try {
      const out = fn(...args);
      if (out !== null && typeof out === 'object' && typeof (out as Promise<unknown>).then === 'function') {
        (out as Promise<unknown>).then(undefined, (err: unknown) => this.log.error({ hook: name, err }, 'hook failed'));
      }
    } catch (err) {
      this.log.error({ hook: name, err }, 'hook failed');
    }
  }
}
