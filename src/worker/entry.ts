/**
 * The worker process's entry point, as the master forks it (built into dist/worker/ by
 * scripts/bundle-worker.mjs): the signal handlers first, then the rest of the worker (main.ts).
 *
 * Two steps because of the bundle. A bundle puts every module's imports at its top, so with main.ts
 * as its entry the shared chunks and Node's built-ins would load before signal-queue's handlers
 * exist. Here nothing else is imported until the handlers are installed.
 */
import './signal-queue.js';

await import('./main.js');
