import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { ProxyRules, TrustList } from '../../src/worker/proxy-trust.js';

const proxy = {
  forwarded_allow_ips: ['127.0.0.1', '::1', '10.0.0.0/8'],
  secure_scheme_headers: { 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on' },
  protocol: false,
  allow_ips: [],
};
/** A request as Node gives it: lower-case headers, and rawHeaders as the client spelled them. */
const req = (headers: Record<string, string>) =>
  ({
    headers: { ...headers },
    rawHeaders: Object.entries(headers).flatMap(([name, value]) => [name.replace(/(^|-)[a-z]/g, (c) => c.toUpperCase()), value]),
  }) as unknown as IncomingMessage;

test('trust lists take addresses, CIDR ranges and *; IPv4-mapped IPv6 is IPv4', () => {
  const list = new TrustList(['10.0.0.0/8', '::1', '192.168.1.7']);
  assert.ok(list.has('10.2.3.4'));
  assert.ok(list.has('::ffff:10.2.3.4'));
  assert.ok(list.has('::1'));
  assert.ok(list.has('192.168.1.7'));
  assert.ok(!list.has('192.168.1.8'));
  assert.ok(!list.has('11.0.0.1'));
  assert.ok(!list.has(undefined));
  assert.ok(new TrustList(['*']).has('203.0.113.1'));
});

test('a trust list answers the same from its kept verdicts, also past the number it keeps', () => {
  const list = new TrustList(['10.0.0.0/8']);
  for (let round = 0; round < 2; round++) {
    assert.ok(list.has('10.9.9.9'));
    assert.ok(!list.has('11.9.9.9'));
    assert.ok(!list.has('not an address'));
  }
  // More distinct clients than are kept: the answers stay right after the verdicts start over.
  for (let i = 0; i < 5000; i++) assert.equal(list.has(`10.0.${i >> 8}.${i & 255}`), true);
  for (let i = 0; i < 5000; i++) assert.equal(list.has(`11.0.${i >> 8}.${i & 255}`), false);
  assert.ok(list.has('10.9.9.9'));
});

test('from an untrusted peer every forwarding header is removed', () => {
  const r = req({
    'x-forwarded-for': '1.2.3.4',
    forwarded: 'for=1.2.3.4',
    'x-forwarded-proto': 'https',
    'x-forwarded-ssl': 'on',
    'x-real-ip': '1.2.3.4',
    host: 'h',
  });
  const client = new ProxyRules(proxy).apply(r, '203.0.113.9', false);
  assert.deepEqual(client, { address: '203.0.113.9', secure: false });
  assert.deepEqual(r.headers, { host: 'h' });
  // rawHeaders too: a fetch handler's Request (@hono/node-server) is built from them.
  assert.deepEqual(r.rawHeaders, ['Host', 'h']);
});

test('from a trusted proxy the client is the right-most untrusted X-Forwarded-For hop', () => {
  const rules = new ProxyRules(proxy);
  assert.equal(rules.apply(req({ 'x-forwarded-for': '198.51.100.7' }), '127.0.0.1', false).address, '198.51.100.7');
  // A spoofed left-most entry is ignored: 10.1.1.1 is our own proxy, 198.51.100.7 the real client.
  assert.equal(rules.apply(req({ 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.1.1.1' }), '127.0.0.1', false).address, '198.51.100.7');
  const viaForwarded = req({ forwarded: 'for="[2001:db8::1]:4711";proto=https' });
  assert.deepEqual(rules.apply(viaForwarded, '::1', false), { address: '2001:db8::1', secure: true }, 'Forwarded: for= and proto=');
  assert.equal(viaForwarded.headers['x-forwarded-proto'], 'https');
  assert.equal(rules.apply(req({}), '127.0.0.1', false).address, '127.0.0.1');
});

test('secure scheme headers from a trusted proxy make the request https, normalized for the app', () => {
  const rules = new ProxyRules(proxy);
  const r = req({ 'x-forwarded-ssl': 'on', 'x-forwarded-proto': 'http' });
  assert.equal(rules.apply(r, '10.0.0.2', false).secure, true);
  assert.equal(r.headers['x-forwarded-proto'], 'https');
  assert.deepEqual(r.rawHeaders, ['X-Forwarded-Ssl', 'on', 'x-forwarded-proto', 'https'], 'the raw copy says the same');
  const plain = req({});
  assert.equal(rules.apply(plain, '10.0.0.2', false).secure, false);
  assert.equal(plain.headers['x-forwarded-proto'], 'http');
  assert.deepEqual(plain.rawHeaders, ['x-forwarded-proto', 'http']);
});

test('told no forwarding field came, the rules leave the request as sent, from a trusted peer too', () => {
  const rules = new ProxyRules(proxy);
  const trusted = req({ host: 'example.com' });
  assert.deepEqual(rules.apply(trusted, '10.0.0.2', true, false), { address: '10.0.0.2', secure: true });
  assert.deepEqual(trusted.headers, { host: 'example.com' });
  assert.deepEqual(trusted.rawHeaders, ['Host', 'example.com']);
  const stranger = req({ host: 'example.com' });
  assert.deepEqual(rules.apply(stranger, '::ffff:203.0.113.9', false, false), { address: '203.0.113.9', secure: false });
  assert.deepEqual(stranger.headers, { host: 'example.com' });
  assert.deepEqual(stranger.rawHeaders, ['Host', 'example.com']);
});

test('forwardedBy: any forwarding field, a secure scheme header included, and nothing else', () => {
  const rules = new ProxyRules(proxy);
  assert.equal(rules.forwardedBy({ host: 'x', 'user-agent': 'curl' }), false);
  for (const name of ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-real-ip', 'x-forwarded-ssl']) {
    assert.equal(rules.forwardedBy({ host: 'x', [name]: 'v' }), true, name);
  }
});
