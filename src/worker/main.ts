/**
 * A worker process, once its signals are caught (entry.ts, the entry point): wait for the master's
 * boot message, set up logging, drop privileges, load the app and start serving
 * (src/worker/worker.ts). Its counterpart in the master is src/master/worker-handle.ts.
 */

import { Socket } from 'node:net';
import { resolve } from 'node:path';
import type { Settings } from '../config/settings.js';
import { Hooks } from '../hooks/hooks.js';
import { isMasterMessage } from '../ipc/messages.js';
import { sendThenExit, sendToMaster } from '../ipc/worker-channel.js';
import { AccessLog } from '../log/access-log.js';
import { createServerLog } from '../log/logger.js';
import { answerMetrics } from '../metrics/worker-reporting.js';
import { type LoadedApp, loadApp } from './app-loader.js';
import { countBodies } from './counting-response.js';
import { dropPrivileges } from './privileges.js';
import { ListenError } from './servers.js';
import { awaitingBoot, takeSignals } from './signal-queue.js';
import { type Boot, heartbeat, Worker } from './worker.js';

function waitForBoot(): Promise<Boot> {
  const booted = awaitingBoot();
  // With no master (IPC gone before boot, or a standby let go while it loaded), there is nothing
  // to serve for: exit now, not when the event loop runs dry with main() never settled.
  if (!process.connected) process.exit(0);
  return new Promise((resolvePromise) => {
    const onDisconnect = () => process.exit(0);
    const onMessage = (message: unknown) => {
      if (isMasterMessage(message) && message.type === 'boot') {
        process.off('message', onMessage);
        process.off('disconnect', onDisconnect);
        booted();
        resolvePromise(message);
      }
    };
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
  });
}

async function main(): Promise<void> {
  let worker: Worker | null = null;
  // From the start, not once the boot is done: a status asked while the app loads gets this
  // process's memory and CPU, and does not wait 0.5 s for an answer that would never come.
  process.on('message', (message: unknown) => {
    if (!isMasterMessage(message) || message.type !== 'report-request') return;
    if (worker) worker.report(message.id);
    else sendToMaster(heartbeat(null, message.id));
  });
  // Until the boot message comes: a standby (standby_workers) waits here for as long as it is one.
  // Its name (proc_name, or the app) is its one argument.
  process.title = `tsicorn: standby [${process.argv[2] ?? ''}]`;
  const boot = await waitForBoot();
  const startedAt = Date.now();
  const { settings, baseDir } = boot;
  process.title = `tsicorn: worker ${boot.id} [${settings.proc_name ?? settings.app}]`;
  const serverLog = await createServerLog(
    settings.log,
    baseDir,
    { component: 'worker', worker: boot.id, generation: boot.generation },
    boot.logFd,
  );
  const log = serverLog.logger;
  const accessLog = new AccessLog(log, boot.accessFd);
  // The responses count their body bytes (%(B)s) only while there is a log to read them.
  const configureAccessLog = async (logSettings: Settings['log']) => {
    await accessLog.configure(logSettings, baseDir);
    countBodies(accessLog.enabled);
  };
  const reopenLogs = () => {
    serverLog.reopen();
    accessLog.reopen();
    log.info('log files reopened');
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === 'SIGTERM') worker ? worker.stop('graceful', 'SIGTERM') : process.exit(0);
    else if (signal === 'SIGINT' || signal === 'SIGQUIT') worker ? worker.stop('quick', signal) : process.exit(0);
    else if (signal === 'SIGUSR1') reopenLogs();
    // HUP, TTIN, TTOU, WINCH, USR2 belong to the master.
  };
  takeSignals(onSignal);

  process.on('uncaughtException', (err) => {
    log.error({ err }, 'uncaught exception outside a request; replacing this worker');
    worker?.askToRetire('uncaught_exception', err.message);
    if (!worker) process.exit(1);
  });
  process.on('message', (message: unknown, handle: unknown) => {
    if (!isMasterMessage(message)) return;
    if (message.type === 'stop') worker?.stop(message.mode, message.reason, message);
    else if (message.type === 'connection' && handle instanceof Socket) worker?.accept(message.listener, handle);
    else if (message.type === 'reopen-logs') reopenLogs();
    else if (message.type === 'reload-tls') worker?.reloadTls();
    else if (message.type === 'metrics-request') answerMetrics(worker?.metrics ?? null, message.id);
    else if (message.type === 'configure-log') {
      // A log file that cannot be opened keeps the one in use: said, never an unhandled rejection.
      const failed = (err: unknown) => log.error({ err }, 'cannot apply the new log settings');
      void serverLog
        .configure(message.log, baseDir)
        .catch(failed)
        .then(() => configureAccessLog(message.log))
        .catch(failed);
    }
  });
  // The master is gone (even SIGKILLed): finish what is in flight, then exit; never an orphan.
  process.on('disconnect', () => (worker ? worker.stop('graceful', 'master gone') : process.exit(0)));

  try {
    if (settings.umask !== null) process.umask(Number.parseInt(settings.umask, 8));
    process.chdir(resolve(baseDir, settings.chdir));
    // Log files are opened before privileges are dropped, as Gunicorn does.
    await configureAccessLog(settings.log);
    dropPrivileges(settings.user, settings.group);
  } catch (err) {
    const error = err as Error;
    log.error({ err }, 'worker setup failed');
    return sendThenExit({ type: 'boot-failed', message: error.message, stack: error.stack }, 3);
  }
  let app: LoadedApp;
  let hooks: Hooks;
  const hookWorker = { id: boot.id, pid: process.pid, generation: boot.generation, log };
  try {
    hooks = await Hooks.load(settings.hooks, baseDir, log);
  } catch (err) {
    const error = err as Error;
    return sendThenExit({ type: 'boot-failed', message: `the hooks module failed to load: ${error.message}`, stack: error.stack }, 4);
  }
  hooks.call('post_fork', { pid: process.ppid, settings }, hookWorker);
  try {
    app = await loadApp(settings.app, process.cwd(), settings.interface);
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return sendThenExit({ type: 'boot-failed', message: error.message, stack: error.name === 'AppLoadError' ? undefined : error.stack }, 4);
  }
  // Gunicorn's place for it: the app is loaded, nothing is served yet.
  hooks.call('post_worker_init', hookWorker);
  worker = new Worker(boot, serverLog, accessLog, hooks, hookWorker);
  try {
    await worker.start(app, startedAt);
  } catch (err) {
    const error = err as Error;
    const listenError = error instanceof ListenError ? { address: error.address, code: error.code } : undefined;
    return sendThenExit({ type: 'boot-failed', message: error.message, stack: error.stack, ...(listenError ? { listenError } : {}) }, 3);
  }
}

await main();
