// A TCP proxy between the operator and the kube-apiserver, to make its network misbehave on demand:
// cut every connection, add latency to each chunk, throttle bandwidth, or partition it entirely.
// TLS passes through untouched (the apiserver certificate names 127.0.0.1, whatever the port).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { listenOnLoopback } from './ports.ts';

export type PartitionMode =
  /** Connections are accepted and reset at once: "connection refused" quickly. */
  | 'reset'
  /** Connections are accepted and silently dropped: every request hangs, as behind a dead link. */
  | 'blackhole';

export interface TcpProxyOptions {
  targetHost: string;
  targetPort: number;
}

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
}

export class TcpProxy {
  /** Added to every chunk, in both directions. */
  latencyMs = 0;
  /** Per connection and direction; undefined means unlimited. */
  bytesPerSecond: number | undefined;
  readonly #options: TcpProxyOptions;
  readonly #pairs = new Set<Pair>();
  #server: Server | undefined;
  #partition: PartitionMode | undefined;
  #port = 0;
  #cuts = 0;
  #accepted = 0;

  constructor(options: TcpProxyOptions) {
    this.#options = options;
  }

  static forUrl(url: string): TcpProxy {
    const parsed = new URL(url);
    return new TcpProxy({ targetHost: parsed.hostname, targetPort: Number(parsed.port) });
  }

  async start(): Promise<this> {
    const server = createServer((client) => {
      this.#accept(client);
    });
    this.#port = await listenOnLoopback(server);
    this.#server = server;
    return this;
  }

  /** https://127.0.0.1:<port>: put this in the operator's kubeconfig instead of the apiserver's URL. */
  get url(): string {
    return `https://127.0.0.1:${String(this.#port)}`;
  }

  get openConnections(): number {
    return this.#pairs.size;
  }

  /** Connections destroyed by cutAll() or a partition so far. */
  get cuts(): number {
    return this.#cuts;
  }

  get accepted(): number {
    return this.#accepted;
  }

  /** Destroys every open connection (watches included); returns how many. */
  cutAll(): number {
    const count = this.#pairs.size;
    for (const pair of this.#pairs) this.#destroy(pair);
    this.#cuts += count;
    return count;
  }

  /** From now on no byte gets through; existing connections are cut (reset) or frozen (blackhole). */
  partition(mode: PartitionMode): void {
    this.#partition = mode;
    if (mode === 'reset') this.cutAll();
  }

  /** Lets traffic through again; connections frozen by a blackhole are cut, as a real timeout would. */
  heal(): void {
    if (this.#partition === 'blackhole') this.cutAll();
    this.#partition = undefined;
  }

  get partitioned(): boolean {
    return this.#partition !== undefined;
  }

  async stop(): Promise<void> {
    this.cutAll();
    const server = this.#server;
    this.#server = undefined;
    if (server)
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
  }

  #accept(client: Socket): void {
    this.#accepted += 1;
    const pair: Pair = { client, upstream: undefined };
    this.#pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      this.#destroy(pair);
    });
    if (this.#partition === 'reset') {
      this.#cuts += 1;
      this.#destroy(pair);
      return;
    }
    const upstream = connect(this.#options.targetPort, this.#options.targetHost);
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('close', () => {
      this.#destroy(pair);
    });
    this.#pipe(client, upstream);
    this.#pipe(upstream, client);
  }

  /** Forwards chunk by chunk, in order, each after the configured latency and bandwidth delay. */
  #pipe(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.#partition === 'blackhole') return; // dropped on the floor
      const delay =
        this.latencyMs +
        (this.bytesPerSecond === undefined ? 0 : (chunk.length * 1000) / this.bytesPerSecond);
      if (delay <= 0) {
        to.write(chunk);
        return;
      }
      from.pause();
      setTimeout(() => {
        if (!to.destroyed && this.#partition !== 'blackhole') to.write(chunk);
        from.resume();
      }, delay).unref();
    });
  }

  #destroy(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}
