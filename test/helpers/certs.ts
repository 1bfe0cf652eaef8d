import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore', timeout: 30_000 });
}

/**
 * A CA, and `name.pem`/`name.key` signed by it for each name (CN = the name, SAN 127.0.0.1 +
 * localhost). P-256 keys, or RSA 2048 (a cipher scan needs RSA: with an EC key no RSA suite can
 * be offered, whatever the cipher list says).
 */
export function makeCerts(
  dir: string,
  names: string[],
  keyType: 'ec' | 'rsa' = 'ec',
): { ca: string; cert: (n: string) => string; key: (n: string) => string } {
  const newKey = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(dir, ['req', '-x509', ...newKey, '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=tsicorn test CA']);
  for (const name of names) {
    openssl(dir, ['req', ...newKey, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    const ext = join(dir, `${name}.ext`);
    execFileSync('bash', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ${JSON.stringify(ext)}`]);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      ext,
    ]);
  }
  return { ca: join(dir, 'ca.pem'), cert: (n) => join(dir, `${n}.pem`), key: (n) => join(dir, `${n}.key`) };
}
