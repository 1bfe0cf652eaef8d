import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Settings } from '../../src/config/settings.js';
import { loadTlsMaterial } from '../../src/worker/tls-context.js';
import { makeCerts } from '../helpers/certs.js';
import { tempDir } from '../helpers/server.js';

const hasOpenssl = !spawnSync('openssl', ['version']).error;

const tls = (certfile: string, keyfile: string): Settings['tls'] => ({
  certfile,
  keyfile,
  ca_certs: null,
  cert_reqs: 'none',
  min_version: 'TLSv1.2',
  ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
});

// What a reload (worker.reloadTls) checks before it swaps: anything this throws for keeps the
// certificate in use. Node itself would take an empty or broken pair and fail every handshake.
test('certificate files that would break every handshake are refused with the reason, a good pair is read', {
  skip: !hasOpenssl && 'needs openssl',
}, (t) => {
  const dir = tempDir(t);
  makeCerts(dir, ['a', 'b']);
  const pem = readFileSync(join(dir, 'a.pem'), 'utf8');
  const key = readFileSync(join(dir, 'a.key'), 'utf8');
  const files: Record<string, string> = {
    'empty.pem': '',
    'empty.key': '',
    'half.pem': pem.slice(0, pem.length / 2),
    'half.key': key.slice(0, key.length / 2),
    // A renewal caught half-written: the leaf whole, the chain after it cut off.
    'chain-cut.pem': pem + pem.slice(0, pem.length / 2),
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);

  assert.equal(loadTlsMaterial(tls('a.pem', 'a.key'), dir)?.subject, 'CN=a');
  const refused: [string, string, RegExp][] = [
    ['empty.pem', 'a.key', /tls\.certfile empty\.pem is empty/],
    ['a.pem', 'empty.key', /tls\.keyfile empty\.key is empty/],
    ['half.pem', 'a.key', /tls\.certfile half\.pem is not a PEM certificate/],
    ['a.pem', 'half.key', /tls\.keyfile is not a PEM private key/],
    ['a.pem', 'b.key', /tls\.keyfile b\.key does not belong to tls\.certfile a\.pem/],
    ['chain-cut.pem', 'a.key', /cannot make a secure context/],
    ['a.pem', 'a.pem', /tls\.keyfile is not a PEM private key/],
    ['missing.pem', 'a.key', /ENOENT/],
  ];
  for (const [cert, keyFile, reason] of refused)
    assert.throws(() => loadTlsMaterial(tls(cert, keyFile), dir), reason, `${cert} + ${keyFile}`);
});
