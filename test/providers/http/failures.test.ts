// Transport failures against real sockets, and the line that matters for single-use tokens:
// did the request reach the provider (outcomeUnknown) or not.
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpClient, type ClosableHttpClient } from '../../../src/http/client.ts';
import type { HttpClientOptions } from '../../../src/http/client.ts';
import { ProviderError } from '../../../src/errors/failure.ts';
import { closeAll, closedPort, deferred, listen } from './support.ts';

const clients: ClosableHttpClient[] = [];
function client(options: HttpClientOptions = {}): ClosableHttpClient {
  const created = createHttpClient({ proxy: 'none', ...options });
  clients.push(created);
  return created;
}

afterEach(async () => {
  await closeAll();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** A TCP server that accepts connections and never says a word (a TLS handshake never completes). */
async function silentServer() {
  const accepted = deferred();
  const server = createNetServer((socket) => {
    socket.on('error', () => undefined);
    accepted.resolve();
  });
  const port = await listen(server);
  return { port, accepted: accepted.promise };
}

describe('before the request is sent: outcome known, retry is safe', () => {
  it('a refused connection is ProviderUnreachable', async () => {
    const port = await closedPort();
    const error = await rejection(
      client().request({ method: 'POST', url: `http://127.0.0.1:${port}/token?t=s3cr3t` }),
    );
    expect(error).toMatchObject({ kind: 'transient', reason: 'ProviderUnreachable', outcomeUnknown: false });
    expect((error as Error).message).toBe(
      `POST 127.0.0.1:${port}/token: could not reach 127.0.0.1:${port}: the connection was refused. The request was not sent.`,
    );
  });

  it('a name that does not resolve is ProviderUnreachable', async () => {
    const error = await rejection(client().request({ method: 'GET', url: 'http://no-such-host.invalid/x' }));
    expect(error).toMatchObject({ reason: 'ProviderUnreachable', outcomeUnknown: false });
    expect((error as Error).message).toContain('no-such-host.invalid');
  });

  it('a connect timeout (TLS handshake never answered) is ProviderUnreachable', async () => {
    const silent = await silentServer();
    const error = await rejection(
      client({ connectTimeoutMs: 200 }).request({
        method: 'POST',
        url: `https://127.0.0.1:${silent.port}/token`,
      }),
    );
    expect(error).toMatchObject({ kind: 'transient', reason: 'ProviderUnreachable', outcomeUnknown: false });
    expect((error as Error).message).toContain('no connection within 200 ms');
  });

  it('a reset during the TLS handshake is ProviderUnreachable', async () => {
    const server = createNetServer((socket) => socket.resetAndDestroy());
    const port = await listen(server);
    const error = await rejection(
      client().request({ method: 'POST', url: `https://127.0.0.1:${port}/token` }),
    );
    expect(error).toMatchObject({ reason: 'ProviderUnreachable', outcomeUnknown: false });
  });
});

describe('after the request is sent: the provider may have acted', () => {
  it('a reset after the server read the request is ConnectionReset, outcome unknown', async () => {
    const received = deferred<string>();
    const server = createHttpServer((req) => {
      received.resolve(req.url ?? '');
      req.socket.resetAndDestroy();
    });
    const port = await listen(server);
    const error = await rejection(
      client().request({ method: 'POST', url: `http://127.0.0.1:${port}/auth/refresh`, json: {} }),
    );
    expect(await received.promise).toBe('/auth/refresh');
    expect(ProviderError.is(error)).toBe(true);
    expect(error).toMatchObject({ kind: 'transient', reason: 'ConnectionReset', outcomeUnknown: true });
    expect((error as Error).message).toContain('the provider may have acted on it');
  });

  it('a connection closed mid-body is ConnectionReset, outcome unknown', async () => {
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"access_token":"');
      res.socket?.destroy();
    });
    const port = await listen(server);
    const error = await rejection(
      client().request({ method: 'POST', url: `http://127.0.0.1:${port}/token` }),
    );
    expect(error).toMatchObject({ reason: 'ConnectionReset', outcomeUnknown: true });
  });

  it('no answer within the total timeout is ProviderTimeout, outcome unknown', async () => {
    const received = deferred();
    const held: ServerResponse[] = [];
    const server = createHttpServer((_req, res) => {
      held.push(res); // never answered
      received.resolve();
    });
    const port = await listen(server);
    const error = await rejection(
      client({ timeoutMs: 60_000 }).request({
        method: 'POST',
        url: `http://127.0.0.1:${port}/token`,
        timeoutMs: 300,
      }),
    );
    await received.promise;
    expect(error).toMatchObject({ kind: 'transient', reason: 'ProviderTimeout', outcomeUnknown: true });
    expect((error as Error).message).toContain('no complete answer within 300 ms');
  });

  it('the total timeout also covers a body that trickles in', async () => {
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":'); // and nothing more
    });
    const port = await listen(server);
    const error = await rejection(
      client({ timeoutMs: 300 }).request({ method: 'GET', url: `http://127.0.0.1:${port}/` }),
    );
    expect(error).toMatchObject({ reason: 'ProviderTimeout', outcomeUnknown: true });
  });
});

