/**
 * Keeps a half-written coverage file out of the test runner's coverage report.
 *
 * `node --test --experimental-test-coverage` points NODE_V8_COVERAGE at one directory, every
 * process the tests start (masters, workers, CLI runs) inherits it and writes a JSON file there
 * as it exits, and the runner parses them all at the end. A process killed while it writes —
 * a worker the master SIGKILLs after graceful_timeout, or a test's cleanup killing a process
 * group — leaves a truncated file, and one such file makes the runner give up the whole report
 * and exit 1 with every test passed (seen in CI: "Could not report code coverage ... at
 * position 262144").
 *
 * So the processes this test file starts write into a directory of their own, and when the
 * test file's process exits (its cleanup hooks have killed what it started) the files that
 * parse move into the runner's directory; a truncated one is dropped with a line on stderr.
 * The test file's own coverage still goes to the runner's directory: Node fixed that path
 * when this process started.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runnerDir = process.env.NODE_V8_COVERAGE;
if (runnerDir !== undefined && runnerDir !== '') {
  // Outside the runner's directory: the runner reads every entry there as a file.
  const ownDir = mkdtempSync(join(tmpdir(), 'tsicorn-coverage-'));
  process.env.NODE_V8_COVERAGE = ownDir;
  process.on('exit', () => keepComplete(ownDir, runnerDir));
}

function keepComplete(from: string, to: string): void {
  for (const name of readdirSync(from)) {
    const file = join(from, name);
    try {
      JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      process.stderr.write(`coverage: dropped ${name}, a process was killed while writing it (${(err as Error).message})\n`);
      continue;
    }
    try {
      renameSync(file, join(to, name));
    } catch {
      copyFileSync(file, join(to, name)); // another file system (EXDEV)
    }
  }
  rmSync(from, { recursive: true, force: true });
}
