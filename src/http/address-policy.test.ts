import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import { addressNotAllowed, compileAddressPolicy, type AddressPolicy } from './address-policy.ts';
import { CidrError } from './cidr.ts';

const cases: [string, AddressPolicy, string, boolean][] = [
  // Default: everything but link-local, metadata and unspecified addresses.
  ['default', {}, '203.0.113.7', true],
  ['default', {}, '2001:db8::7', true],
  ['default', {}, '10.0.0.1', true],
  ['default', {}, '169.254.169.254', false],
  ['default', {}, '169.254.170.2', false],
  ['default', {}, '::ffff:169.254.169.254', false],
  ['default', {}, '::ffff:a9fe:a9fe', false],
  ['default', {}, 'fe80::1', false],
  ['default', {}, 'fe80::1%eth0', false],
  ['default', {}, 'fd00:ec2::254', false],
  ['default', {}, 'fd00:ec2::253', true],
  ['default', {}, '100.100.100.200', false],
  ['default', {}, '100.100.100.201', true],
  ['default', {}, '0.0.0.0', false],
  ['default', {}, '::', false],
  ['default', {}, '127.0.0.1', true],
  ['default', {}, '127.8.9.10', true],
  ['default', {}, '::1', true],
  ['default', {}, '::ffff:127.0.0.1', true],
  ['default', {}, 'not-an-ip', false],
  // Loopback off.
  ['no loopback', { allowLoopback: false }, '127.0.0.1', false],
  ['no loopback', { allowLoopback: false }, '::1', false],
  ['no loopback', { allowLoopback: false }, '::ffff:127.0.0.1', false],
  ['no loopback', { allowLoopback: false }, '203.0.113.7', true],
  ['no loopback, listed', { allowLoopback: false, allow: ['127.0.0.1/32'] }, '127.0.0.1', true],
  // An allow-list: only those (loopback still follows allowLoopback).
  ['allow 10/8', { allow: ['10.0.0.0/8'] }, '10.20.30.40', true],
  ['allow 10/8', { allow: ['10.0.0.0/8'] }, '11.0.0.1', false],
  ['allow 10/8', { allow: ['10.0.0.0/8'] }, '2001:db8::1', false],
  ['allow 10/8', { allow: ['10.0.0.0/8'] }, '::ffff:10.1.1.1', true],
  ['allow 10/8', { allow: ['10.0.0.0/8'] }, '127.0.0.1', true],
  ['allow 10/8', { allow: ['10.0.0.0/8'] }, '169.254.169.254', false],
  ['allow v6', { allow: ['fd00::/8'] }, 'fd12::1', true],
  ['allow v6', { allow: ['fd00::/8'] }, 'fd00:ec2::254', false],
  // A broad range never opens a default-denied block...
  ['allow all', { allow: ['0.0.0.0/0', '::/0'] }, '203.0.113.7', true],
  ['allow all', { allow: ['0.0.0.0/0', '::/0'] }, '169.254.169.254', false],
  ['allow all', { allow: ['0.0.0.0/0', '::/0'] }, 'fe80::1', false],
  ['allow all', { allow: ['0.0.0.0/0', '::/0'] }, '100.100.100.200', false],
  // ...a range inside it does, and only for what it covers.
  ['allow metadata', { allow: ['169.254.169.254/32'] }, '169.254.169.254', true],
  ['allow metadata', { allow: ['169.254.169.254/32'] }, '::ffff:169.254.169.254', true],
  ['allow metadata', { allow: ['169.254.169.254/32'] }, '169.254.170.2', false],
  ['allow metadata', { allow: ['169.254.169.254/32'] }, '203.0.113.7', false],
  ['allow link-local', { allow: ['169.254.0.0/16', '0.0.0.0/0'] }, '169.254.170.2', true],
  ['allow aws v6', { allow: ['fd00:ec2::254/128'] }, 'fd00:ec2::254', true],
];

describe('compileAddressPolicy', () => {
  it.each(cases)('%s: %s → allowed %s', (_name, policy, address, allowed) => {
    expect(compileAddressPolicy(policy).check(address).allowed).toBe(allowed);
  });

  it('says why an address is denied and how to allow it', () => {
    expect(compileAddressPolicy().check('::ffff:169.254.169.254')).toEqual({
      allowed: false,
      address: '169.254.169.254',
      what: 'a link-local address, where cloud metadata services live',
      hint: expect.stringContaining('list 169.254.169.254/32 in --allowed-cidrs') as unknown,
    });
    const outside = compileAddressPolicy({ allow: ['10.0.0.0/8', 'fd00::/8'] }).check('192.0.2.1');
    expect(outside).toMatchObject({
      allowed: false,
      what: 'outside the allowed outbound address ranges (10.0.0.0/8,fd00::/8)',
    });
    expect(compileAddressPolicy({ allowLoopback: false }).check('::1')).toMatchObject({
      allowed: false,
      address: '::1',
      hint: 'to allow it, list ::1/128 in --allowed-cidrs (APICRED_ALLOWED_CIDRS)',
    });
  });

  it('warns that setting the flag restricts everything else only when it is not set yet', () => {
    const unset = compileAddressPolicy().check('fe80::1');
    const set = compileAddressPolicy({ allow: ['10.0.0.0/8'] }).check('fe80::1');
    expect(!unset.allowed && unset.hint).toContain('add 0.0.0.0/0,::/0');
    expect(!set.allowed && set.hint).not.toContain('0.0.0.0/0');
  });

  it('refuses a malformed range at start', () => {
    expect(() => compileAddressPolicy({ allow: ['10.0.0.0/8', '10.0.0.0/40'] })).toThrow(CidrError);
  });
});

describe('addressNotAllowed', () => {
  it('is terminal and names the host, the resolved address and the flag', () => {
    const decision = compileAddressPolicy().check('169.254.169.254');
    if (decision.allowed) throw new Error('expected a denial');
    const error = addressNotAllowed('metadata.google.internal', decision);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: 'terminal', reason: 'AddressNotAllowed', outcomeUnknown: false });
    expect(error.message).toMatch(
      /^metadata\.google\.internal resolved to 169\.254\.169\.254, a link-local address/,
    );
    expect(error.message).toContain('--allowed-cidrs');
  });

  it('does not say "resolved" for an IP literal', () => {
    const decision = compileAddressPolicy().check('100.100.100.200');
    if (decision.allowed) throw new Error('expected a denial');
    expect(addressNotAllowed('100.100.100.200', decision).message).toMatch(
      /^100\.100\.100\.200 is the Alibaba Cloud metadata service address;/,
    );
  });
});
