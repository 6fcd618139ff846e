// A plain HTTP forward proxy (absolute-form requests, as undici sends them for http:// targets through
// HTTP_PROXY). One per operator replica tells which replica called a provider, and when.
import { createServer, request as httpRequest, type Server } from 'node:http';
import { listenOnLoopback } from './ports.ts';

export interface ProxiedCall {
  /** Epoch ms when the request reached the proxy. */
  at: number;
  method: string;
  /** Path of the target URL, without the query. */
  path: string;
}

export class HttpForwardProxy {
  readonly name: string;
  readonly #calls: ProxiedCall[] = [];
  #server: Server | undefined;
  #port = 0;

  constructor(name: string) {
    this.name = name;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      let target: URL;
      try {
        target = new URL(req.url ?? '');
      } catch {
        res.writeHead(400).end('absolute-form request expected');
        return;
      }
      this.#calls.push({ at: Date.now(), method: req.method ?? 'GET', path: target.pathname });
      const upstream = httpRequest(
        target,
        { method: req.method, headers: { ...req.headers, host: target.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => {
        res.destroy();
      });
      req.pipe(upstream);
    });
    this.#port = await listenOnLoopback(server);
    this.#server = server;
    return this;
  }

  /** For the operator's HTTP_PROXY. */
  get url(): string {
    return `http://127.0.0.1:${String(this.#port)}`;
  }

  calls(): ProxiedCall[] {
    return [...this.#calls];
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
      server.closeAllConnections();
    });
  }
}
