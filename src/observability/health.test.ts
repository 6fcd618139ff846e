import { request } from 'node:http';
import { Gauge } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer } from './health.ts';
import type { HealthResult, HealthServer, HealthServerOptions } from './health.ts';
import { createMetrics } from './metrics.ts';

const servers: HealthServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function start(overrides: Partial<HealthServerOptions> = {}): Promise<HealthServer> {
  const server = await startHealthServer({
    host: '127.0.0.1',
    port: 0,
    checks: { healthz: () => [{ name: 'ping', ok: true }], readyz: () => [] },
    ...overrides,
  });
  servers.push(server);
  return server;
}

async function get(server: HealthServer, path: string, method = 'GET') {
  const response = await fetch(`${server.url}${path}`, { method });
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
}

describe('startHealthServer', () => {
  it('answers 200 ok when every check passes', async () => {
    const server = await start();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await get(server, '/healthz')).toEqual({
      status: 200,
      type: 'text/plain; charset=utf-8',
      body: 'ok',
    });
    expect(await get(server, '/readyz')).toMatchObject({ status: 200, body: 'ok' });
  });

  it('answers 503 naming each failing check and its reason', async () => {
    let ready: HealthResult = [
      { name: 'informers', ok: false, message: 'caches not synced' },
      { name: 'leader', ok: true },
      { name: 'secrets-informer', ok: false, message: 'informer for secrets restarting for 45 s' },
    ];
    const server = await start({ checks: { healthz: () => [], readyz: () => ready } });
    expect(await get(server, '/readyz')).toMatchObject({
      status: 503,
      body:
        '[-]informers failed: caches not synced\n' +
        '[-]secrets-informer failed: informer for secrets restarting for 45 s\n' +
        'readyz check failed\n',
    });
    // The checks are evaluated on every request.
    ready = [{ name: 'leader', ok: true }];
    expect(await get(server, '/readyz')).toMatchObject({ status: 200, body: 'ok' });
  });

  it('lists every check with ?verbose, like kube-apiserver', async () => {
    const server = await start({
      checks: {
        healthz: () => [
          { name: 'ping', ok: true },
          { name: 'event-loop', ok: true },
        ],
        readyz: () => [
          { name: 'informers', ok: true },
          { name: 'leader', ok: false, message: 'not leader (standby)' },
        ],
      },
    });
    expect(await get(server, '/healthz?verbose')).toMatchObject({
      status: 200,
      body: '[+]ping ok\n[+]event-loop ok\nhealthz check passed\n',
    });
    expect(await get(server, '/readyz?verbose=1')).toMatchObject({
      status: 503,
      body: '[+]informers ok\n[-]leader failed: not leader (standby)\nreadyz check failed\n',
    });
  });

  it('serves one check by name and 404 for an unknown one', async () => {
    const server = await start({
      checks: {
        healthz: () => [],
        readyz: () => [
          { name: 'informers', ok: true },
          { name: 'leader', ok: false, message: 'standby' },
        ],
      },
    });
    expect(await get(server, '/readyz/informers')).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(server, '/readyz/leader')).toMatchObject({ status: 503 });
    expect(await get(server, '/readyz/nope')).toMatchObject({ status: 404 });
  });

  it('fails the probe, not the server, when a check throws', async () => {
    const server = await start({
      checks: {
        healthz: () => {
          throw new Error('cache index broken');
        },
        readyz: () => Promise.resolve([{ name: 'async', ok: true }]),
      },
    });
    expect(await get(server, '/healthz')).toMatchObject({
      status: 503,
      body: '[-]check failed: the check threw: cache index broken\nhealthz check failed\n',
    });
    expect(await get(server, '/readyz')).toMatchObject({ status: 200 });
  });

  it('keeps reasons on one line each', async () => {
    const server = await start({
      checks: { healthz: () => [{ name: 'x', ok: false, message: 'a\nb\r\nc' }], readyz: () => [] },
    });
    expect((await get(server, '/healthz')).body).toBe('[-]x failed: a b c\nhealthz check failed\n');
  });

  it('serves the registry on /metrics with its content type', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.setLeader(true);
    const server = await start({ metrics: metrics.registry });
    const response = await get(server, '/metrics');
    expect(response.status).toBe(200);
    expect(response.type).toBe(metrics.registry.contentType);
    expect(response.body).toContain('apicred_leader 1\n');
  });

  it('answers 500 when collecting metrics fails', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    new Gauge({
      name: 'broken',
      help: 'a collector that fails',
      registers: [metrics.registry],
      collect() {
        throw new Error('collector failed');
      },
    });
    const server = await start({ metrics: metrics.registry });
    expect(await get(server, '/metrics')).toMatchObject({ status: 500, body: 'internal error\n' });
    expect(await get(server, '/healthz')).toMatchObject({ status: 200 });
  });

  it('answers 404 elsewhere, on /metrics without a registry, and 405 to other methods', async () => {
    const server = await start();
    expect(await get(server, '/')).toMatchObject({ status: 404 });
    expect(await get(server, '/metrics')).toMatchObject({ status: 404 });
    expect(await get(server, '/healthz/a/b')).toMatchObject({ status: 404 });
    expect(await get(server, '/healthz', 'POST')).toMatchObject({ status: 405 });
    expect(await get(server, '/healthz', 'HEAD')).toMatchObject({ status: 200, body: '' });
  });

  it('names the address and the flag when the port is taken', async () => {
    const first = await start();
    const port = Number(new URL(first.url).port);
    await expect(
      startHealthServer({ host: '127.0.0.1', port, checks: { healthz: () => [], readyz: () => [] } }),
    ).rejects.toThrow(`cannot serve health and metrics on 127.0.0.1:${port}: the address is already in use`);
    await expect(
      startHealthServer({
        host: '127.0.0.1',
        port,
        flag: '--metrics-bind-address',
        checks: { healthz: () => [], readyz: () => [] },
      }),
    ).rejects.toThrow(/choose another address with --metrics-bind-address$/);
  });

  it('closes promptly while a client holds a keep-alive connection', async () => {
    const server = await start();
    const url = new URL(`${server.url}/healthz`);
    await new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          agent: undefined,
          headers: { connection: 'keep-alive' },
        },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    await expect(fetch(url)).rejects.toThrow();
  });
});
