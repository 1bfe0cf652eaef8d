import { AccessFormatError, compileAccessFormat } from '../log/access-format.js';
import { parseBindAddress } from './bind-address.js';
import type { ConfigIssue, Origin } from './issue.js';
import type { Settings } from './settings.js';
import { sizeInBytes } from './size.js';

/**
 * The least max_memory that can work: a bare `node` is ~40 MiB resident, so below this every
 * worker would be over the limit as it starts and be replaced, and its replacement too, for good
 * (PM2's restart loop). Mostly a bare number meant as megabytes: `max_memory: 300` is 300 bytes.
 */
const MAX_MEMORY_FLOOR = 16 * 1024 * 1024;

/** Checks between settings that are each valid alone; run after schema validation passed. */
export function findConflicts(s: Settings, originOf: (pointer: string) => Origin): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const error = (pointer: string, setting: string, message: string, hint?: string) =>
    issues.push({ code: 'TSI_ERR_CONFIG_CONFLICT', severity: 'error', origin: originOf(pointer), setting, message, hint });
  const warn = (pointer: string, setting: string, message: string, hint?: string) =>
    issues.push({ code: 'TSI_WARN_CONFIG_UNUSED', severity: 'warning', origin: originOf(pointer), setting, message, hint });

  const { certfile, keyfile, ca_certs, cert_reqs } = s.tls;
  if (certfile && !keyfile)
    error('/tls/certfile', 'tls.certfile', 'is set but tls.keyfile is not', 'TLS needs both the certificate and its private key');
  if (keyfile && !certfile)
    error('/tls/keyfile', 'tls.keyfile', 'is set but tls.certfile is not', 'TLS needs both the certificate and its private key');
  if (cert_reqs !== 'none' && !ca_certs)
    error(
      '/tls/cert_reqs',
      'tls.cert_reqs',
      `is "${cert_reqs}" but tls.ca_certs is not set`,
      'client certificates are verified against tls.ca_certs',
    );
  if (cert_reqs !== 'none' && !certfile)
    error('/tls/cert_reqs', 'tls.cert_reqs', `is "${cert_reqs}" but TLS is off`, 'set tls.certfile and tls.keyfile');
  if (ca_certs && cert_reqs === 'none')
    warn('/tls/ca_certs', 'tls.ca_certs', 'has no effect while tls.cert_reqs is "none"', 'set tls.cert_reqs to "optional" or "required"');
  if (s.max_requests_jitter > 0 && s.max_requests === 0)
    warn('/max_requests_jitter', 'max_requests_jitter', 'has no effect while max_requests is 0', 'set max_requests to recycle workers');

  try {
    compileAccessFormat(s.log.access_format);
  } catch (err) {
    if (!(err instanceof AccessFormatError)) throw err;
    issues.push({
      code: 'TSI_ERR_CONFIG_INVALID_VALUE',
      severity: 'error',
      origin: originOf('/log/access_format'),
      setting: 'log.access_format',
      message: err.message,
      hint: 'use combined, common, json, or a string of Gunicorn atoms like %(h)s %(r)s %(s)s',
    });
  }
  const maxMemory = sizeInBytes(s.max_memory);
  if (maxMemory !== null && maxMemory < MAX_MEMORY_FLOOR) {
    // A bare number meant as megabytes, if as megabytes it would do.
    const number = parseFloat(String(s.max_memory));
    const bare = /^[0-9.]+\s*B?$/.test(String(s.max_memory).trim()) && number * 1024 * 1024 >= MAX_MEMORY_FLOOR;
    issues.push({
      code: 'TSI_ERR_CONFIG_INVALID_VALUE',
      severity: 'error',
      origin: originOf('/max_memory'),
      setting: 'max_memory',
      message: `${JSON.stringify(s.max_memory)} is ${maxMemory} bytes, less than any Node process needs: every worker would be over it as it starts`,
      hint: bare
        ? `a number is bytes: for megabytes write ${JSON.stringify(`${number}MiB`)}`
        : `write at least ${MAX_MEMORY_FLOOR / 1024 / 1024}MiB; a worker is ~50 MiB before its app loads`,
    });
  }
  if (s.headers_timeout > s.request_timeout && s.request_timeout > 0) {
    error(
      '/headers_timeout',
      'headers_timeout',
      `${s.headers_timeout} s is longer than request_timeout (${s.request_timeout} s)`,
      'the request head is part of the request: make request_timeout at least as long',
    );
  }

  const seen = new Set<string>();
  s.bind.forEach((address, i) => {
    if (seen.has(address)) error(`/bind/${i}`, `bind[${i}]`, `${JSON.stringify(address)} is listed twice`);
    seen.add(address);
  });
  // Port 0 is a fresh ephemeral port for each listener: the same text is not the same address.
  const metricsBind = s.metrics.bind === null ? null : parseBindAddress(s.metrics.bind);
  if (s.metrics.bind !== null && seen.has(s.metrics.bind) && !(metricsBind?.kind === 'tcp' && metricsBind.port === 0))
    error(
      '/metrics/bind',
      'metrics.bind',
      `${JSON.stringify(s.metrics.bind)} is also in bind`,
      'the metrics listener belongs to the master, apart from the app: give it its own address, e.g. 127.0.0.1:9100',
    );
  return issues;
}
