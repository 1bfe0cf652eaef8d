import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Settings } from '../../src/config/settings.js';
import { AccessLog } from '../../src/log/access-log.js';
import type { Logger } from '../../src/log/logger.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

function logSettings(accesslog: string | null): Settings['log'] {
  return {
    level: 'info',
    format: 'json',
    errorlog: '-',
    accesslog,
    access_format: 'combined',
    capture_output: false,
    request_id_header: 'X-Request-Id',
  };
}

test('of two live reloads in a row, the later stands, though the earlier waited for the formatters to load', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsicorn-access-log-'));
  const log = new AccessLog(quiet);
  t.after(() => {
    log.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // The first turns the log on and waits for its formatters' import; the second, off, needs none.
  const on = log.configure(logSettings('access.log'), dir);
  const off = log.configure(logSettings(null), dir);
  await Promise.all([on, off]);
  assert.equal(log.enabled, false, 'the earlier call, finishing last, turned the log back on');
  assert.ok(!existsSync(join(dir, 'access.log')), 'the earlier call opened the file');

  await log.configure(logSettings('access.log'), dir);
  assert.equal(log.enabled, true);
  assert.ok(existsSync(join(dir, 'access.log')));
});
