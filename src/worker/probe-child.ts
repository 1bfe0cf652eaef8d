/**
 * The throw-away process `check-config --app` runs: import the app the way a worker would, report
 * what it is over IPC, and exit — even if the app left timers or sockets open.
 * argv: APP DIR INTERFACE
 */
import { type InterfaceSetting, loadApp } from './app-loader.js';

export interface ProbeReport {
  ok: boolean;
  interface?: string;
  describe?: string;
  message?: string;
  stack?: string;
}

function send(report: ProbeReport): void {
  if (!process.send) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exit(report.ok ? 0 : 1);
  }
  process.send(report, () => process.exit(report.ok ? 0 : 1));
}

const [app = '', dir = '.', iface = 'auto'] = process.argv.slice(2);
try {
  process.chdir(dir);
  const loaded = await loadApp(app, process.cwd(), iface as InterfaceSetting);
  send({ ok: true, interface: loaded.kind, describe: loaded.describe });
} catch (err) {
  const error = err instanceof Error ? err : new Error(String(err));
  send({ ok: false, message: error.message, stack: error.name === 'AppLoadError' ? undefined : error.stack });
}
