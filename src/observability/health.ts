// /healthz, /readyz and /metrics on one small node:http server. The output format follows
// kube-apiserver's, so `kubectl get --raw`-style habits and probe debugging work the same way:
// "ok" when healthy; otherwise one "[-]name failed: reason" line per failing check, and with
// ?verbose every check as "[+]name ok" or "[-]name failed: reason".
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface CheckResult {
  /** Short, stable: "informers", "leader", "secrets-informer". */
  name: string;
  ok: boolean;
  /** Why it fails, for a person: "caches not synced", "not leader (standby)". */
  message?: string;
}

export type HealthResult = readonly CheckResult[];
export type HealthCheck = () => HealthResult | Promise<HealthResult>;

export interface HealthServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  metrics?: Registry;
  checks: { healthz: HealthCheck; readyz: HealthCheck };
  /** The command-line flag that sets the address, named when the address cannot be used. */
  flag?: string;
}

export interface HealthServer {
  /** http://host:port, with the port actually bound. */
  url: string;
  close(): Promise<void>;
}

const DEFAULT_FLAG = '--health-probe-bind-address';
const TEXT = 'text/plain; charset=utf-8';

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((request, response) => {
    handle(options, request, response).catch(() => {
      // A metrics collector threw, or the client went away mid-response.
      if (response.headersSent) response.destroy();
      else send(response, 500, 'internal error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(listenError(error, options));
    };
    server.once('error', onError);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', onError);
      // Later errors (EMFILE on accept) are transient; failing probes are the signal, not a crash.
      server.on('error', () => undefined);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
        // Probes and scrapers keep connections alive; do not wait for them to go away.
        server.closeAllConnections();
      }),
  };
}

async function handle(options: HealthServerOptions, request: IncomingMessage, response: ServerResponse) {
  const url = new URL(request.url ?? '/', 'http://localhost');
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    send(response, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    return;
  }
  if (url.pathname === '/metrics' && options.metrics !== undefined) {
    const body = await options.metrics.metrics();
    send(response, 200, body, { 'content-type': options.metrics.contentType });
    return;
  }
  const [, endpoint, only, extra] = url.pathname.split('/');
  if ((endpoint === 'healthz' || endpoint === 'readyz') && extra === undefined) {
    const results = await run(options.checks[endpoint]);
    const name = only ?? '';
    const selected = name === '' ? results : results.filter((r) => r.name === name);
    if (name !== '' && selected.length === 0) {
      send(response, 404, `no check named "${oneLine(name)}" in /${endpoint}\n`);
      return;
    }
    const [status, body] = report(endpoint, selected, url.searchParams.has('verbose'));
    send(response, status, body);
    return;
  }
  send(response, 404, 'not found\n');
}

async function run(check: HealthCheck): Promise<HealthResult> {
  try {
    return await check();
  } catch (error) {
    // A broken check must make the probe fail, not the server.
    return [
      {
        name: 'check',
        ok: false,
        message: `the check threw: ${error instanceof Error ? error.message : 'unknown'}`,
      },
    ];
  }
}

function report(endpoint: string, results: HealthResult, verbose: boolean): [number, string] {
  const healthy = results.every((r) => r.ok);
  if (healthy && !verbose) return [200, 'ok'];
  const lines = results
    .filter((r) => verbose || !r.ok)
    .map((r) =>
      r.ok
        ? `[+]${oneLine(r.name)} ok`
        : `[-]${oneLine(r.name)} failed: ${oneLine(r.message ?? 'no reason given')}`,
    );
  lines.push(`${endpoint} check ${healthy ? 'passed' : 'failed'}`);
  return [healthy ? 200 : 503, `${lines.join('\n')}\n`];
}

function send(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  response.writeHead(status, {
    'content-type': TEXT,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  response.end(body);
}

function listenError(error: NodeJS.ErrnoException, options: HealthServerOptions): Error {
  const address = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  const flag = options.flag ?? DEFAULT_FLAG;
  const why =
    error.code === 'EADDRINUSE'
      ? 'the address is already in use (another process, or a second copy of the operator, holds it)'
      : error.code === 'EACCES'
        ? 'permission denied (ports below 1024 need privileges)'
        : error.code === 'EADDRNOTAVAIL'
          ? 'no local interface has this address'
          : error.message;
  return new Error(
    `cannot serve health and metrics on ${address}: ${why}; choose another address with ${flag}`,
    {
      cause: error,
    },
  );
}

function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}
