// TLS against a real HTTPS server with a CA made for the test by the openssl CLI (support.ts).
import { createServer, type Server } from 'node:https';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpClientFactory, createHttpClient, type ClosableHttpClient } from '../../../src/http/client.ts';
import type { HttpClientOptions } from '../../../src/http/client.ts';
import { closeAll, listen, makePki, staticLookup, type TestPki } from './support.ts';

let pki: TestPki;
let port: number;
let requests = 0;
let connections = 0;
let server: Server;

beforeAll(async () => {
  pki = makePki();
  server = createServer({ key: pki.key, cert: pki.cert }, (_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"access_token":"t"}');
  });
  server.on('secureConnection', () => connections++);
  port = await listen(server);
});

afterAll(closeAll);

const clients: ClosableHttpClient[] = [];
const lookup = staticLookup({ 'provider.test': ['127.0.0.1'], 'wrong.test': ['127.0.0.1'] });
function client(options: HttpClientOptions = {}): ClosableHttpClient {
  const created = createHttpClient({ proxy: 'none', lookup, ...options });
  clients.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  requests = 0;
  connections = 0;
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error('expected a rejection');
}

describe('TLS verification', () => {
  it('refuses a certificate from an unknown CA, names the host and suggests caBundleRef', async () => {
    const error = await rejection(
      client().request({ method: 'POST', url: `https://provider.test:${port}/token` }),
    );
    expect(error).toMatchObject({
      kind: 'transient',
      reason: 'TLSVerificationFailed',
      outcomeUnknown: false,
    });
    expect(error.message).toContain(
      `POST provider.test:${port}/token: TLS verification of provider.test:${port} failed`,
    );
    expect(error.message).toContain('reference it with caBundleRef');
    expect(requests).toBe(0);
  });

  it('trusts the CA given as caPem, in addition to the default store', async () => {
    const response = await client({ caPem: pki.caPem }).request({
      method: 'POST',
      url: `https://provider.test:${port}/token`,
    });
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ access_token: 't' });
    // The same certificate is valid for its IP address SAN too.
    expect(
      (await client({ caPem: pki.caPem }).request({ method: 'GET', url: `https://127.0.0.1:${port}/` }))
        .status,
    ).toBe(200);
  });

  it('says the configured bundle does not trust the server either', async () => {
    const error = await rejection(
      client({ caPem: pki.otherCaPem }).request({ method: 'GET', url: `https://provider.test:${port}/` }),
    );
    expect(error).toMatchObject({ reason: 'TLSVerificationFailed' });
    expect(error.message).toContain('the CA bundle referenced by caBundleRef does not trust it either');
  });

  it('refuses a certificate that does not name the host, even from a trusted CA', async () => {
    const error = await rejection(
      client({ caPem: pki.caPem }).request({ method: 'GET', url: `https://wrong.test:${port}/` }),
    );
    expect(error).toMatchObject({ reason: 'TLSVerificationFailed' });
    expect(error.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(error.message).toContain('the certificate does not name wrong.test');
    expect(requests).toBe(0);
  });
});

describe('HttpClientFactory', () => {
  it('gives each distinct CA bundle one dispatcher, shared by every client of that bundle', async () => {
    const factory = new HttpClientFactory({ proxy: 'none', lookup });
    try {
      const url = `https://provider.test:${port}/token`;
      await factory.forCa(pki.caPem).request({ method: 'POST', url });
      // Same bundle with other line endings: same dispatcher, so the kept-alive connection is reused.
      await factory.forCa(pki.caPem.replace(/\n/g, '\r\n')).request({ method: 'POST', url });
      expect({ connections, bundles: factory.cachedBundles }).toEqual({ connections: 1, bundles: 1 });
      await factory.forCa(`${pki.caPem}\n${pki.otherCaPem}`).request({ method: 'POST', url });
      expect({ connections, bundles: factory.cachedBundles }).toEqual({ connections: 2, bundles: 2 });
      // Without a bundle the test CA is not trusted: the default dispatcher is separate.
      await expect(factory.forCa().request({ method: 'POST', url })).rejects.toMatchObject({
        reason: 'TLSVerificationFailed',
      });
      expect(requests).toBe(3);
    } finally {
      await factory.close();
    }
  });

  it('closes the least recently used bundle beyond maxCaBundles and rebuilds it on demand', async () => {
    const factory = new HttpClientFactory({ proxy: 'none', lookup, maxCaBundles: 1 });
    try {
      const url = `https://provider.test:${port}/`;
      const first = factory.forCa(pki.caPem);
      await first.request({ method: 'GET', url });
      await factory.forCa(`${pki.caPem}\n${pki.otherCaPem}`).request({ method: 'GET', url });
      expect(factory.cachedBundles).toBe(1);
      // The client handed out earlier still works: it gets a fresh dispatcher (a new connection).
      await first.request({ method: 'GET', url });
      expect({ connections, requests, bundles: factory.cachedBundles }).toEqual({
        connections: 3,
        requests: 3,
        bundles: 1,
      });
    } finally {
      await factory.close();
    }
  });
});
