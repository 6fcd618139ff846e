import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../policy/clock.ts';
import { LeaderElector } from './leader-election.ts';

/** A Lease API that answers until `silent`, then swallows every request: a link that drops all packets. */
class LeaseApi {
  silent = false;
  #lease: Record<string, unknown> | undefined;
  #version = 0;
  #server: Server | undefined;
  readonly #hanging = new Set<ServerResponse>();

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      void this.#handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  }

  async stop(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    const server = this.#server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.silent) {
      this.#hanging.add(res);
      return;
    }
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method === 'GET') {
      if (this.#lease) reply(200, this.#lease);
      else reply(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { metadata?: object; spec?: object };
    this.#version += 1;
    this.#lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...body.metadata, name: 'lease', namespace: 'ns', resourceVersion: String(this.#version) },
      spec: body.spec,
    };
    reply(req.method === 'POST' ? 201 : 200, this.#lease);
  }
}

function kubeConfigFor(server: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'test', server, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'not-a-secret' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return config;
}

let api: LeaseApi | undefined;
afterEach(async () => {
  await api?.stop();
});

describe('LeaderElector', () => {
  it('steps down within the renew deadline when its renewal hangs (a partition that drops packets)', async () => {
    api = new LeaseApi();
    const server = await api.start();
    let started!: () => void;
    let stopped!: () => void;
    const leading = new Promise<void>((resolve) => (started = resolve));
    const deposed = new Promise<void>((resolve) => (stopped = resolve));
    const elector = new LeaderElector({
      kubeConfig: kubeConfigFor(server),
      namespace: 'ns',
      name: 'lease',
      identity: 'replica-a',
      clock: systemClock,
      leaseDurationMs: 1_500,
      renewDeadlineMs: 1_000,
      retryPeriodMs: 200,
      onStartedLeading: () => {
        started();
      },
      onStoppedLeading: () => {
        stopped();
      },
    });
    void elector.run();
    await leading;
    const silencedAt = Date.now();
    api.silent = true;
    await deposed;
    // Before the lease (1.5 s) can pass on the other replicas' clocks.
    expect(Date.now() - silencedAt).toBeLessThan(1_500);
    expect(elector.isLeader).toBe(false);
    await elector.release();
  });
});
