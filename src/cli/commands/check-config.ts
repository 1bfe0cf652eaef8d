import { resolve } from 'node:path';
import type { Override } from '../../config/layers.js';
import { loadConfig } from '../../config/load.js';
import { TsicornError } from '../../errors.js';
import { issueToJson, printIssues, printWarnings } from '../report.js';

export interface CheckConfigOptions {
  file: string;
  json: boolean;
  app: boolean;
  flags: Override[];
}

/**
 * `tsicorn check-config`: the real loading path without the start (and, with --app, an import of
 * the app in a throw-away child). Exit 0 valid, 1 invalid, 2 unreadable: Ansible's `validate:` and
 * CI gates rely on these.
 */
export async function checkConfig(opts: CheckConfigOptions): Promise<number> {
  let outcome: ReturnType<typeof loadConfig>;
  try {
    outcome = loadConfig({ file: opts.file, flags: opts.flags });
  } catch (err) {
    if (opts.json && err instanceof TsicornError) {
      process.stdout.write(`${JSON.stringify({ ok: false, file: opts.file, error: { code: err.code, message: err.message } }, null, 2)}\n`);
      return err.exitCode;
    }
    throw err;
  }
  if (!outcome.ok) {
    if (opts.json) {
      const body = { ok: false, file: opts.file, errors: outcome.issues.map(issueToJson), warnings: outcome.warnings.map(issueToJson) };
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    } else {
      printIssues(outcome, opts.file);
    }
    return 1;
  }
  const { settings, baseDir, warnings } = outcome.config;
  let app: { interface: string; describe: string } | null = null;
  if (opts.app) {
    const { probeApp } = await import('../app-probe.js');
    const probe = await probeApp({
      app: settings.app,
      dir: resolve(baseDir, settings.chdir),
      iface: settings.interface,
      env: settings.env,
      timeoutSeconds: settings.boot_timeout,
    });
    if (!probe.ok) {
      if (opts.json) {
        const body = { ok: false, file: opts.file, errors: [{ code: 'TSI_ERR_APP_PROBE', app: settings.app, ...probe }] };
        process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      } else {
        process.stderr.write(`${opts.file}: app ${settings.app} does not load: ${probe.message}\n`);
        if (probe.stack) process.stderr.write(`${probe.stack}\n`);
      }
      return 1;
    }
    app = { interface: probe.interface, describe: probe.describe };
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ok: true, file: opts.file, app, warnings: warnings.map(issueToJson) }, null, 2)}\n`);
    return 0;
  }
  printWarnings(warnings);
  const binds = settings.bind.join(', ');
  const appNote = app ? `; app loads as ${app.describe}` : '';
  process.stdout.write(`OK: ${opts.file} is valid (app ${settings.app}, workers ${settings.workers}, bind ${binds})${appNote}\n`);
  return 0;
}
