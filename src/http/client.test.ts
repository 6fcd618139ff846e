// Client behaviour that needs no server; exchanges with real servers are in test/providers/http.
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../errors/failure.ts';
import { HttpClientFactory, createHttpClient } from './client.ts';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('createHttpClient', () => {
  it.each([
    'http://169.254.169.254/latest/meta-data',
    'http://[fd00:ec2::254]/latest',
    'http://[::ffff:a9fe:a9fe]/x',
    'http://0xa9fea9fe/x',
  ])('refuses the IP literal in %s before any connection', async (url) => {
    const client = createHttpClient({ proxy: 'none' });
    const error = await rejection(client.request({ method: 'GET', url: `${url}?token=s3cr3t` }));
    expect(ProviderError.is(error)).toBe(true);
    expect(error).toMatchObject({ kind: 'terminal', reason: 'AddressNotAllowed' });
    expect((error as Error).message).toMatch(/^GET \S+: \S+ is /);
    expect((error as Error).message).toContain('--allowed-cidrs');
    expect((error as Error).message).not.toContain('s3cr3t');
    await client.close();
  });

  it('also refuses IP literals that a proxy would have connected to', async () => {
    const client = createHttpClient({ proxyEnv: { HTTP_PROXY: 'http://127.0.0.1:9' } });
    const error = await rejection(client.request({ method: 'GET', url: 'http://169.254.169.254/' }));
    expect(error).toMatchObject({ reason: 'AddressNotAllowed' });
    await client.close();
  });

  it('rejects with the caller’s reason when the signal is already aborted', async () => {
    const client = createHttpClient({ proxy: 'none' });
    const reason = new Error('deadline');
    const error = await rejection(
      client.request({ method: 'GET', url: 'http://provider.test/', signal: AbortSignal.abort(reason) }),
    );
    expect(error).toBe(reason);
    await client.close();
  });

  it('fails every request with a terminal InvalidCABundle when the bundle is unusable', async () => {
    const client = createHttpClient({ proxy: 'none', caPem: 'not a certificate' });
    const error = await rejection(client.request({ method: 'GET', url: 'https://provider.test/token' }));
    expect(error).toMatchObject({ kind: 'terminal', reason: 'InvalidCABundle' });
    expect((error as Error).message).toBe(
      'GET provider.test/token: the CA bundle referenced by caBundleRef cannot be used: it holds no PEM certificate (-----BEGIN CERTIFICATE-----).',
    );
    await client.close();
  });

  it.each([
    [{ timeoutMs: 0 }, 'timeoutMs must be a positive number'],
    [{ connectTimeoutMs: Number.NaN }, 'connectTimeoutMs must be a positive number'],
    [{ maxResponseBytes: -1 }, 'maxResponseBytes must be a positive number'],
    [{ addressPolicy: { allow: ['10.0.0.0/99'] } }, '"10.0.0.0/99" is not a CIDR range'],
  ])('refuses bad options %j at creation', (options, message) => {
    expect(() => createHttpClient(options)).toThrow(message);
  });
});

describe('HttpClientFactory', () => {
  it('reports each request of a client that knows its provider, without query strings', async () => {
    const seen: unknown[] = [];
    const factory = new HttpClientFactory({
      proxy: 'none',
      onRequest: (provider, method, status, detail) => {
        seen.push({ provider, method, status, host: detail.host, reason: detail.reason });
      },
    });
    await rejection(
      factory
        .forCa(undefined, { provider: 'oauth2' })
        .request({ method: 'POST', url: 'http://169.254.169.254:81/t?x=1' }),
    );
    await rejection(factory.forCa().request({ method: 'POST', url: 'http://169.254.169.254/t' }));
    expect(seen).toEqual([
      {
        provider: 'oauth2',
        method: 'POST',
        status: 'error',
        host: '169.254.169.254:81',
        reason: 'AddressNotAllowed',
      },
    ]);
    await factory.close();
  });

  it('refuses requests after close with a transient ShuttingDown', async () => {
    const factory = new HttpClientFactory({ proxy: 'none' });
    const client = factory.forCa();
    await factory.close();
    const error = await rejection(client.request({ method: 'GET', url: 'http://provider.test/' }));
    expect(error).toMatchObject({ kind: 'transient', reason: 'ShuttingDown' });
  });

  it('treats an empty bundle as no bundle', async () => {
    const factory = new HttpClientFactory({ proxy: 'none' });
    const aborted = AbortSignal.abort(new Error('stop'));
    await rejection(
      factory.forCa('  \n').request({ method: 'GET', url: 'http://provider.test/', signal: aborted }),
    );
    expect(factory.cachedBundles).toBe(0);
    await factory.close();
  });
});
