// The exchange step gives providers a TokenRequest bound to the credential's namespace, and the minted
// token is redacted from the moment it exists: a server that echoes the assertion leaks nothing.
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import type { MintedServiceAccountToken } from '../providers/types.ts';
import { NAMESPACE, fakeProvider, reconcilerHarness } from './fakes.test-helpers.ts';

// Not JWT-shaped, so that only its registration (not the redactor's JWT shape rule) can scrub it.
const MINTED = 'minted-service-account-token-7f3c9a1e5b';

describe('mintServiceAccountToken in the exchange', () => {
  it("mints in the credential's namespace and scrubs the minted token from status and Events", async () => {
    const calls: { namespace: string; serviceAccountName: string; audience: string }[] = [];
    const mint = (
      namespace: string,
      request: { serviceAccountName: string; audience: string },
    ): Promise<MintedServiceAccountToken> => {
      calls.push({ namespace, serviceAccountName: request.serviceAccountName, audience: request.audience });
      return Promise.resolve({ token: MINTED, expiresAt: Date.UTC(2026, 0, 1, 0, 10) });
    };
    const provider = fakeProvider(async (context) => {
      if (!context.mintServiceAccountToken) throw new Error('no minter in the context');
      const minted = await context.mintServiceAccountToken({
        serviceAccountName: 'billing',
        audience: 'https://idp.example',
        expirationSeconds: 600,
        fieldPath: 'spec.provider.oauth2.serviceAccountToken.serviceAccountName',
        signal: context.signal,
      });
      throw new ProviderError({
        kind: 'terminal',
        reason: 'InvalidClient',
        message: `server said: assertion ${minted.token} is not trusted`,
      });
    });
    const h = reconcilerHarness(provider, undefined, { mintServiceAccountToken: mint });
    await h.reconciler.reconcile(h.key);
    expect(calls).toEqual([
      { namespace: NAMESPACE, serviceAccountName: 'billing', audience: 'https://idp.example' },
    ]);
    const written = JSON.stringify({ statuses: h.writer.statuses, events: h.writer.events });
    expect(written).toContain('is not trusted');
    expect(written).not.toContain(MINTED);
  });
});
