import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * `mkdir -p` that cannot spin. Node's recursive mkdir (sync and async; seen on Node 20) retries
 * forever when a parent exists but mkdir of its child still fails with ENOENT, as under /proc: a
 * log path there hung the master at start, deaf to signals. This creates each missing level from
 * the top and throws the first error as it comes (ENOENT below a dangling symlink too).
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  for (let level = resolve(dir); !existsSync(level); level = dirname(level)) {
    missing.push(level);
    if (dirname(level) === level) break;
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level);
    } catch (err) {
      // Made meanwhile, or a dangling symlink: the next level's mkdir says what is wrong.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
