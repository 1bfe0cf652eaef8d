import { dump } from 'js-yaml';
import type { Override } from '../../config/layers.js';
import { loadConfig } from '../../config/load.js';
import { printIssues, printWarnings } from '../report.js';

/** `tsicorn print-config`: the fully resolved settings (defaults, file, env and flags merged). */
export function printConfig(opts: { file: string | null; json: boolean; flags: Override[] }): number {
  const outcome = loadConfig({ file: opts.file, flags: opts.flags });
  if (!outcome.ok) {
    printIssues(outcome, opts.file);
    return 1;
  }
  printWarnings(outcome.config.warnings);
  const { settings } = outcome.config;
  process.stdout.write(opts.json ? `${JSON.stringify(settings, null, 2)}\n` : dump(settings, { lineWidth: -1 }));
  return 0;
}
