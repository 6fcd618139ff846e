import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import { compileAddressPolicy } from './address-policy.ts';
import { guardedLookup } from './guarded-connector.ts';

/** A resolver with fixed answers, recording what it was asked. */
function resolver(answers: Record<string, LookupAddress[]>, asked: unknown[] = []): LookupFunction {
  return (hostname, options, callback) => {
    asked.push(options);
    const found = answers[hostname];
    if (!found)
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
    else callback(null, found);
  };
}

function run(lookup: LookupFunction, hostname: string, all: boolean) {
  return new Promise<{
    error: NodeJS.ErrnoException | null;
    address: string | LookupAddress[];
    family?: number;
  }>((resolve) => {
    lookup(hostname, { all }, (error, address, family) => {
      resolve({ error, address, family });
    });
  });
}

const answers: Record<string, LookupAddress[]> = {
  'provider.test': [
    { address: '203.0.113.7', family: 4 },
    { address: '2001:db8::7', family: 6 },
  ],
  'rebound.test': [
    { address: '203.0.113.7', family: 4 },
    { address: '169.254.169.254', family: 4 },
  ],
  'mapped.test': [{ address: '::ffff:169.254.169.254', family: 6 }],
};

describe('guardedLookup', () => {
  const checker = compileAddressPolicy();

  it('hands back every allowed address, in the form net.connect asked for', async () => {
    const asked: unknown[] = [];
    const lookup = guardedLookup(checker, resolver(answers, asked));
    expect(await run(lookup, 'provider.test', true)).toEqual({
      error: null,
      address: answers['provider.test'],
    });
    expect(await run(lookup, 'provider.test', false)).toEqual({
      error: null,
      address: '203.0.113.7',
      family: 4,
    });
    // It always resolves everything, so no address escapes the check.
    expect(asked).toEqual([{ all: true }, { all: true }]);
  });

  it.each([
    ['rebound.test', '169.254.169.254'],
    ['mapped.test', '169.254.169.254'],
  ])('refuses %s when any resolved address (%s) is denied', async (hostname, address) => {
    for (const all of [true, false]) {
      const result = await run(guardedLookup(checker, resolver(answers)), hostname, all);
      expect(ProviderError.is(result.error)).toBe(true);
      expect(result.error).toMatchObject({ reason: 'AddressNotAllowed', kind: 'terminal' });
      expect(result.error?.message).toContain(`${hostname} resolved to ${address}`);
      expect(result.address).toBe('');
    }
  });

  it('passes resolver errors through unchanged', async () => {
    const result = await run(guardedLookup(checker, resolver(answers)), 'missing.test', true);
    expect(result.error).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('applies the configured allow-list', async () => {
    const only10 = compileAddressPolicy({ allow: ['10.0.0.0/8'] });
    const result = await run(guardedLookup(only10, resolver(answers)), 'provider.test', true);
    expect(result.error?.message).toContain('outside the allowed outbound address ranges (10.0.0.0/8)');
  });
});
