import { existsSync } from 'node:fs';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { Server as NetServer } from 'node:net';
import { isAbsolute, join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { type AppSpec, parseAppSpec } from './app-spec.js';

/** What the `interface` setting may force; `auto` detects. */
export type InterfaceSetting = 'auto' | 'node' | 'fetch';

export type FetchHandler = (request: Request, ...rest: unknown[]) => Response | Promise<Response>;

/** What an app gives for `Upgrade` requests (WebSockets): the shape of ws's handleUpgrade. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;

/**
 * The app, classified: the worker builds its server from this. Detection order follows DESIGN.md
 * section 1 (fetch handler, Koa-style, Node listener, then an app-owned http.Server).
 */
type ClassifiedApp =
  | { kind: 'fetch'; fetch: FetchHandler; describe: string }
  | { kind: 'koa'; listener: RequestListener; describe: string }
  | { kind: 'node'; listener: RequestListener; describe: string }
  | { kind: 'server'; server: NetServer; describe: string };

/** The classified app, with its handler for `Upgrade` requests when it has one. */
export type LoadedApp = ClassifiedApp & { upgrade?: UpgradeHandler };

export class AppLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AppLoadError';
  }
}

/** A path-looking module is a file under `dir`; anything else is a package resolved from `dir`. */
function resolveModule(module: string, dir: string): string {
  const asPath = isAbsolute(module) ? module : resolve(dir, module);
  if (existsSync(asPath)) return asPath;
  if (module.startsWith('.') || module.startsWith('/')) throw new AppLoadError(`cannot find the app module ${asPath}`);
  try {
    return createRequire(join(dir, 'noop.js')).resolve(module);
  } catch {
    throw new AppLoadError(`cannot find the app module ${module} (not a file under ${dir}, nor a package)`);
  }
}

function pickExport(mod: Record<string, unknown>, spec: AppSpec, file: string): unknown {
  if (spec.exportName in mod) return mod[spec.exportName];
  // CommonJS modules whose exports Node's static analysis missed only show up on `default`.
  const cjs = mod.default;
  if (spec.exportName !== 'default' && cjs !== null && typeof cjs === 'object' && spec.exportName in cjs) {
    return (cjs as Record<string, unknown>)[spec.exportName];
  }
  const names = Object.keys(mod).filter((name) => name !== '__esModule');
  const seen = names.length > 0 ? `; it exports ${names.join(', ')}` : '; it exports nothing';
  throw new AppLoadError(`${file} has no export named ${spec.exportName}${seen}`);
}

function hasMethod(value: unknown, name: string): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as Record<string, unknown>)[name] === 'function'
  );
}

/** Classifies an export; `null` when it is none of the interfaces tsicorn serves. */
export function classifyApp(value: unknown, forced: InterfaceSetting): LoadedApp | null {
  if (forced === 'fetch') {
    if (hasMethod(value, 'fetch')) {
      const app = value as { fetch: FetchHandler };
      return { kind: 'fetch', fetch: app.fetch.bind(app), describe: 'a fetch handler (object with fetch())' };
    }
    if (typeof value === 'function') return { kind: 'fetch', fetch: value as FetchHandler, describe: 'a fetch handler (function)' };
    return null;
  }
  if (forced === 'node') {
    return typeof value === 'function' ? { kind: 'node', listener: value as RequestListener, describe: 'a Node request listener' } : null;
  }
  if (value instanceof NetServer) return { kind: 'server', server: value, describe: 'an http.Server created by the app' };
  if (hasMethod(value, 'fetch')) {
    const app = value as { fetch: FetchHandler };
    return { kind: 'fetch', fetch: app.fetch.bind(app), describe: 'a fetch handler (object with fetch())' };
  }
  if (hasMethod(value, 'callback')) {
    const listener = (value as { callback: () => unknown }).callback();
    if (typeof listener === 'function')
      return { kind: 'koa', listener: listener as RequestListener, describe: 'a Koa-style app (callback())' };
  }
  if (typeof value === 'function') {
    // Express and Connect apps are listeners that also carry `handle`/`use`; say so in the log.
    const named = hasMethod(value, 'handle') && hasMethod(value, 'use') ? ' (Express/Connect-style)' : '';
    return {
      kind: 'node',
      listener: value as (req: IncomingMessage, res: ServerResponse) => void,
      describe: `a Node request listener${named}`,
    };
  }
  return null;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object with keys ${Object.keys(value).slice(0, 8).join(', ') || '(none)'}`;
  return `a ${typeof value}`;
}

/**
 * Imports the app as `app` names it, relative to `dir`, and classifies it. ESM and CommonJS both
 * load through `import()`. Errors thrown by the app's own code propagate unchanged (their stack is
 * what the user needs); problems with the spec itself are AppLoadErrors.
 */
/**
 * The app's `upgrade(req, socket, head)`: a function property of the app value (what a factory
 * returned, e.g. `{ fetch, upgrade }`) first, then the module's `upgrade` export (on `default`
 * for CommonJS that static analysis missed). An app-owned http.Server keeps its own 'upgrade'
 * listeners instead (the worker copies them).
 */
function pickUpgrade(mod: Record<string, unknown>, value: unknown): UpgradeHandler | undefined {
  if (hasMethod(value, 'upgrade') && !(value instanceof NetServer)) {
    const owner = value as { upgrade: UpgradeHandler };
    return owner.upgrade.bind(owner);
  }
  if (typeof mod.upgrade === 'function') return mod.upgrade as UpgradeHandler;
  const cjs = mod.default;
  if (cjs !== value && hasMethod(cjs, 'upgrade')) return (cjs as { upgrade: UpgradeHandler }).upgrade;
  return undefined;
}

export async function loadApp(app: string, dir: string, forced: InterfaceSetting): Promise<LoadedApp> {
  const spec = parseAppSpec(app);
  const file = resolveModule(spec.module, dir);
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  let value = pickExport(mod, spec, file);
  if (spec.factory) {
    if (typeof value !== 'function') throw new AppLoadError(`${app}: ${spec.exportName} is ${typeOf(value)}, not a factory function`);
    value = await (value as () => unknown)();
  }
  const loaded = classifyApp(value, forced);
  if (loaded) {
    const upgrade = pickUpgrade(mod, value);
    return upgrade ? { ...loaded, upgrade } : loaded;
  }
  const wanted =
    forced === 'auto'
      ? 'a fetch handler (object with fetch()), a Koa-style app (callback()), a Node request listener (function) or an http.Server'
      : forced === 'fetch'
        ? 'a fetch handler (object with fetch(), or a function with interface: fetch)'
        : 'a Node request listener (function)';
  const hint = spec.factory ? '' : typeof value === 'function' ? '' : ' (if it is a factory, write app: module:name())';
  throw new AppLoadError(`${app}: the export ${spec.exportName} is ${typeOf(value)}; expected ${wanted}${hint}`);
}
