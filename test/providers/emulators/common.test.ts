// The shared emulator machinery: lifecycle, counters, fault kinds, body limit and the redacted log.
import { request as httpRequest, Agent } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/policy/clock.ts';
import {
  Emulator,
  findPlantedSecrets,
  json,
  REDACTED,
  type EmulatorOptions,
  type EmulatorRequest,
} from '../../emulators/common.ts';
import { fetchError, http, postJson } from './http.ts';

/** Counts operations it performs, so a test can tell a committed request from one never run. */
class CounterEmulator extends Emulator {
  committed = 0;
  constructor(options: EmulatorOptions = {}) {
    super(options);
    this.route('POST', '/op', () => {
      this.committed += 1;
      return json(200, { committed: this.committed, padding: 'x'.repeat(64) });
    });
    this.route('GET', '/echo', (request: EmulatorRequest) => json(200, { q: request.query.get('q') }));
  }
}

let emulator: CounterEmulator;
let url: string;

beforeEach(async () => {
  emulator = new CounterEmulator({ clock: new ManualClock() });
  ({ url } = await emulator.start());
});

afterEach(async () => {
  await emulator.stop();
});

describe('lifecycle and counters', () => {
  it('listens on 127.0.0.1, counts per route and in total, answers 404 for unknown routes', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await postJson(`${url}/op`, {});
    await postJson(`${url}/op`, {});
    expect((await http(`${url}/nope`)).status).toBe(404);
    expect(emulator.count('POST /op')).toBe(2);
    expect(emulator.count('GET /nope')).toBe(1);
    expect(emulator.count()).toBe(3);
    emulator.clearRequests();
    expect(emulator.count()).toBe(0);
    expect(emulator.requests()).toEqual([]);
  });

  it('restarts on the same port', async () => {
    const { url: again } = await emulator.restart();
    expect(again).toBe(url);
    expect((await postJson(`${again}/op`, {})).status).toBe(200);
  });

  it('stop closes idle keep-alive connections too', async () => {
    const agent = new Agent({ keepAlive: true });
    // Wrapped in an object: resolving with a bare promise would wait for it.
    const { closed } = await new Promise<{ closed: Promise<void> }>((resolve, reject) => {
      const req = httpRequest(`${url}/echo`, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const socket = req.socket;
          if (!socket) throw new Error('no socket');
          resolve({
            closed: new Promise<void>((done) => {
              socket.once('close', () => {
                done();
              });
            }),
          });
        });
      });
      req.on('error', reject);
      req.end();
    });
    let isClosed = false;
    void closed.then(() => (isClosed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(isClosed).toBe(false);
    await emulator.stop();
    await closed;
    agent.destroy();
  });

  it('refuses bodies over the size limit with 413', async () => {
    const small = new CounterEmulator({ maxBodyBytes: 16 });
    const { url: smallUrl } = await small.start();
    try {
      expect((await postJson(`${smallUrl}/op`, { big: 'y'.repeat(100) })).status).toBe(413);
      expect(small.committed).toBe(0);
      expect(small.requests()).toMatchObject([{ route: 'POST /op', status: 413, outcome: 'rejected' }]);
    } finally {
      await small.stop();
    }
  });
});

