// Proxies from the environment (an injected one here): a forward proxy for http targets
// (absolute-form requests), a CONNECT tunnel for https targets, NO_PROXY bypassing both.
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createHttpClient,
  type ClosableHttpClient,
  type HttpClientOptions,
} from '../../../src/http/client.ts';
import { closeAll, listen, makePki, type TestPki } from './support.ts';

interface ProxyLog {
  forwarded: string[];
  tunnels: string[];
}

/** A minimal proxy: absolute-form requests are forwarded, CONNECT is tunnelled. */
async function proxy(): Promise<{ url: string; log: ProxyLog }> {
  const log: ProxyLog = { forwarded: [], tunnels: [] };
  const server = createHttpServer((req, res) => {
    log.forwarded.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const target = new URL(req.url ?? '');
    const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  server.on('connect', (req, socket, head) => {
    log.tunnels.push(req.url ?? '');
    const [host = '', port = ''] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, log };
}

let pki: TestPki;
beforeAll(() => {
  pki = makePki();
});

const received: string[] = [];
async function target(): Promise<string> {
  const server = createHttpServer((req, res) => {
    received.push(req.url ?? '');
    res.end('direct-or-proxied');
  });
  return `http://127.0.0.1:${await listen(server)}`;
}

async function tlsTarget(): Promise<string> {
  const server = createHttpsServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    received.push(req.url ?? '');
    res.end('secure');
  });
  return `https://127.0.0.1:${await listen(server)}`;
}

const clients: ClosableHttpClient[] = [];
function client(options: HttpClientOptions): ClosableHttpClient {
  const created = createHttpClient(options);
  clients.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await closeAll();
  received.length = 0;
});

describe('proxy from the environment', () => {
  it('sends http requests to HTTP_PROXY in absolute form', async () => {
    const { url: proxyUrl, log } = await proxy();
    const base = await target();
    const response = await client({ proxyEnv: { HTTP_PROXY: proxyUrl } }).request({
      method: 'GET',
      url: `${base}/oauth/token?x=1`,
    });
    expect(response.text).toBe('direct-or-proxied');
    expect(log.forwarded).toEqual([`GET ${base}/oauth/token?x=1`]);
    expect(received).toEqual(['/oauth/token?x=1']);
  });

  it('reads the lower-case variable first, as curl and undici do', async () => {
    const { url: proxyUrl, log } = await proxy();
    const base = await target();
    await client({ proxyEnv: { http_proxy: proxyUrl, HTTP_PROXY: 'http://127.0.0.1:9' } }).request({
      method: 'GET',
      url: base,
    });
    expect(log.forwarded).toHaveLength(1);
  });

  it('goes direct for hosts in NO_PROXY', async () => {
    const { url: proxyUrl, log } = await proxy();
    const base = await target();
    await client({ proxyEnv: { HTTP_PROXY: proxyUrl, NO_PROXY: 'kc.example,127.0.0.1' } }).request({
      method: 'GET',
      url: `${base}/t`,
    });
    expect(log.forwarded).toEqual([]);
    expect(received).toEqual(['/t']);
  });

  it("ignores the environment with proxy: 'none'", async () => {
    const { url: proxyUrl, log } = await proxy();
    const base = await target();
    await client({ proxy: 'none', proxyEnv: { HTTP_PROXY: proxyUrl } }).request({ method: 'GET', url: base });
    expect(log.forwarded).toEqual([]);
    expect(received).toHaveLength(1);
  });

  it('tunnels https through HTTPS_PROXY and verifies the provider with caPem inside the tunnel', async () => {
    const { url: proxyUrl, log } = await proxy();
    const base = await tlsTarget();
    const env = { HTTPS_PROXY: proxyUrl };
    const response = await client({ proxyEnv: env, caPem: pki.caPem }).request({
      method: 'POST',
      url: `${base}/token`,
    });
    expect(response.text).toBe('secure');
    expect(log.tunnels).toEqual([base.slice('https://'.length)]);
    expect(log.forwarded).toEqual([]);

    const error = await client({ proxyEnv: env })
      .request({ method: 'POST', url: `${base}/token` })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'TLSVerificationFailed', outcomeUnknown: false });
    expect(received).toEqual(['/token']);
  });

  it('never follows a redirect behind a proxy either', async () => {
    const { url: proxyUrl, log } = await proxy();
    const base = await target();
    const redirecting = createHttpServer((_req, res) => {
      res.writeHead(302, { location: `${base}/collect` });
      res.end();
    });
    const from = `http://127.0.0.1:${await listen(redirecting)}`;
    const response = await client({ proxyEnv: { HTTP_PROXY: proxyUrl } }).request({
      method: 'POST',
      url: `${from}/token`,
      form: { a: 'b' },
    });
    expect(response.status).toBe(302);
    expect(log.forwarded).toEqual([`POST ${from}/token`]);
    expect(received).toEqual([]);
  });
});
