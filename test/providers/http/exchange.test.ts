// What goes over the wire and what comes back: statuses are answers, redirects are never followed.
import { createServer, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClientFactory, createHttpClient, type ClosableHttpClient } from '../../../src/http/client.ts';
import { closeAll, listen } from './support.ts';

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A server answering with `answer`, recording every request it receives. */
async function recordingServer(
  answer: (seen: Seen) => { status: number; headers?: Record<string, string | string[]>; body?: string },
) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const record = { method: req.method, url: req.url, headers: req.headers, body };
      seen.push(record);
      const reply = answer(record);
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? '');
    });
  });
  const port = await listen(server);
  return { seen, url: `http://127.0.0.1:${port}` };
}

const clients: ClosableHttpClient[] = [];
function client(): ClosableHttpClient {
  const created = createHttpClient({ proxy: 'none' });
  clients.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await closeAll();
});

describe('HttpClient exchange', () => {
  it('never follows a redirect: the 3xx comes back and the second server hears nothing', async () => {
    const second = await recordingServer(() => ({ status: 200, body: 'token=stolen' }));
    for (const status of [301, 302, 303, 307, 308]) {
      const first = await recordingServer(() => ({ status, headers: { location: `${second.url}/collect` } }));
      const response = await client().request({
        method: 'POST',
        url: `${first.url}/token`,
        form: { client_secret: 's3cr3t' },
        headers: { authorization: 'Basic czNjcjN0' },
      });
      expect(response.status).toBe(status);
      expect(response.headers.location).toBe(`${second.url}/collect`);
      expect(first.seen).toHaveLength(1);
    }
    expect(second.seen).toEqual([]);
  });

  it('returns error statuses as responses, with lower-case headers, text and JSON', async () => {
    const server = await recordingServer(() => ({
      status: 429,
      headers: { 'Content-Type': 'application/json', 'Retry-After': '7', 'X-Multi': ['a', 'b'] },
      body: '{"error":"slow_down"}',
    }));
    const response = await client().request({ method: 'GET', url: `${server.url}/x` });
    expect(response.status).toBe(429);
    expect(response.headers).toMatchObject({
      'content-type': 'application/json',
      'retry-after': '7',
      'x-multi': 'a, b',
    });
    expect(response.text).toBe('{"error":"slow_down"}');
    expect(response.json()).toEqual({ error: 'slow_down' });
    expect(response.retryAfterMs()).toBe(7_000);

    for (const status of [400, 401, 404, 500, 503]) {
      const failing = await recordingServer(() => ({ status, body: 'nope' }));
      expect((await client().request({ method: 'GET', url: failing.url })).status).toBe(status);
    }
  });

  it.each([
    [
      'form',
      { form: { grant_type: 'client_credentials', scope: 'a b' } },
      'application/x-www-form-urlencoded',
      'grant_type=client_credentials&scope=a+b',
    ],
    ['json', { json: { loginName: 'u' } }, 'application/json', '{"loginName":"u"}'],
    ['body', { body: 'raw', headers: { 'content-type': 'text/plain' } }, 'text/plain', 'raw'],
  ])(
    'sends a %s body with its content type, the user agent and the query string',
    async (_name, fields, type, body) => {
      const server = await recordingServer(() => ({ status: 204 }));
      await client().request({ method: 'PUT', url: `${server.url}/api/v1/auth/tokens?a=1&b=2`, ...fields });
      expect(server.seen).toEqual([
        expect.objectContaining({ method: 'PUT', url: '/api/v1/auth/tokens?a=1&b=2', body }) as unknown,
      ]);
      expect(server.seen[0]?.headers['content-type']).toBe(type);
      expect(server.seen[0]?.headers['user-agent']).toMatch(/^apicred-operator\/\d+\.\d+\.\d+/);
    },
  );

  it('reports status and host for every request of a provider-scoped client', async () => {
    const server = await recordingServer(() => ({ status: 401 }));
    const seen: unknown[] = [];
    const factory = new HttpClientFactory({
      proxy: 'none',
      onRequest: (provider, method, status, detail) =>
        seen.push({ provider, method, status, host: detail.host }),
    });
    try {
      await factory
        .forCa(undefined, { provider: 'tapdata' })
        .request({ method: 'POST', url: `${server.url}/oauth/token?q=secret` });
    } finally {
      await factory.close();
    }
    expect(seen).toEqual([
      { provider: 'tapdata', method: 'POST', status: 401, host: server.url.slice('http://'.length) },
    ]);
  });
});