describe('fault script', () => {
  it('answers scripted statuses in order, for `times` requests, with Retry-After in both forms', async () => {
    const date = new Date(Date.UTC(2026, 0, 1, 0, 1, 0));
    emulator.faults
      .push('POST /op', { kind: 'status', status: 429, retryAfter: 7, body: { error: 'slow down' } })
      .push('POST /op', { kind: 'status', status: 503, retryAfter: date, times: 2 })
      .push('POST /op', { kind: 'status', status: 500, body: 'plain failure' });
    const first = await postJson(`${url}/op`, {});
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('7');
    expect(first.body).toEqual({ error: 'slow down' });
    for (let i = 0; i < 2; i += 1) {
      const next = await postJson(`${url}/op`, {});
      expect(next.status).toBe(503);
      expect(next.headers.get('retry-after')).toBe('Thu, 01 Jan 2026 00:01:00 GMT');
    }
    const last = await postJson(`${url}/op`, {});
    expect([last.status, last.text, last.headers.get('content-type')]).toEqual([
      500,
      'plain failure',
      'text/plain; charset=utf-8',
    ]);
    expect((await postJson(`${url}/op`, {})).status).toBe(200);
    expect(emulator.committed).toBe(1);
    expect(emulator.faults.pending()).toBe(0);
  });

  it('applies `*` faults to any route once the route queue is empty', async () => {
    emulator.faults.push('*', { kind: 'status', status: 502 });
    expect((await http(`${url}/echo`)).status).toBe(502);
    expect((await http(`${url}/echo`)).status).toBe(200);
  });

  it('delay holds the request, then answers normally', async () => {
    emulator.faults.push('POST /op', { kind: 'delay', ms: 60 });
    const started = performance.now();
    const result = await postJson(`${url}/op`, {});
    expect(result.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
    expect(emulator.requests()[0]?.fault).toBe('delay');
  });

  it('invalid-json sends a JSON content type with an unparseable body', async () => {
    emulator.faults.push('POST /op', { kind: 'invalid-json' });
    const result = await postJson(`${url}/op`, {});
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toBe('application/json');
    expect(() => JSON.parse(result.text) as unknown).toThrow();
    expect(emulator.committed).toBe(0);
  });

  it('html sends a proxy error page; with commit the operation still happened', async () => {
    emulator.faults.push('POST /op', { kind: 'html', status: 502, commit: true });
    const result = await postJson(`${url}/op`, {});
    expect(result.status).toBe(502);
    expect(result.headers.get('content-type')).toBe('text/html');
    expect(result.text).toContain('<h1>502 Bad Gateway</h1>');
    expect(emulator.committed).toBe(1);
  });

  it('truncated announces more bytes than it sends, then closes', async () => {
    emulator.faults.push('POST /op', { kind: 'truncated' });
    const response = await fetch(`${url}/op`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await fetchError(response.text())).toBeInstanceOf(Error);
    expect(emulator.committed).toBe(0);
    expect(emulator.requests()[0]).toMatchObject({ fault: 'truncated', outcome: 'truncated' });
  });

  it('truncated with commit cuts the real reply short after performing the operation', async () => {
    emulator.faults.push('POST /op', { kind: 'truncated', commit: true });
    const response = await fetch(`${url}/op`, { method: 'POST' });
    expect(await fetchError(response.text())).toBeInstanceOf(Error);
    expect(emulator.committed).toBe(1);
  });

  it('reset drops the connection before anything runs', async () => {
    emulator.faults.push('POST /op', { kind: 'reset' });
    expect(await fetchError(postJson(`${url}/op`, {}))).toBeInstanceOf(Error);
    expect(emulator.committed).toBe(0);
    expect(emulator.requests()[0]).toMatchObject({ fault: 'reset', outcome: 'reset' });
    expect((await postJson(`${url}/op`, {})).body).toMatchObject({ committed: 1 });
  });

  it('commit-then-drop performs the operation and never answers', async () => {
    emulator.faults.push('POST /op', { kind: 'commit-then-drop' });
    expect(await fetchError(postJson(`${url}/op`, {}))).toBeInstanceOf(Error);
    expect(emulator.committed).toBe(1);
    expect(emulator.requests()[0]).toMatchObject({ fault: 'commit-then-drop', outcome: 'dropped' });
    expect(emulator.requests()[0]?.status).toBeUndefined();
  });

  it('throttle queues the vendor 429, here the default empty one', async () => {
    emulator.throttle('POST /op', { times: 2, retryAfter: 3 });
    expect((await postJson(`${url}/op`, {})).status).toBe(429);
    const second = await postJson(`${url}/op`, {});
    expect([second.status, second.headers.get('retry-after')]).toEqual([429, '3']);
    expect((await postJson(`${url}/op`, {})).status).toBe(200);
  });
});

describe('request log', () => {
  it('records method, route, clock time and status, and redacts credentials everywhere', async () => {
    const planted = [
      'pl4nted-pass',
      'pl4nted-client-secret',
      'pl4nted-refresh',
      'pl4nted-bearer',
      'pl4nted-space-key',
      'pl4nted-query-token',
    ];
    await postJson(
      `${url}/op?access_token=${planted[5]}&page=2`,
      {
        userName: 'alice',
        password: planted[0],
        nested: { client_secret: planted[1], refresh_token: planted[2] },
      },
      {
        authorization: `Bearer ${planted[3]}`,
        'x-space-auth-key': `Basic ${Buffer.from(`id:${planted[4]}`).toString('base64')}`,
        'access-token': 'pl4nted-cloud-token',
      },
    );
    await http(`${url}/op`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'c1', client_secret: planted[1] ?? '' }),
    });
    await http(`${url}/op`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: `password=${planted[0]}`,
    });

    const log = emulator.requests();
    expect(log).toHaveLength(3);
    expect(log[0]).toMatchObject({
      seq: 1,
      at: Date.UTC(2026, 0, 1),
      method: 'POST',
      route: 'POST /op',
      status: 200,
      outcome: 'replied',
      query: { access_token: REDACTED, page: '2' },
      body: {
        userName: 'alice',
        password: REDACTED,
        nested: { client_secret: REDACTED, refresh_token: REDACTED },
      },
    });
    expect(log[0]?.headers).toMatchObject({
      authorization: `Bearer ${REDACTED}`,
      'x-space-auth-key': `Basic ${REDACTED}`,
      'access-token': REDACTED,
    });
    expect(log[1]?.body).toEqual({ client_id: 'c1', client_secret: REDACTED });
    expect(log[2]?.body).toMatch(/not logged/);
    const text = JSON.stringify(log);
    expect(findPlantedSecrets(text, [...planted, 'pl4nted-cloud-token'])).toEqual([]);
  });

  it('findPlantedSecrets sees raw, URL-encoded, JSON-escaped and base64 forms', () => {
    const secret = 'a+b/c"d';
    expect(findPlantedSecrets(`x ${secret} y`, [secret])).toEqual([secret]);
    expect(findPlantedSecrets(encodeURIComponent(secret), [secret])).toEqual([secret]);
    expect(findPlantedSecrets(JSON.stringify({ s: secret }), [secret])).toEqual([secret]);
    expect(findPlantedSecrets(Buffer.from(secret).toString('base64'), [secret])).toEqual([secret]);
    expect(findPlantedSecrets('nothing here', [secret])).toEqual([]);
  });
});
