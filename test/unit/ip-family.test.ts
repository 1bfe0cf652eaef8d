import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { test } from 'node:test';
import { ipFamily } from '../../src/config/ip-family.js';

/** Addresses, near misses and odd inputs: ipFamily must answer exactly as net.isIP does. */
const CORPUS = [
  '127.0.0.1',
  '0.0.0.0',
  '255.255.255.255',
  '256.1.1.1',
  '1.2.3',
  '01.2.3.4',
  '1.2.3.4:80',
  '::1',
  '::',
  '1::',
  ':::',
  '1::2::3',
  '2001:db8::1',
  'ABCD::ef',
  '02001:db8::1',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8:9',
  '0:0:0:0:0:0:0:1',
  '::ffff:1.2.3.4',
  '::ffff:999.1.1.1',
  '::ffff:1.2.3',
  '1:2:3:4:5:6:1.2.3.4',
  '1:2:3:4:5:6:7:1.2.3.4',
  'a::g',
  '[::1]',
  '::1/64',
  ' ::1',
  '::1 ',
  'fe80::1%eth0',
  'fe80::1%25eth0',
  'fe80::1%en0.1',
  'fe80::1%',
  '::1%',
  'fe80::1%eth0%x',
  'fe80::1%eth 0',
  '',
  'localhost',
  'example.com:443',
  '1\u0000::1',
];

test('ipFamily answers as net.isIP on every address and near miss of the corpus', () => {
  for (const text of CORPUS) assert.equal(ipFamily(text), isIP(text), JSON.stringify(text));
});

test('ipFamily answers as net.isIP on random strings of address characters', () => {
  const alphabet = '0123456789abcdefABCDEF:.%g';
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 5000; i++) {
    let text = '';
    for (let n = 1 + random(20); n > 0; n--) text += alphabet[random(alphabet.length)];
    assert.equal(ipFamily(text), isIP(text), JSON.stringify(text));
  }
});
