import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Settings } from '../config/settings.js';

export interface TlsMaterial {
  options: SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean };
  subject: string;
  validTo: string;
}

/**
 * Reads and checks `tls.*` files. Node accepts an empty certificate and key and then fails every
 * handshake, so before anything is served (or swapped in at a reload) the files must parse, the
 * key must match the certificate, and a secure context must build. Throws with the reason.
 */
export function loadTlsMaterial(tls: Settings['tls'], baseDir: string): TlsMaterial | null {
  if (!tls.certfile || !tls.keyfile) return null;
  const read = (what: string, path: string) => {
    const data = readFileSync(resolve(baseDir, path));
    if (data.length === 0) throw new Error(`${what} ${path} is empty`);
    return data;
  };
  const cert = read('tls.certfile', tls.certfile);
  const key = read('tls.keyfile', tls.keyfile);
  const ca = tls.ca_certs ? read('tls.ca_certs', tls.ca_certs) : undefined;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`tls.certfile ${tls.certfile} is not a PEM certificate (${(err as Error).message})`);
  }
  const options = {
    cert,
    key,
    ...(ca ? { ca } : {}),
    minVersion: tls.min_version,
    ciphers: tls.ciphers,
    requestCert: tls.cert_reqs !== 'none',
    rejectUnauthorized: tls.cert_reqs === 'required',
  };
  if (!x509.checkPrivateKey(createPrivateKeyQuietly(key)))
    throw new Error(`tls.keyfile ${tls.keyfile} does not belong to tls.certfile ${tls.certfile}`);
  try {
    createSecureContext(options);
  } catch (err) {
    throw new Error(`tls.* cannot make a secure context: ${(err as Error).message}`);
  }
  return { options, subject: x509.subject.replace(/\n/g, ', '), validTo: x509.validTo };
}
function createPrivateKeyQuietly(key: Buffer): KeyObject {
  try {
    return createPrivateKey(key);
  } catch (err) {
    throw new Error(`tls.keyfile is not a PEM private key (${(err as Error).message})`);
  }
}
