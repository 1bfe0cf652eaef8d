import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/** Is a system tool on PATH? (Tests that need it skip with the reason when it is not.) */
export function hasCommand(name: string, versionArg = '--version'): boolean {
  return !spawnSync(name, [versionArg], { stdio: 'ignore', timeout: 10_000 }).error;
}

/** A loopback port free right now (for tools such as HAProxy that cannot report a port-0 bind). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolvePromise(port));
    });
  });
}
