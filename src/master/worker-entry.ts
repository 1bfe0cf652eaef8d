import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/, two levels above this module's dist/src/master/. */
const DIST = fileURLToPath(new URL('../../', import.meta.url));
/**
 * How much older than tsc's output the bundle may be and still count as built from it: a copy of
 * dist/ that does not keep the dates (`cp -r`) writes its files in any order, within moments.
 */
const COPY_SLACK_MS = 2000;
/** The dist/ folders already warned about: once a process. */
const warned = new Set<string>();

/**
 * The file the master forks for a worker: the bundle (dist/worker/entry.js, which
 * scripts/bundle-worker.mjs makes in `npm run build`), one file that loads ~12 ms faster than the
 * 34 modules tsc writes. When the bundle is missing or older than tsc's output, as after a `tsc`
 * run alone in a checkout, the modules themselves, with a warning: a worker never runs stale code.
 * Looked at for every fork (two stats): a build while the server runs is what the next HUP loads.
 */
export function workerEntry(dist = DIST): string {
  const modules = join(dist, 'src/worker/entry.js');
  const bundle = join(dist, 'worker/entry.js');
  const built = statSync(bundle, { throwIfNoEntry: false });
  if (built && built.mtimeMs + COPY_SLACK_MS >= statSync(modules).mtimeMs) return bundle;
  if (!warned.has(dist)) {
    warned.add(dist);
    const why = built ? 'is older than dist/src/' : 'is missing';
    process.emitWarning(`${bundle} ${why}: workers load dist/src/ instead (npm run build makes both)`, { code: 'TSICORN_WORKER_BUNDLE' });
  }
  return modules;
}
