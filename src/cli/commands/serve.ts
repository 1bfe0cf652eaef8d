import { closeSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Override } from '../../config/layers.js';
import { loadConfig } from '../../config/load.js';
import type { Settings } from '../../config/settings.js';
import { controlSocketPath } from '../../control/socket-path.js';
import { TsicornError } from '../../errors.js';
import { Hooks } from '../../hooks/hooks.js';
import { createServerLog, type Logger } from '../../log/logger.js';
import { ControlServer } from '../../master/control-server.js';
import { bindListeners, type Listener } from '../../master/listeners.js';
import { Master } from '../../master/master.js';
import { removePidfile, writePidfile } from '../../master/pidfile.js';
import type { SignalInbox } from '../../master/signals.js';
import { systemdListenFds } from '../../master/socket-activation.js';
import { chownUnixSockets } from '../../master/socket-owner.js';
import { SystemdNotifier } from '../../master/systemd-notify.js';
import { notifyPredecessor, takeInheritedFds } from '../../master/upgrade.js';
import { ReloadWatcher, type WatchKind } from '../../master/watcher.js';
import { MasterMetrics } from '../../metrics/master-metrics.js';
import type { MetricsServer } from '../../metrics/metrics-server.js';

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}

import { printIssues, printWarnings } from '../report.js';

export interface ServeOptions {
  /** -c FILE; else ./server.yaml when it exists; else flags alone (an app must be given). */
  config: string | undefined;
  app: string | undefined;
  flags: Override[];
  signals: SignalInbox;
}

/**
 * `tsicorn [app] [-c FILE] [flags]`: load and validate the config exactly as check-config does,
 * bind every listener, write the pidfile, and run the master until it stops. Returns the exit code.
 */
