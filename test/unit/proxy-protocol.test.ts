import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyHeaderError, parseProxyHeader } from '../../src/worker/proxy-protocol.js';
import { proxyV2 } from '../helpers/proxy-header.js';

const http = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
const v1 = (line: string) => Buffer.concat([Buffer.from(line, 'latin1'), http]);

test('v1: TCP4 and TCP6 declare the source; the header length is exactly the line', () => {
  const line = 'PROXY TCP4 203.0.113.7 10.0.0.1 40000 443\r\n';
  assert.deepEqual(parseProxyHeader(v1(line)), {
    peer: { address: '203.0.113.7', port: 40000, family: 'IPv4' },
    length: line.length,
  });
  const six = parseProxyHeader(v1('PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n'));
  assert.deepEqual(six?.peer, { address: '2001:db8::7', port: 40000, family: 'IPv6' });
});

test('v1: UNKNOWN means the real peer', () => {
  assert.equal(parseProxyHeader(v1('PROXY UNKNOWN\r\n'))?.peer, null);
  assert.equal(parseProxyHeader(v1('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'))?.peer, null);
});

test('v1: partial input waits for more; a line over 107 bytes or a bad field is refused', () => {
  assert.equal(parseProxyHeader(Buffer.from('PRO')), undefined);
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7')), undefined);
  const bad = [
    `PROXY TCP4 ${'1'.repeat(100)} 10.0.0.1 1 2\r\n`,
    'PROXY TCP4 203.0.113.7 10.0.0.1 1\r\n',
    'PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n',
    'PROXY TCP6 203.0.113.7 10.0.0.1 1 2\r\n',
    'PROXY TCP4 203.0.113.999 10.0.0.1 1 2\r\n',
    'PROXY TCP4 203.0.113.7 10.0.0.1 70000 2\r\n',
    'PROXY UDP4 203.0.113.7 10.0.0.1 1 2\r\n',
    'PROXY  TCP4 203.0.113.7 10.0.0.1 1 2\r\n',
  ];
  for (const line of bad) assert.throws(() => parseProxyHeader(v1(line)), ProxyHeaderError, JSON.stringify(line));
  assert.throws(() => parseProxyHeader(Buffer.alloc(120, 'PROXY TCP4 ')), /longer than 107/);
});

test('a connection that does not start with a PROXY signature is refused at its first byte', () => {
  assert.throws(() => parseProxyHeader(http), /no PROXY header/);
  assert.throws(() => parseProxyHeader(Buffer.from('POST')), /no PROXY header/);
  assert.throws(() => parseProxyHeader(Buffer.from('\r\n\r\n\0\r\nQUIX')), /no PROXY header/);
  assert.throws(() => parseProxyHeader(Buffer.from([0x16, 0x03, 0x01])), /no PROXY header/, 'a bare TLS ClientHello');
});

test('v2: INET, INET6 (v4-mapped too) and TLVs; the length covers the TLVs and nothing after', () => {
  const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]);
  const header = proxyV2({ source: '198.51.100.4', sourcePort: 5555, extra: tlv });
  assert.deepEqual(parseProxyHeader(Buffer.concat([header, http])), {
    peer: { address: '198.51.100.4', port: 5555, family: 'IPv4' },
    length: header.length,
  });
  assert.deepEqual(parseProxyHeader(proxyV2({ source: '2001:db8:0:0:0:0:0:42' }))?.peer, {
    address: '2001:db8::42',
    port: 40000,
    family: 'IPv6',
  });
  assert.equal(parseProxyHeader(proxyV2({ source: '::ffff:192.0.2.9', destination: '::1' }))?.peer?.address, '192.0.2.9');
});

test('v2: LOCAL, UNSPEC and UNIX mean the real peer', () => {
  assert.equal(parseProxyHeader(proxyV2({ command: 'LOCAL' }))?.peer, null);
  assert.equal(parseProxyHeader(proxyV2({ command: 'LOCAL', family: 'UNSPEC' }))?.peer, null);
  assert.equal(parseProxyHeader(proxyV2({ family: 'UNSPEC' }))?.peer, null);
  assert.equal(parseProxyHeader(proxyV2({ family: 'UNIX' }))?.peer, null);
});

test('v2: waits for 16 bytes and then the announced length; a wrong version or a short length is refused', () => {
  const header = proxyV2();
  assert.equal(parseProxyHeader(header.subarray(0, 15)), undefined);
  assert.equal(parseProxyHeader(header.subarray(0, header.length - 1)), undefined);
  assert.throws(() => parseProxyHeader(proxyV2({ version: 1 })), ProxyHeaderError);
  const short = Buffer.from(header);
  short.writeUInt16BE(4, 14);
  assert.throws(() => parseProxyHeader(short.subarray(0, 20)), ProxyHeaderError);
});
