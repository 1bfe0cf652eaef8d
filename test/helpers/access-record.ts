import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessRecord } from '../../src/log/access-format.js';

export interface RequestOver {
  url?: string;
  method?: string;
  httpVersion?: string;
  headers?: Record<string, string>;
  resHeaders?: Record<string, string>;
}

/** An access log record for a request as Node presents it (header names lower-case, values latin1). */
export function accessRecord(over: RequestOver = {}, more: Partial<AccessRecord> = {}): AccessRecord {
  const req = {
    method: over.method ?? 'GET',
    url: over.url ?? '/a/b?x=1',
    httpVersion: over.httpVersion ?? '1.1',
    headers: over.headers ?? {},
  } as unknown as IncomingMessage;
  const resHeaders = over.resHeaders ?? { 'content-type': 'text/plain' };
  const res = { getHeader: (name: string) => resHeaders[name] } as unknown as ServerResponse;
  return {
    req,
    res,
    startMs: Date.UTC(2026, 10, 25, 12, 30, 5),
    durationUs: 1_234_567,
    bytes: 42,
    status: 200,
    remoteAddr: '203.0.113.9',
    requestId: 'req-1',
    ...more,
  };
}
