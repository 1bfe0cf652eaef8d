import { extname, resolve } from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';

export type WatchKind = 'config' | 'code' | 'tls' | 'hooks';

const CONFIG_DEBOUNCE_MS = 150;
const CODE_DEBOUNCE_MS = 300;

/**
 * Watches what should trigger a reload: the config file (`reload.config`), and with
 * `reload.code` the app's directory and `reload.extra_files`. Editors save in odd ways (rename
 * over, truncate then write, several events per save), so events are debounced and a file that
 * is deleted and re-created is picked up again. It only reports; the master decides.
 */
export class ReloadWatcher {
  private readonly watchers: FSWatcher[] = [];
  /** Each watcher's first scan done ('ready'), for the line that says what is watched. */
  private readonly scanned: Promise<void>[] = [];
  private readonly timers = new Map<WatchKind, NodeJS.Timeout>();
  private readonly started: Promise<void>;
  private closed = false;

  /**
   * Starts watching once chokidar and picomatch are loaded. They take ~25 ms to load, so the
   * master creates its watcher after forking the first workers: they load while the workers boot.
   */
  constructor(
    config: LoadedConfig,
    private readonly log: Logger,
    private readonly onChange: (kind: WatchKind, path: string) => void,
  ) {
    this.started = this.start(config).catch((err: Error) =>
      this.log.error({ error: err.message }, 'cannot watch files for changes; reload with SIGHUP'),
    );
  }

  private async start(config: LoadedConfig): Promise<void> {
    const [{ watch }, { default: picomatch }] = await Promise.all([import('chokidar'), import('picomatch')]);
    if (this.closed) return;
    const { settings, baseDir, file } = config;
    if (settings.reload.config && file) {
      const watcher = watch(file, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 60, pollInterval: 20 } });
      watcher.on('all', (event, path) => {
        if (event === 'unlink') this.log.warn({ path }, 'config file removed; serving on with the running config');
        else this.debounce('config', path, CONFIG_DEBOUNCE_MS);
      });
      this.own(watcher);
    }
    // Certificates replaced on disk (certbot, cert-manager) are swapped in without a restart.
    const tlsFiles = [settings.tls.certfile, settings.tls.keyfile, settings.tls.ca_certs].filter((f): f is string => typeof f === 'string');
    if (tlsFiles.length > 0) {
      const tlsWatcher = watch(
        tlsFiles.map((f) => resolve(baseDir, f)),
        { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 25 } },
      );
      tlsWatcher.on('all', (event, path) => {
        if (event !== 'unlink') this.debounce('tls', path, CONFIG_DEBOUNCE_MS);
      });
      this.own(tlsWatcher);
    }
    // The hooks module is part of the config: a change is picked up the way a code change is.
    if (settings.reload.config && settings.hooks !== null) {
      const hooksWatcher = watch(resolve(baseDir, settings.hooks), {
        ignoreInitial: true,
        awaitWriteFinish: { stabilityThreshold: 60, pollInterval: 20 },
      });
      hooksWatcher.on('all', (event, path) => {
        if (event !== 'unlink') this.debounce('hooks', path, CONFIG_DEBOUNCE_MS);
      });
      this.own(hooksWatcher);
    }
    let appDir: string | null = null;
    if (settings.reload.code) {
      appDir = resolve(baseDir, settings.chdir);
      const ignored = picomatch(
        ['**/node_modules/**', '**/.git/**', ...settings.reload.ignore.map((p) => `**/${p}`), ...settings.reload.ignore],
        {
          dot: true,
        },
      );
      // Only source files count: the config file has its own watcher (a live change must not
      // rotate), and what the server or the app writes there (logs, a pidfile, uploads) would
      // otherwise rotate the workers over and over.
      const extensions = new Set(settings.reload.extensions);
      const hooksFile = settings.hooks === null ? null : resolve(baseDir, settings.hooks);
      const own = new Set([file, hooksFile, ...serverWrites(config)].filter((f): f is string => f !== null));
      const isSource = (path: string) => extensions.has(extname(path)) && !own.has(path);
      const code = watch(appDir, {
        ignoreInitial: true,
        ignored: (path, stats) =>
          ignored(path) || /[/\\](node_modules|\.git)([/\\]|$)/.test(path) || (stats?.isFile() === true && !isSource(path)),
      });
      code.on('all', (_event, path) => {
        if (isSource(path)) this.debounce('code', path, CODE_DEBOUNCE_MS);
      });
      this.own(code);
      for (const glob of settings.reload.extra_files) {
        const absolute = resolve(baseDir, glob);
        const { base } = picomatch.scan(absolute);
        const matches = picomatch(absolute, { dot: true });
        const extra = watch(base, { ignoreInitial: true });
        extra.on('all', (_event, path) => {
          if (matches(path)) this.debounce('code', path, CODE_DEBOUNCE_MS);
        });
        this.own(extra);
      }
    }
    // Not awaited: close() waits for start(), and must not wait for a long scan to end.
    void this.announce(config, appDir);
  }

  /**
   * Keeps a watcher for close(), and hears its errors: chokidar emits 'error' for a path it cannot
   * watch (EACCES on a directory under the app, ENOSPC when inotify's watches run out), which
   * with no listener would throw and take the master down. The watcher goes on with the rest.
   */
  private own(watcher: FSWatcher): void {
    watcher.on('error', (err) => {
      const { code, message } = err as NodeJS.ErrnoException;
      this.log.warn({ code, error: message }, 'cannot watch a path; its changes are not seen (reload with SIGHUP)');
    });
    this.scanned.push(new Promise<void>((ready) => watcher.once('ready', () => ready())));
    this.watchers.push(watcher);
  }

  /**
   * Says what is watched once every watcher has scanned its files: a change saved before this line
   * may go unseen (chokidar reports nothing for a directory it has not scanned yet), which a
   * script or test that starts the server and then edits a file must wait for.
   */
  private async announce({ settings, file }: LoadedConfig, appDir: string | null): Promise<void> {
    if (this.scanned.length === 0) return;
    await Promise.all(this.scanned);
    if (this.closed) return;
    this.log.info(
      {
        config: settings.reload.config ? file : null,
        code: appDir,
        extraFiles: settings.reload.code ? settings.reload.extra_files : [],
        tls: settings.tls.certfile !== null,
        hooks: settings.reload.config ? settings.hooks : null,
      },
      'watching for changes',
    );
  }

  private debounce(kind: WatchKind, path: string, ms: number): void {
    clearTimeout(this.timers.get(kind));
    this.timers.set(
      kind,
      setTimeout(() => {
        this.timers.delete(kind);
        this.onChange(kind, path);
      }, ms),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.started;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.all(this.watchers.splice(0).map((w) => w.close()));
  }
}

/** Files the server itself writes (log files, the pidfile), as absolute paths. */
function serverWrites({ settings, baseDir }: LoadedConfig): string[] {
  const paths = [settings.log.errorlog, settings.log.accesslog, settings.pidfile];
  return paths.filter((p): p is string => typeof p === 'string' && p !== '-').map((p) => resolve(baseDir, p));
}
