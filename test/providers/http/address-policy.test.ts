// The address policy at connect time, on the addresses a name resolves to (DNS rebinding safe).
// Names are resolved by a table (support.ts staticLookup) so any name can point anywhere.
import type { LookupFunction } from 'node:net';
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHttpClient,
  type ClosableHttpClient,
  type HttpClientOptions,
} from '../../../src/http/client.ts';
import { closeAll, listen, staticLookup } from './support.ts';

let connections = 0;
async function server(): Promise<number> {
  const created = createServer((_req, res) => {
    // Close after each answer, so every request makes a new connection (and a new lookup).
    res.writeHead(200, { connection: 'close' });
    res.end('ok');
  });
  created.on('connection', () => connections++);
  return listen(created);
}

const clients: ClosableHttpClient[] = [];
function client(options: HttpClientOptions): ClosableHttpClient {
  const created = createHttpClient({ proxy: 'none', ...options });
  clients.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await closeAll();
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

describe('address policy at connect time', () => {
  it('refuses a name that resolves to the metadata address, naming host, address and flag', async () => {
    const lookup = staticLookup({ 'metadata.google.internal': ['169.254.169.254'] });
    const error = await rejection(
      client({ lookup }).request({
        method: 'GET',
        url: 'http://metadata.google.internal/computeMetadata/v1/?recursive=true',
      }),
    );
    expect(error).toMatchObject({ kind: 'terminal', reason: 'AddressNotAllowed', outcomeUnknown: false });
    expect(error.message).toMatch(
      /^GET metadata\.google\.internal\/computeMetadata\/v1\/: metadata\.google\.internal resolved to 169\.254\.169\.254, a link-local address/,
    );
    expect(error.message).toContain('list 169.254.169.254/32 in --allowed-cidrs (APICRED_ALLOWED_CIDRS)');
    expect(error.message).not.toContain('recursive');
  });

  it.each([
    ['an IPv6 link-local', ['fe80::1']],
    ['the AWS IPv6 metadata', ['fd00:ec2::254']],
    ['the Alibaba metadata', ['100.100.100.200']],
    ['an IPv4-mapped metadata', ['::ffff:169.254.169.254']],
  ])('refuses a name resolving to %s address', async (_name, addresses) => {
    const error = await rejection(
      client({ lookup: staticLookup({ 'evil.test': addresses }) }).request({
        method: 'GET',
        url: 'http://evil.test/',
      }),
    );
    expect(error).toMatchObject({ reason: 'AddressNotAllowed' });
  });

  it('refuses a name when any of its addresses is denied, and connects to none of them', async () => {
    const port = await server();
    const lookup = staticLookup({ 'mixed.test': ['127.0.0.1', '169.254.169.254'] });
    const error = await rejection(
      client({ lookup }).request({ method: 'GET', url: `http://mixed.test:${port}/` }),
    );
    expect(error).toMatchObject({ reason: 'AddressNotAllowed' });
    expect(error.message).toContain('mixed.test resolved to 169.254.169.254');
    expect(connections).toBe(0);
  });

  it('checks every connection: a name that rebinds to a denied address is refused', async () => {
    const port = await server();
    let answers = 0;
    const rebinding: LookupFunction = (hostname, options, callback) => {
      answers++;
      staticLookup({ [hostname]: [answers === 1 ? '127.0.0.1' : '169.254.169.254'] })(
        hostname,
        options,
        callback,
      );
    };
    const rebound = client({ lookup: rebinding });
    const url = `http://rebind.test:${port}/token`;
    expect((await rebound.request({ method: 'POST', url })).status).toBe(200);
    const error = await rejection(rebound.request({ method: 'POST', url }));
    expect(error).toMatchObject({ reason: 'AddressNotAllowed' });
    expect({ answers, connections }).toEqual({ answers: 2, connections: 1 });
  });

  it('allows loopback by default, and refuses it when configured so', async () => {
    const port = await server();
    const lookup = staticLookup({ 'sidecar.test': ['127.0.0.1'] });
    expect(
      (await client({ lookup }).request({ method: 'GET', url: `http://sidecar.test:${port}/` })).status,
    ).toBe(200);
    const strict = client({ lookup, addressPolicy: { allowLoopback: false } });
    for (const url of [`http://sidecar.test:${port}/`, `http://127.0.0.1:${port}/`]) {
      expect(await rejection(strict.request({ method: 'GET', url }))).toMatchObject({
        reason: 'AddressNotAllowed',
      });
    }
    expect(connections).toBe(1);
  });

  it('with an allow-list, reaches only the listed ranges', async () => {
    const port = await server();
    const lookup = staticLookup({ 'provider.test': ['127.0.0.1'] });
    const listed = client({ lookup, addressPolicy: { allowLoopback: false, allow: ['127.0.0.0/30'] } });
    expect((await listed.request({ method: 'GET', url: `http://provider.test:${port}/` })).status).toBe(200);
    const elsewhere = client({ lookup, addressPolicy: { allowLoopback: false, allow: ['10.0.0.0/8'] } });
    const error = await rejection(elsewhere.request({ method: 'GET', url: `http://provider.test:${port}/` }));
    expect(error.message).toContain('provider.test resolved to 127.0.0.1, a loopback address');
    expect(connections).toBe(1);
  });
});
