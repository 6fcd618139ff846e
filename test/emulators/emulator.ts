// The one HTTP server all vendor emulators share: lifecycle on 127.0.0.1, routing by `METHOD /path`,
// bounded body reading, the fault script, per-route counters and the redacted request log.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock, type Clock } from '../../src/policy/clock.ts';
import {
  cannedTruncatedReply,
  FaultScript,
  htmlReply,
  invalidJsonReply,
  statusFaultReply,
  type ScriptedFault,
} from './faults.ts';
import { empty, type EmulatorRequest, type Handler, type Reply } from './http.ts';
import { RequestLog, type LoggedRequest, type RedactionRules, type RequestOutcome } from './request-log.ts';

export interface EmulatorOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. A restart keeps the port. */
  port?: number;
  /** Drives every lifetime, `iat`/`exp` and expiry check. Default: the system clock. */
  clock?: Clock;
  /** Larger request bodies get 413. Default 1 MiB. */
  maxBodyBytes?: number;
}

class BodyTooLarge extends Error {}

export abstract class Emulator {
  readonly clock: Clock;
  /** Scripted misbehaviour per route, e.g. `faults.push('POST /oauth/token', { kind: 'reset' })`. */
  readonly faults = new FaultScript();
  #routes = new Map<string, Handler>();
  #counts = new Map<string, number>();
  #total = 0;
  #log: RequestLog;
  #server: Server | undefined;
  #port: number;
  #maxBody: number;
  #stopping = new AbortController();
  #prepared = false;
  #errors: string[] = [];

  protected constructor(options: EmulatorOptions, redaction: RedactionRules = {}) {
    this.clock = options.clock ?? systemClock;
    this.#port = options.port ?? 0;
    this.#maxBody = options.maxBodyBytes ?? 1024 * 1024;
    this.#log = new RequestLog(redaction);
  }

  /** Registers a handler for an exact method and path. */
  protected route(method: string, path: string, handler: Handler): void {
    this.#routes.set(`${method.toUpperCase()} ${path}`, handler);
  }

  /** Reply for a request no route matched. */
  protected notFound(_request: EmulatorRequest): Reply {
    return empty(404);
  }

  /** The vendor's 429 reply, used by `throttle()`. */
  protected throttleReply(): Reply {
    return empty(429);
  }

  /** Runs once before the first start (key generation and the like). */
  protected async prepare(): Promise<void> {}

  /** Runs between stop and start in `restart()` (new kid, new secret, ...). */
  protected async onRestart(): Promise<void> {}

  async start(): Promise<{ url: string }> {
    if (this.#server) return { url: this.url };
    if (!this.#prepared) {
      await this.prepare();
      this.#prepared = true;
    }
    this.#stopping = new AbortController();
    const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
      void this.#handle(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
    return { url: this.url };
  }

  /** Closes the listener and every connection, keep-alive ones included. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    this.#stopping.abort();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
      server.closeAllConnections();
    });
  }

  /** Stop, let the vendor change what a restart changes, start again on the same port. */
  async restart(): Promise<{ url: string }> {
    await this.stop();
    await this.onRestart();
    return this.start();
  }

  get url(): string {
    if (!this.#server) throw new Error('emulator is not started');
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Requests seen for a route such as `POST /oauth/token`, or all requests when no route is given. */
  count(route?: string): number {
    return route === undefined ? this.#total : (this.#counts.get(route) ?? 0);
  }

  /** The redacted request log, oldest first. */
  requests(): LoggedRequest[] {
    return this.#log.entries();
  }

  /** Forget counters and the request log (not the vendor state). */
  clearRequests(): void {
    this.#counts.clear();
    this.#total = 0;
    this.#log.clear();
  }

  /** Exceptions thrown by route handlers (answered with 500); a test can assert this stays empty. */
  serverErrors(): string[] {
    return [...this.#errors];
  }

  /** Queue `times` throttled replies in the vendor's 429 shape. */
  throttle(route: string, options: { times?: number; retryAfter?: number | Date } = {}): this {
    const reply = this.throttleReply();
    this.faults.push(route, {
      kind: 'status',
      status: 429,
      body: reply.body === '' ? undefined : reply.body,
      headers: { ...reply.headers },
      ...(options.retryAfter === undefined ? {} : { retryAfter: options.retryAfter }),
      ...(options.times === undefined ? {} : { times: options.times }),
    });
    return this;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    const route = `${method} ${url.pathname}`;
    this.#total += 1;
    this.#counts.set(route, (this.#counts.get(route) ?? 0) + 1);
    const base = { method, path: url.pathname, route, query: url.searchParams, headers: req.headers };
    let body: Buffer;
    try {
      body = await readBody(req, this.#maxBody);
    } catch (error) {
      if (!(error instanceof BodyTooLarge)) {
        res.destroy();
        return;
      }
      // Logged without the body: it was not read, and may hold anything.
      this.#log.record(this.clock.now(), { ...base, body: Buffer.alloc(0) })('rejected', 413);
      send(res, empty(413, { connection: 'close' }));
      return;
    }
    const request: EmulatorRequest = { ...base, body };
    const fault = this.faults.take(route);
    const done = this.#log.record(this.clock.now(), request, fault?.kind);
    try {
      const [outcome, status] = await this.#respond(request, fault, res);
      done(outcome, status);
    } catch (error) {
      if (this.#stopping.signal.aborted) {
        res.destroy();
        done('dropped');
        return;
      }
      this.#errors.push(
        `${route}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      if (!res.headersSent) send(res, empty(500));
      done('replied', 500);
    }
  }

  async #respond(
    request: EmulatorRequest,
    fault: ScriptedFault | undefined,
    res: ServerResponse,
  ): Promise<[RequestOutcome, number?]> {
    if (fault?.delayMs) await sleep(fault.delayMs, undefined, { signal: this.#stopping.signal });
    if (fault?.kind === 'delay') await sleep(fault.ms, undefined, { signal: this.#stopping.signal });
    switch (fault?.kind) {
      case undefined:
      case 'delay': {
        const reply = await this.#dispatch(request);
        send(res, reply);
        return ['replied', reply.status];
      }
      case 'status': {
        const reply = statusFaultReply(fault);
        send(res, reply);
        return ['replied', reply.status];
      }
      case 'reset':
        res.socket?.resetAndDestroy();
        return ['reset'];
      case 'commit-then-drop':
        await this.#dispatch(request);
        res.socket?.destroy();
        return ['dropped'];
      case 'invalid-json':
      case 'html': {
        if (fault.commit) await this.#dispatch(request);
        const reply = fault.kind === 'html' ? htmlReply(fault.status) : invalidJsonReply(fault.status);
        send(res, reply);
        return ['replied', reply.status];
      }
      case 'truncated': {
        const reply = fault.commit ? await this.#dispatch(request) : cannedTruncatedReply(fault.status);
        sendTruncated(
          res,
          fault.commit && fault.status !== undefined ? { ...reply, status: fault.status } : reply,
        );
        return ['truncated', fault.status ?? reply.status];
      }
    }
  }

  async #dispatch(request: EmulatorRequest): Promise<Reply> {
    const handler = this.#routes.get(request.route);
    return handler ? handler(request) : this.notFound(request);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, reply: Reply): void {
  const body = Buffer.from(reply.body ?? '');
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(body.length) });
  res.end(body);
}

/** Announces the whole body, sends half of it, then closes the connection. */
function sendTruncated(res: ServerResponse, reply: Reply): void {
  const body = Buffer.from(reply.body ?? '');
  const announced = Math.max(body.length, 2);
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(announced) });
  res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
    res.socket?.destroy();
  });
}
