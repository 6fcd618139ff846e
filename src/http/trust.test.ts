import { getCACertificates, rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { normalizePem, pemHash, trustStore } from './trust.ts';

// A real certificate to stand in for a private CA bundle.
const [first = '', second = ''] = rootCertificates;

describe('trustStore', () => {
  it('adds the bundle to the default store instead of replacing it', () => {
    const store = trustStore(`${first}\n${second}\n`);
    expect(store.ok).toBe(true);
    if (!store.ok) return;
    const defaults = getCACertificates('default');
    expect(store.ca).toHaveLength(defaults.length + 2);
    expect(store.ca.slice(0, defaults.length)).toEqual(defaults);
    expect(store.ca.slice(-2)).toEqual([normalizePem(first), normalizePem(second)]);
  });

  it.each([
    ['', 'holds no PEM certificate'],
    ['just text', 'holds no PEM certificate'],
    [
      '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----',
      'certificate 1 of 1 is not a valid X.509 certificate',
    ],
  ])('rejects %j', (pem, problem) => {
    const store = trustStore(pem);
    expect(store.ok).toBe(false);
    if (!store.ok) expect(store.problem).toContain(problem);
  });
});

describe('pemHash', () => {
  it('ignores line endings and surrounding blanks but not content', () => {
    expect(pemHash(`\n${first.replace(/\n/g, '\r\n')}  \n`)).toBe(pemHash(first));
    expect(pemHash(first)).not.toBe(pemHash(second));
    expect(pemHash(first)).toMatch(/^[0-9a-f]{64}$/);
  });
});
