#!/usr/bin/env node
// Bundles the worker process's modules (dist/src/worker/entry.js and what it imports, as tsc wrote
// them) into dist/worker/, the files the master forks. Part of `npm run build`, after tsc: every
// command that runs tsicorn from a checkout (start, test, bench, prepack) builds both, so the
// bundle is never older than dist/src/.
//
// Why: a worker's boot is on the path of every start, rotation and replacement, and Node 20's ES
// module loader takes ~0.5 ms a file (resolving, reading, linking). 34 files took ~27 ms of a
// worker's boot against ~15 ms for the bundle; HUP → 2 new workers ready went from ~99 to ~87 ms
// (bench/RESULTS.md, 2026-12-05).
//
// What stays as it was:
// - packages (pino, prom-client, @hono/node-server, ...) are imported from node_modules, not copied;
// - what a worker imports lazily (the access log's formatters, metrics, TLS, HTTP/2, the PROXY
//   protocol) stays lazy: `splitting` makes each its own file (access-format-HASH.js, ...), loaded
//   when asked for, and code they share with the rest a chunk-HASH.js;
// - the code is not minified, and each module's code is headed by its path in dist/src/, so a stack
//   trace's line in dist/worker/ reads as the module it came from.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/worker`;

// A chunk left from an earlier build would never be loaded, but would mislead a reader.
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { entry: `${root}dist/src/worker/entry.js` },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  packages: 'external',
  logLevel: 'warning',
});