export async function serve(opts: ServeOptions): Promise<number> {
  const file = opts.config ?? (existsSync('server.yaml') ? 'server.yaml' : null);
  if (file === null && opts.app === undefined) {
    throw new TsicornError(
      'TSI_ERR_USAGE',
      'no ./server.yaml here and no app given: run `tsicorn -c FILE`, `tsicorn app.js`, or `tsicorn init`',
    );
  }
  const flags =
    opts.app === undefined
      ? opts.flags
      : [{ pointer: '/app', text: opts.app, origin: { kind: 'cli', flag: 'APP' } } as Override, ...opts.flags];
  const outcome = loadConfig({ file, flags });
  if (!outcome.ok) {
    printIssues(outcome, file);
    return 1;
  }
  printWarnings(outcome.config.warnings);
  const { settings, baseDir } = outcome.config;
  const serverLog = await createServerLog(settings.log, baseDir, { component: 'master' });
  const log = serverLog.logger;
  process.title = `tsicorn: master [${settings.proc_name ?? settings.app}]`;
  if (settings.umask !== null) process.umask(Number.parseInt(settings.umask, 8));

  let hooks: Hooks;
  try {
    hooks = await Hooks.load(settings.hooks, baseDir, log);
  } catch (err) {
    throw new TsicornError('TSI_ERR_HOOKS', `the hooks module ${settings.hooks} failed to load: ${(err as Error).message}`);
  }
  hooks.call('on_starting', { pid: process.pid, app: settings.app, workers: settings.workers, generation: 0, settings, log });

  const activated = systemdListenFds();
  const handover = takeInheritedFds();
  let listeners: Listener[];
  // A successor (USR2) of a socket-activated master gets systemd's sockets from it, as fd:// entries.
  const handed = [...handover.fds.keys()];
  const activatedBefore =
    handed.length > 0 && handed.every((a) => a.startsWith('fd://')) && !settings.bind.some((b) => handover.fds.has(b));
  if (activated.length > 0 && !settings.bind.some((b) => b.startsWith('fd://'))) {
    // Gunicorn's rule: under socket activation the sockets systemd passed are the listeners.
    log.info({ fds: activated }, 'using the sockets passed by systemd; bind is ignored');
    listeners = await bindListeners(activated.map((fd) => `fd://${fd}`));
  } else if (activatedBefore) {
    log.info({ listeners: handed }, "using systemd's sockets from the previous master; bind is ignored");
    listeners = await bindListeners(handed, handover.fds);
  } else {
    listeners = await bindListeners(settings.bind, handover.fds);
    // Sockets the previous master had for addresses no longer in `bind`.
    for (const { fd } of handover.fds.values()) if (!listeners.some((l) => l.fd === fd)) closeQuietly(fd);
  }
  try {
    chownUnixSockets(listeners, settings);
  } catch (err) {
    for (const listener of listeners) listener.close();
    throw err;
  }
  const pidfileOf = (config: typeof outcome.config) =>
    config.settings.pidfile === null ? null : resolve(config.baseDir, config.settings.pidfile);
  let pidfile = pidfileOf(outcome.config);
  let watcher: ReloadWatcher | null = null;
  let master: Master | null = null;
  let control: ControlServer | null = null;
  const metrics = new MasterMetrics(log);
  let metricsServer: MetricsServer | null = null;
  try {
    metricsServer = await startMetricsServer(settings.metrics, metrics, log, handover.predecessor !== null);
    await metrics.configureStatsd(settings.statsd);
    if (pidfile) writePidfile(pidfile, handover.predecessor);
    const running = new Master({
      config: outcome.config,
      listeners,
      serverLog,
      reloadConfig: () => loadConfig({ file, flags }),
      bindFixed: activated.length > 0 || activatedBefore,
      notifier: SystemdNotifier.fromEnv(log),
      hooks,
      metrics,
      onReady: () => {
        if (handover.predecessor !== null) notifyPredecessor();
      },
      // The failed successor removed the pidfile and the control socket on its way out (it had
      // taken both over): this master, serving on, puts them back.
      onUpgradeFailed: () => {
        if (pidfile) writePidfile(pidfile);
        const path = controlSocketPath(running.config);
        if (!path) return;
        control?.close(true);
        ControlServer.open(path, false, log, (request, reply) => running.control(request, reply)).then(
          (reopened) => {
            control = reopened;
            if (reopened) log.info({ path }, 'control socket ready');
          },
          (err: Error) => log.error({ error: err.message }, 'cannot reopen the control socket'),
        );
      },
      onConfigApplied: (config) => {
        pidfile = movePidfile(pidfile, pidfileOf(config), log);
        // The new generation imported the hooks module already; the master follows it.
        if (config.settings.hooks !== null || running.hooks.path !== null) {
          Hooks.load(config.settings.hooks, config.baseDir, log).then(
            (fresh) => {
              running.hooks = fresh;
              log.info({ path: fresh.path }, 'hooks loaded');
            },
            (err: Error) => log.error({ error: err.message }, 'cannot load the new hooks module; keeping the old hooks'),
          );
        }
        void metrics.configureStatsd(config.settings.statsd);
        const same = (c: typeof config) => JSON.stringify([c.settings.reload, c.settings.tls, c.settings.hooks]);
        if (same(config) === same(watched)) return;
        watched = config;
        void watcher?.close();
        watcher = new ReloadWatcher(config, log, onFileChange);
      },
    });
    master = running;
    const onFileChange = (kind: WatchKind, path: string) => {
      if (kind === 'tls') running.reloadTls(path);
      else running.requestReload({ source: kind === 'config' ? 'watch' : 'code', path });
    };
    let watched = outcome.config;
    const controlPath = controlSocketPath(outcome.config);
    if (controlPath) {
      // A successor (USR2) takes the socket over from the master it replaces.
      control = await ControlServer.open(controlPath, handover.predecessor !== null, log, (request, reply) =>
        running.control(request, reply),
      );
    }
    const stopped = running.run(opts.signals);
    // After the forks, as 'starting' is (the first line loads pino while the workers boot).
    if (control) log.info({ path: control.path }, 'control socket ready');
    // After run() forked the first workers: the watcher's modules load while they boot.
    watcher = new ReloadWatcher(outcome.config, log, onFileChange);
    const failure = await stopped;
    if (failure) throw failure;
    return 0;
  } finally {
    await watcher?.close();
    await metricsServer?.close();
    await metrics.close();
    control?.close(!master?.handedOver);
    // The master closes (or, after USR2, releases) its listeners when it halts.
    if (!master) for (const listener of listeners) listener.close();
    if (pidfile) removePidfile(pidfile);
    opts.signals.dispose();
  }
}

/** A reload changed `pidfile`: write the new one, then remove the old (as Gunicorn does on HUP). */
function movePidfile(from: string | null, to: string | null, log: Logger): string | null {
  if (from === to) return from;
  try {
    if (to) writePidfile(to);
  } catch (err) {
    log.error({ pidfile: to, error: (err as Error).message }, 'cannot write the new pidfile; keeping the old one');
    return from;
  }
  if (from) removePidfile(from);
  log.info({ from, to }, 'pidfile moved');
  return to;
}

/**
 * The master's metrics listener when `metrics.bind` is set. prom-client is imported only then: it
 * takes tens of milliseconds to load, which a server without metrics should not pay.
 */
async function startMetricsServer(
  settings: Settings['metrics'],
  metrics: MasterMetrics,
  log: Logger,
  successor: boolean,
): Promise<MetricsServer | null> {
  const { bind } = settings;
  if (bind === null) return null;
  const { MetricsServer } = await import('../../metrics/metrics-server.js');
  return MetricsServer.start({ settings: { ...settings, bind }, metrics, log, successor });
}
