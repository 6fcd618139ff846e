import { describe, expect, it } from 'vitest';
import { CidrError, cidrContains, cidrWithin, formatCidr, formatIp, parseCidr, parseIp } from './cidr.ts';

function ip(text: string) {
  const parsed = parseIp(text);
  if (!parsed) throw new Error(`test address ${text} does not parse`);
  return parsed;
}

describe('parseIp', () => {
  it.each([
    ['10.1.2.3', 4, 0x0a010203n],
    ['0.0.0.0', 4, 0n],
    ['255.255.255.255', 4, 0xffffffffn],
    ['::', 6, 0n],
    ['::1', 6, 1n],
    ['fe80::1', 6, (0xfe80n << 112n) | 1n],
    ['FE80::1', 6, (0xfe80n << 112n) | 1n],
    ['fe80::1%eth0', 6, (0xfe80n << 112n) | 1n],
    ['[2001:db8::1]', 6, (0x20010db8n << 96n) | 1n],
    ['1:2:3:4:5:6:7:8', 6, 0x00010002000300040005000600070008n],
    ['64:ff9b::192.0.2.1', 6, (0x64ff9bn << 96n) | 0xc0000201n],
    // IPv4-mapped IPv6 folds into IPv4, in both spellings.
    ['::ffff:169.254.169.254', 4, 0xa9fea9fen],
    ['::ffff:a9fe:a9fe', 4, 0xa9fea9fen],
    ['0:0:0:0:0:ffff:7f00:1', 4, 0x7f000001n],
  ])('%s is IPv%i %s', (text, family, value) => {
    expect(parseIp(text)).toEqual({ family, value });
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '01.2.3.4',
    '1.2.3.-4',
    '1.2.3.4 ',
    'example.com',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '12345::',
    'g::1',
    '::ffff:1.2.3',
    // A dotted quad only ends an IPv6 address; the hand-written parser took these.
    '1.2.3.4::',
    '255:1.2.3.4::1ff',
  ])('%j is not an address', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('parseCidr and cidrContains', () => {
  it.each([
    ['169.254.0.0/16', '169.254.169.254', true],
    ['169.254.0.0/16', '169.255.0.1', false],
    ['169.254.0.0/16', '::ffff:169.254.169.254', true],
    ['169.254.169.254', '169.254.169.254', true],
    ['169.254.169.254', '169.254.169.253', false],
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.1.2.3/8', '10.9.9.9', true], // host bits are cleared
    ['0.0.0.0/0', '203.0.113.9', true],
    ['0.0.0.0/0', '2001:db8::1', false], // families never match each other
    ['::/0', '2001:db8::1', true],
    ['::/0', '10.0.0.1', false],
    ['fe80::/10', 'fe80::1', true],
    ['fe80::/10', 'febf:ffff::1', true],
    ['fe80::/10', 'fec0::1', false],
    ['fd00:ec2::254/128', 'fd00:ec2::254', true],
    ['fd00:ec2::254/128', 'fd00:ec2::255', false],
    ['::1/128', '::1', true],
    ['::1/128', '127.0.0.1', false],
    // A mapped range written in IPv6 is the IPv4 range.
    ['::ffff:169.254.0.0/112', '169.254.1.1', true],
    ['::ffff:169.254.0.0/112', '::ffff:169.254.1.1', true],
    ['::ffff:169.254.0.0/112', '169.253.1.1', false],
  ])('%s contains %s: %s', (range, address, expected) => {
    expect(cidrContains(parseCidr(range), ip(address))).toBe(expected);
  });

  it.each([
    '',
    '10.0.0.0/33',
    '::/129',
    '10.0.0.0/-1',
    '10.0.0.0/8/8',
    '10.0.0/8',
    'example.com/8',
    '10.0.0.0/x',
  ])('%j is rejected with a message naming it', (text) => {
    expect(() => parseCidr(text)).toThrow(CidrError);
    expect(() => parseCidr(text)).toThrow(`"${text}" is not a CIDR range`);
  });
});

describe('cidrWithin', () => {
  it.each([
    ['169.254.169.254/32', '169.254.0.0/16', true],
    ['169.254.0.0/16', '169.254.0.0/16', true],
    ['169.254.0.0/17', '169.254.0.0/16', true],
    ['169.0.0.0/8', '169.254.0.0/16', false],
    ['0.0.0.0/0', '169.254.0.0/16', false],
    ['fe80::/64', 'fe80::/10', true],
    ['::/0', 'fe80::/10', false],
    ['169.254.0.0/16', 'fe80::/10', false],
  ])('%s within %s: %s', (inner, outer, expected) => {
    expect(cidrWithin(parseCidr(inner), parseCidr(outer))).toBe(expected);
  });
});

describe('formatting', () => {
  it.each([
    ['169.254.169.254', '169.254.169.254'],
    ['::ffff:a9fe:a9fe', '169.254.169.254'],
    ['fd00:ec2:0:0:0:0:0:254', 'fd00:ec2::254'],
    ['::1', '::1'],
    ['::', '::'],
    ['fe80::', 'fe80::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'], // a single zero group is not compressed
  ])('%s prints as %s', (text, printed) => {
    expect(formatIp(ip(text))).toBe(printed);
  });

  it('prints a range with its network address and prefix', () => {
    expect(formatCidr(parseCidr('10.1.2.3/8'))).toBe('10.0.0.0/8');
    expect(formatCidr(parseCidr('::ffff:169.254.0.0/112'))).toBe('169.254.0.0/16');
    expect(formatCidr(parseCidr('fd00::1'))).toBe('fd00::1/128');
  });
});