describe('the caller’s signal', () => {
  it('rejects with the abort reason while the server holds the request', async () => {
    const received = deferred();
    const server = createHttpServer(() => {
      received.resolve();
    });
    const port = await listen(server);
    const controller = new AbortController();
    const pending = client().request({
      method: 'POST',
      url: `http://127.0.0.1:${port}/t`,
      signal: controller.signal,
    });
    await received.promise;
    const reason = new Error('reconcile deadline');
    controller.abort(reason);
    expect(await rejection(pending)).toBe(reason);
  });

  it('rejects at once while still connecting, long before the connect timeout', async () => {
    const silent = await silentServer();
    const controller = new AbortController();
    // A 10-minute connect timeout: only the abort can end this request within the test's time.
    const pending = client({ connectTimeoutMs: 600_000, timeoutMs: 600_000 }).request({
      method: 'POST',
      url: `https://127.0.0.1:${silent.port}/t`,
      signal: controller.signal,
    });
    await silent.accepted;
    const reason = new DOMException('deadline', 'TimeoutError');
    controller.abort(reason);
    expect(await rejection(pending)).toBe(reason);
  });
});

describe('response size cap', () => {
  it('refuses a 10 MB streamed body after about 1 MiB without reading the rest', async () => {
    const total = 10 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let written = 0;
    const closed = deferred<boolean>();
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no content-length to refuse early
      res.on('close', () => {
        closed.resolve(res.writableFinished);
      });
      const pump = (): void => {
        while (written < total && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        if (written >= total) res.end();
      };
      pump();
    });
    const port = await listen(server);
    const error = await rejection(client().request({ method: 'GET', url: `http://127.0.0.1:${port}/big` }));
    expect(error).toMatchObject({
      kind: 'transient',
      reason: 'ResponseTooLarge',
      httpStatus: 200,
      outcomeUnknown: true,
    });
    const read = Number(/stopped after reading (\d+) bytes/.exec((error as Error).message)?.[1]);
    expect(read).toBeGreaterThan(1024 * 1024);
    expect(read).toBeLessThanOrEqual(1024 * 1024 + chunk.length);
    // The client hung up: the server could not finish sending the 10 MB.
    expect(await closed.promise).toBe(false);
  });

  it('refuses at the headers when Content-Length already says too much', async () => {
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
      res.write('{');
    });
    const port = await listen(server);
    const error = await rejection(client().request({ method: 'GET', url: `http://127.0.0.1:${port}/big` }));
    expect(error).toMatchObject({ reason: 'ResponseTooLarge' });
    expect((error as Error).message).toContain('stopped after reading 0 bytes');
  });

  it('accepts a body exactly at the limit', async () => {
    const server = createHttpServer((_req, res) => res.end('x'.repeat(1000)));
    const port = await listen(server);
    const response = await client({ maxResponseBytes: 1000 }).request({
      method: 'GET',
      url: `http://127.0.0.1:${port}/`,
    });
    expect(response.text).toHaveLength(1000);
  });
});
